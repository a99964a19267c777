//go:build !linux

package main

import (
	"os/exec"
	"syscall"
)

// The benchmark runs on Linux (the dev cluster, /proc); elsewhere children
// are only stopped by a clean exit.
func dieWithParent(*exec.Cmd) {}

func setsidAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

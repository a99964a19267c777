//go:build !linux && !darwin

package proc

func zombie(int) bool { return false }

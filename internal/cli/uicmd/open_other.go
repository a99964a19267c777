//go:build !linux && !darwin

package uicmd

func opener(string) (string, []string) { return "", nil }

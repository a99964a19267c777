package proc

import (
	"bytes"
	"os"
	"strconv"
)

// zombie reads the state field of /proc/PID/stat: Z (zombie) or X (dead)
// mean the process has exited.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false // cannot tell: kill(2) said it exists
	}
	// "pid (comm) S ...": comm may contain spaces and parentheses, the
	// state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	switch b[i+2] {
	case 'Z', 'X', 'x':
		return true
	}
	return false
}

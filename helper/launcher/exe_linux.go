package launcher

import "os"

// selfExec runs sessions from /proc/self/exe: in the forked child that is
// the very file the kernel runs the launcher from, even after the installed
// path was replaced or removed, so nothing put at that path after start
// ever runs as root through us. The path is only shown as argv[0].
func selfExec() (execPath, error) {
	name, err := os.Executable()
	if err != nil {
		name = "kftray-helper"
	}
	return execPath{path: "/proc/self/exe", argv0: name}, nil
}

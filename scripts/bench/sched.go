package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// schedStat sums /proc/PID/task/*/schedstat over a process's threads: time
// on a CPU, time runnable but waiting on a run queue, and the number of
// times a thread was put on a CPU (timeslices). Wait and slices tell how
// the scheduler treats a forwarder beyond its CPU time.
type schedStat struct {
	run, wait time.Duration
	slices    int64
}

func readSchedStat(pid int) schedStat {
	var s schedStat
	if pid == 0 {
		return s
	}
	dirs, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/schedstat")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) < 3 {
			continue
		}
		run, _ := strconv.ParseInt(f[0], 10, 64)
		wait, _ := strconv.ParseInt(f[1], 10, 64)
		n, _ := strconv.ParseInt(f[2], 10, 64)
		s.run += time.Duration(run)
		s.wait += time.Duration(wait)
		s.slices += n
	}
	return s
}

func (s schedStat) sub(o schedStat) schedStat {
	return schedStat{run: s.run - o.run, wait: s.wait - o.wait, slices: s.slices - o.slices}
}

// Package procs starts the servers under test (ours and Python's, each on a
// fresh database and a free port) and reads what a process tree costs: the
// summed RSS and CPU time of a process and all its descendants, from /proc.
package procs

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, which is 100 on every Linux this runs on.
const clockTicks = 100

// Usage is a snapshot of a process tree.
type Usage struct {
	Procs    int
	RSSBytes int64   // summed VmRSS
	HWMBytes int64   // summed VmHWM (each process's own peak)
	CPUSecs  float64 // summed utime+stime of the live processes
}

// TreeUsage sums the usage of root and every live descendant. The Python
// server is a tree: `prefect server start` runs uvicorn and its services as
// child processes, and all of them are the server's footprint.
func TreeUsage(root int) Usage {
	var u Usage
	for _, pid := range descendants(root) {
		rss, hwm, ok := memory(pid)
		if !ok {
			continue
		}
		u.Procs++
		u.RSSBytes += rss
		u.HWMBytes += hwm
		u.CPUSecs += cpuSeconds(pid)
	}
	return u
}

// descendants returns root and the pids whose parent chain reaches it.
func descendants(root int) []int {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parent(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// statFields returns the fields of /proc/<pid>/stat after the command name,
// which may itself hold spaces and parentheses; fields[0] is the state (field 3).
func statFields(pid int) []string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

func parent(pid int) (int, bool) {
	f := statFields(pid)
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

func cpuSeconds(pid int) float64 {
	f := statFields(pid)
	if len(f) < 13 { // utime is field 14, stime 15
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

func memory(pid int) (rss, hwm int64, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, found := strings.Cut(line, ":")
		if !found {
			continue
		}
		switch k {
		case "VmRSS":
			rss = kib(v)
		case "VmHWM":
			hwm = kib(v)
		}
	}
	return rss, hwm, true
}

func kib(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	return n * 1024
}

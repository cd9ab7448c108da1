// Package procs runs the service binaries as child processes for the
// benchmarks (through platform/procgroup), waits for their HTTP endpoints
// and reads their memory and CPU use from /proc.
package procs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/dev/launch"
	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// Proc is a process under a benchmark: a procgroup.Process (own process
// group, killed if the parent dies, graceful Stop) whose memory and CPU
// use are read from /proc.
type Proc struct {
	*procgroup.Process
}

// Start starts the process of s through procgroup (see procgroup.Start:
// when ctx ends, its group is killed).
func Start(ctx context.Context, s procgroup.Spec) (*Proc, error) {
	p, err := procgroup.Start(ctx, s)
	if err != nil {
		return nil, err
	}
	return &Proc{p}, nil
}

// WaitHTTP waits until url answers 200 (dev/launch's HTTPOK), the
// process exits, or timeout passes; its error carries the end of the
// process's log.
func (p *Proc) WaitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	if err := p.WaitReady(ctx, timeout, launch.HTTPOK(url)); err != nil {
		return fmt.Errorf("%w; log tail:\n%s", err, p.LogTail(logTailBytes))
	}
	return nil
}

// logTailBytes is how much of a process's log an error of WaitHTTP carries.
const logTailBytes = 2 << 10

// PeakRSS is the process's peak resident set size (VmHWM) in bytes.
func (p *Proc) PeakRSS() (int64, error) { return StatusBytes(p.PID(), "VmHWM") }

// RSS is the process's current resident set size (VmRSS) in bytes.
func (p *Proc) RSS() (int64, error) { return StatusBytes(p.PID(), "VmRSS") }

// CPUSeconds is the user+system CPU time the process has used so far,
// including its children that it has waited for (/proc/PID/stat utime,
// stime, cutime, cstime; USER_HZ is 100 on Linux).
func (p *Proc) CPUSeconds() (float64, error) { return CPUSeconds(p.PID()) }

// CPUSeconds reads the CPU time of pid; see [Proc.CPUSeconds].
func CPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	return StatCPUSeconds(b)
}

// StatCPUSeconds parses utime+stime+cutime+cstime out of /proc/PID/stat
// content, in seconds.
func StatCPUSeconds(stat []byte) (float64, error) {
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime..cstime are fields 14..17.
	if len(f) < 15 {
		return 0, fmt.Errorf("stat: %d fields", len(f)+2)
	}
	var ticks int64
	for _, s := range f[11:15] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		ticks += n
	}
	return float64(ticks) / 100, nil
}

// StatusBytes reads a "kB" field (VmHWM, VmRSS, …) of /proc/PID/status.
func StatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	kib, err := StatusKiB(b, field)
	if err != nil {
		return 0, fmt.Errorf("pid %d: %w", pid, err)
	}
	return kib << 10, nil
}

// StatusKiB parses field (e.g. "VmHWM") out of /proc/PID/status content.
func StatusKiB(status []byte, field string) (int64, error) {
	for _, line := range bytes.Split(status, []byte("\n")) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok || string(name) != field {
			continue
		}
		var n int64
		var unit string
		if _, err := fmt.Sscan(string(rest), &n, &unit); err != nil || unit != "kB" {
			return 0, fmt.Errorf("%s: cannot parse %q", field, strings.TrimSpace(string(rest)))
		}
		return n, nil
	}
	return 0, fmt.Errorf("%s not in status", field)
}

// SystemCPU is the machine's CPU time so far, over every core: busy
// (user, nice, system, irq, softirq, steal) and total (busy + idle +
// iowait), in seconds (/proc/stat, USER_HZ 100). The difference of two
// readings says how busy the machine was in between, whoever used it.
func SystemCPU() (busy, total float64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("read /proc/stat: %w", err)
	}
	return ParseSystemCPU(b)
}

// ParseSystemCPU reads the "cpu" line of /proc/stat content; see
// [SystemCPU].
func ParseSystemCPU(stat []byte) (busy, total float64, err error) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: no cpu line in %q", line)
	}
	var v [8]float64 // user nice system idle iowait irq softirq steal
	for i := range v {
		n, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
		v[i] = float64(n) / 100
	}
	busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	return busy, busy + v[3] + v[4], nil
}

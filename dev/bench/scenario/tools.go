package scenario

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// toolRun is one ffmpeg or ffprobe process a worker ran.
type toolRun struct {
	Stage, Tool string
	Start, End  time.Time
	Exit        int
	// PeakKiB is the process's maximum RSS (GNU time's %M), 0 if unknown.
	PeakKiB int64
	// CPU is the process's user + system CPU seconds (GNU time's %U, %S),
	// 0 if unknown.
	CPU float64
}

// toolWrappers writes, for each stage, wrapper scripts for ffmpeg and
// ffprobe into dir/STAGE/ that run the real tool and append one line per
// run to dir/tools.log: stage, tool, start and end (Unix seconds with
// microseconds, bash's EPOCHREALTIME, no fork), exit status and peak RSS
// in KiB and user and system CPU seconds (through /usr/bin/time when
// present; else 0). It returns stage → tool →
// wrapper path.
func toolWrappers(dir string, stages ...string) (map[string]map[string]string, error) {
	gnuTime := "/usr/bin/time"
	if _, err := os.Stat(gnuTime); err != nil {
		gnuTime = ""
	}
	out := map[string]map[string]string{}
	for _, st := range stages {
		out[st] = map[string]string{}
		if err := os.MkdirAll(filepath.Join(dir, st), 0o755); err != nil {
			return nil, err
		}
		for _, tool := range []string{"ffmpeg", "ffprobe"} {
			real, err := exec.LookPath(tool)
			if err != nil {
				return nil, fmt.Errorf("%s not found (install it with `make deps`): %w", tool, err)
			}
			logPath := filepath.Join(dir, "tools.log")
			rss := filepath.Join(dir, st, tool+".rss.")
			run := fmt.Sprintf("%q \"$@\"", real)
			if gnuTime != "" {
				run = fmt.Sprintf("%s -o %q$$ -f '%%M %%U %%S' %q \"$@\"", gnuTime, rss, real)
			}
			script := fmt.Sprintf(`#!/bin/bash
# Benchmark wrapper written by vidpipe-bench: times %[2]s for the %[1]s stage.
s=$EPOCHREALTIME
%[3]s
rc=$?
e=$EPOCHREALTIME
m="0 0 0"
if [ -f %[4]q$$ ]; then while read -r l; do m=$l; done < %[4]q$$; rm -f %[4]q$$; fi
echo "%[1]s %[2]s $s $e $rc $m" >> %[5]q
exit $rc
`, st, tool, run, rss, logPath)
			path := filepath.Join(dir, st, tool)
			if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
				return nil, err
			}
			out[st][tool] = path
		}
	}
	return out, nil
}

// readToolRuns parses the wrappers' log; a missing log is no runs.
func readToolRuns(path string) ([]toolRun, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var runs []toolRun
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		r, err := parseToolRun(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		runs = append(runs, r)
	}
	return runs, sc.Err()
}

func parseToolRun(line string) (toolRun, error) {
	f := strings.Fields(line)
	if len(f) != 6 && len(f) != 8 { // 6: written before the CPU times were
		return toolRun{}, fmt.Errorf("bad tool line %q", line)
	}
	start, err1 := epoch(f[2])
	end, err2 := epoch(f[3])
	exit, err3 := strconv.Atoi(f[4])
	peak, err4 := strconv.ParseInt(f[5], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return toolRun{}, fmt.Errorf("bad tool line %q", line)
	}
	r := toolRun{Stage: f[0], Tool: f[1], Start: start, End: end, Exit: exit, PeakKiB: peak}
	if len(f) == 8 {
		user, err1 := strconv.ParseFloat(f[6], 64)
		sys, err2 := strconv.ParseFloat(f[7], 64)
		if err1 != nil || err2 != nil {
			return toolRun{}, fmt.Errorf("bad tool line %q", line)
		}
		r.CPU = user + sys
	}
	return r, nil
}

// epoch parses EPOCHREALTIME ("1700000000.123456", with a comma in some
// locales).
func epoch(s string) (time.Time, error) {
	v, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	if err != nil {
		return time.Time{}, err
	}
	sec := int64(v)
	return time.Unix(sec, int64((v-float64(sec))*1e9)), nil
}

// busy is the total time covered by the runs that match keep, clipped to
// [from, to], counting overlaps once.
func busy(runs []toolRun, from, to time.Time, keep func(toolRun) bool) time.Duration {
	type span struct{ a, b time.Time }
	var spans []span
	for _, r := range runs {
		if !keep(r) {
			continue
		}
		a, b := r.Start, r.End
		if a.Before(from) {
			a = from
		}
		if b.After(to) {
			b = to
		}
		if b.After(a) {
			spans = append(spans, span{a, b})
		}
	}
	slices.SortFunc(spans, func(x, y span) int { return x.a.Compare(y.a) })
	var total time.Duration
	var cur span
	for i, s := range spans {
		switch {
		case i == 0:
			cur = s
		case !s.a.After(cur.b):
			if s.b.After(cur.b) {
				cur.b = s.b
			}
		default:
			total += cur.b.Sub(cur.a)
			cur = s
		}
	}
	if len(spans) > 0 {
		total += cur.b.Sub(cur.a)
	}
	return total
}

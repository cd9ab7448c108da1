package scenario

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestBusy(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	runs := []toolRun{
		{Stage: "transcode", Tool: "ffprobe", Start: at(0), End: at(1)},
		{Stage: "transcode", Tool: "ffmpeg", Start: at(2), End: at(5)},
		{Stage: "thumbnail", Tool: "ffmpeg", Start: at(4), End: at(6)}, // overlaps the one before
		{Stage: "thumbnail", Tool: "ffmpeg", Start: at(8), End: at(12)},
	}
	all := func(toolRun) bool { return true }
	tests := map[string]struct {
		from, to float64
		keep     func(toolRun) bool
		want     float64
	}{
		"union counts overlap once": {0, 20, all, 1 + 4 + 4},
		"clipped to the window":     {0.5, 10, all, 0.5 + 4 + 2},
		"ffmpeg only":               {0, 20, func(r toolRun) bool { return r.Tool == "ffmpeg" }, 4 + 4},
		"one stage":                 {0, 20, func(r toolRun) bool { return r.Stage == "thumbnail" }, 2 + 4},
		"nothing in window":         {13, 20, all, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := busy(runs, at(tc.from), at(tc.to), tc.keep).Seconds()
			if got < tc.want-1e-9 || got > tc.want+1e-9 {
				t.Fatalf("busy = %v s, want %v s", got, tc.want)
			}
		})
	}
}

func TestParseToolRun(t *testing.T) {
	tests := map[string]struct {
		line    string
		wantErr bool
		want    toolRun
	}{
		"dot":        {line: "transcode ffmpeg 1700000000.250000 1700000002.750000 0 51234", want: toolRun{Stage: "transcode", Tool: "ffmpeg", Exit: 0, PeakKiB: 51234}},
		"comma":      {line: "thumbnail ffprobe 1700000000,250000 1700000002,750000 1 0", want: toolRun{Stage: "thumbnail", Tool: "ffprobe", Exit: 1}},
		"cpu":        {line: "transcode ffmpeg 1700000000.250000 1700000002.750000 0 51234 1.50 0.25", want: toolRun{Stage: "transcode", Tool: "ffmpeg", PeakKiB: 51234, CPU: 1.75}},
		"short line": {line: "transcode ffmpeg 1", wantErr: true},
		"garbage":    {line: "a b c d e f", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseToolRun(tc.line)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if got.Stage != tc.want.Stage || got.Tool != tc.want.Tool || got.Exit != tc.want.Exit || got.PeakKiB != tc.want.PeakKiB || got.CPU != tc.want.CPU {
				t.Fatalf("got %+v", got)
			}
			if d := got.End.Sub(got.Start); d < 2499*time.Millisecond || d > 2501*time.Millisecond {
				t.Fatalf("duration %v, want 2.5s", d)
			}
		})
	}
}

// TestToolWrappers runs a generated wrapper and reads its log line back.
func TestToolWrappers(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Fatalf("ffprobe not found: install ffmpeg (make deps): %v", err)
	}
	dir := t.TempDir()
	w, err := toolWrappers(dir, "thumbnail")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(w["thumbnail"]["ffprobe"], "-hide_banner", "-version").CombinedOutput()
	if err != nil {
		t.Fatalf("wrapper: %v\n%s", err, out)
	}
	missing := exec.Command(w["thumbnail"]["ffprobe"], filepath.Join(dir, "missing.mp4"))
	if err := missing.Run(); err == nil {
		t.Fatal("wrapper hid ffprobe's failure")
	}
	runs, err := readToolRuns(filepath.Join(dir, "tools.log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].Exit != 0 || runs[1].Exit == 0 || runs[0].Tool != "ffprobe" || runs[0].Stage != "thumbnail" {
		t.Fatalf("runs = %+v", runs)
	}
	if !runs[0].End.After(runs[0].Start) {
		t.Fatalf("end %v not after start %v", runs[0].End, runs[0].Start)
	}
	if _, err := os.Stat("/usr/bin/time"); err == nil && runs[0].PeakKiB <= 0 {
		t.Fatalf("peak RSS not recorded: %+v", runs[0])
	}
}

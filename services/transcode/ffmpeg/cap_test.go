package ffmpeg

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/dev/harness/lyingmedia"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

// TestOutputCappedAtMaxSeconds: with Encoding.MaxSeconds, a source whose
// timestamps run on for 20 s gives outputs of MaxSeconds, not 20 s, and
// no more HLS segments than that needs.
func TestOutputCappedAtMaxSeconds(t *testing.T) {
	dir := t.TempDir()
	c, err := lyingmedia.HonestGap(harness.MustTool(t, "ffmpeg"), dir)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := probe.Prober{Path: harness.MustTool(t, "ffprobe")}.Probe(context.Background(), c.Path)
	if err != nil {
		t.Fatal(err)
	}
	rends := ladder.MustParse(ladder.DefaultSpec).Select(320, 240)
	job := Job{Input: c.Path, Source: pr, Renditions: rends, Encoding: Encoding{Preset: "ultrafast", MaxSeconds: 3}}
	args, err := job.Args()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	if err := MakeDirs(work, job.OutputDirs()); err != nil {
		t.Fatal(err)
	}
	if err := (Runner{Path: harness.MustTool(t, "ffmpeg")}).Run(context.Background(), work, args, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := job.Cut(work); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(harness.MustTool(t, "ffprobe"), "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
		filepath.Join(work, MP4Path(rends[0].Name))).Output()
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); d > 3.2 || d < 2.5 {
		t.Errorf("output lasts %v s, want 3 (the cap), not the source's 20", d)
	}
	segs, _ := filepath.Glob(filepath.Join(work, RungDir(rends[0].Name), "*.m4s"))
	if len(segs) > 2 {
		t.Errorf("%d segments for 3 s at 2 s each", len(segs))
	}
}

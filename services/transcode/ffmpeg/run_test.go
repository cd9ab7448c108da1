package ffmpeg

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

// MustFFmpeg runs ffmpeg with args (quiet, overwriting) or fails the test.
func MustFFmpeg(tb testing.TB, args ...string) {
	tb.Helper()
	cmd := exec.Command(harness.MustTool(tb, "ffmpeg"), append([]string{"-hide_banner", "-nostdin", "-v", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// metricValue returns the value of the (unlabelled or first) series of name in reg.
func metricValue(tb testing.TB, reg *prometheus.Registry, name string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) == 0 {
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

func TestRunJobWritesMP4AndHLSFromOneEncode(t *testing.T) {
	dir := t.TempDir()
	MustFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=3",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=3",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mp4", filepath.Join(dir, "source"))
	src, err := probe.Prober{Path: harness.MustTool(t, "ffprobe")}.Probe(context.Background(), filepath.Join(dir, "source"))
	if err != nil {
		t.Fatal(err)
	}
	rends := ladder.MustParse("180p:180:200k:64k,360p:360:600k:96k").Select(640, 360)
	job := Job{Input: "source", Source: src, Renditions: rends, Encoding: Encoding{Preset: "ultrafast", GOPSeconds: 1}}
	args, err := job.Args()
	if err != nil {
		t.Fatal(err)
	}
	if err := MakeDirs(dir, job.OutputDirs()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	logs := newSyncBuffer()
	r := Runner{Path: harness.MustTool(t, "ffmpeg"), Metrics: m, ProgressInterval: time.Nanosecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}
	if err := r.Run(context.Background(), dir, args, src.Duration); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := job.Cut(dir); err != nil {
		t.Fatal(err)
	}

	prober := probe.Prober{Path: harness.MustTool(t, "ffprobe")}
	for _, rend := range rends {
		out, err := prober.Probe(context.Background(), filepath.Join(dir, MP4Path(rend.Name)))
		if err != nil {
			t.Fatalf("%s: %v", rend.Name, err)
		}
		if out.Video.Codec != "h264" || out.Video.Width != rend.Width || out.Video.Height != rend.Height || out.Audio == nil || out.Audio.Codec != "aac" {
			t.Errorf("%s: %+v %+v", rend.Name, out.Video, out.Audio)
		}
		segs, err := filepath.Glob(filepath.Join(dir, RungDir(rend.Name), "seg_*.m4s"))
		if err != nil || len(segs) != 3 {
			t.Errorf("%s: %d segments (%v), want 3 one-second segments", rend.Name, len(segs), err)
		}
	}
	if got := metricValue(t, reg, "vidpipe_transcode_ffmpeg_encoded_seconds_total"); got < 2.5 {
		t.Errorf("encoded seconds = %v, want about 3", got)
	}
	if got := metricValue(t, reg, "vidpipe_transcode_ffmpeg_running"); got != 0 {
		t.Errorf("running = %v after Run", got)
	}
	if got := metricValue(t, reg, "vidpipe_transcode_ffmpeg_runs_total"); got != 1 {
		t.Errorf("runs = %v, want 1", got)
	}
	if !strings.Contains(logs.String(), "transcode progress") {
		t.Errorf("no progress log line in %q", logs.String())
	}
}

func TestRunRejectsUndecodableInput(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "source"), []byte("not a video at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := Runner{Path: harness.MustTool(t, "ffmpeg")}
	err := r.Run(context.Background(), dir, []string{"-nostdin", "-v", "error", "-progress", "pipe:1",
		"-protocol_whitelist", "file", "-format_whitelist", probe.FormatWhitelist, "-i", "file:source", "-f", "null", "-"}, 0)
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("error = %v, want ErrRejected", err)
	}
	if !strings.Contains(err.Error(), "source") {
		t.Errorf("error %q does not carry ffmpeg's message", err)
	}
}

func TestRunMissingBinaryIsNotRejection(t *testing.T) {
	err := Runner{Path: filepath.Join(t.TempDir(), "no-ffmpeg")}.Run(context.Background(), t.TempDir(), []string{"-version"}, 0)
	if err == nil || errors.Is(err, ErrRejected) {
		t.Fatalf("error = %v, want a non-rejection error", err)
	}
}

// processesIn lists the pids whose current directory is dir.
func processesIn(dir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd"); err == nil && cwd == dir {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestRunCancelKillsFFmpeg(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		// An endless realtime source: only the cancel ends it.
		done <- Runner{Path: harness.MustTool(t, "ffmpeg"), Metrics: m}.Run(ctx, dir, []string{
			"-nostdin", "-v", "error", "-progress", "pipe:1", "-re", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10",
			"-f", "null", "-"}, 0)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for metricValue(t, reg, "vidpipe_transcode_ffmpeg_encoded_seconds_total") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("ffmpeg reported no progress")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(processesIn(dir)) == 0 {
		t.Fatal("no ffmpeg process found in the working directory")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrRejected) {
			t.Fatalf("error = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if pids := processesIn(dir); len(pids) != 0 {
		t.Fatalf("processes still running in %s: %v", dir, pids)
	}
	if got := metricValue(t, reg, "vidpipe_transcode_ffmpeg_running"); got != 0 {
		t.Errorf("running = %v after cancel", got)
	}
}

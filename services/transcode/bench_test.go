package transcode

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/services/transcode/ffmpeg"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
)

// BenchmarkTranscode times, on the same 10 s 1080p30 H.264+AAC source and
// with the default settings (4-rung ladder, preset veryfast, 2 s GOP):
//
//   - handler:  Worker.Handle end to end: download from MinIO, ffprobe,
//     the ffmpeg run with progress parsing, output checks, master playlist,
//     upload of every MP4 and HLS object;
//   - ffmpeg:   the exact ffmpeg command the handler runs, executed bare
//     (os/exec, output discarded) on a local copy of the source — the
//     floor the handler is measured against (target: handler ≤ 1.10×);
//   - per_rung: the naive approach, one ffmpeg process per rung, each
//     decoding the source again, with the same encoder settings and the same
//     MP4 + HLS outputs per rung (target: ffmpeg ≥ 1.2× faster than this).
//
// It is not run by `go test`. Run it with, e.g.:
//
//	cd transcode && go test -run '^$' -bench BenchmarkTranscode -benchtime 3x -count 5 .
//
// and compare the medians of the ns/op figures (benchstat, or by hand).
func BenchmarkTranscode(b *testing.B) {
	e := MustEnv(b, func(s *Settings) { s.Preset = DefaultSettings().Preset }, nil)
	srcDir := b.TempDir()
	src := MustClip(b, filepath.Join(srcDir, "source.mp4"), clip{Width: 1920, Height: 1080, Seconds: 10, FPS: 30, Audio: true})
	in := e.MustUpload(b, src)
	ctx := context.Background()

	pr, err := e.worker.prober.Probe(ctx, src)
	if err != nil {
		b.Fatal(err)
	}
	if err := pr.Check(e.worker.Limits()); err != nil {
		b.Fatal(err)
	}
	rends := e.worker.ladder.Select(pr.Video.DisplayWidth, pr.Video.DisplayHeight)
	if len(rends) != 4 {
		b.Fatalf("%d rungs for a 1080p source, want 4", len(rends))
	}
	ffmpegBin := harness.MustTool(b, "ffmpeg")

	// workDir makes a working directory with the source linked in and the
	// output directories the command writes to.
	workDir := func(b *testing.B, rs []ladder.Rendition) string {
		dir, err := os.MkdirTemp(srcDir, "work-")
		if err != nil {
			b.Fatal(err)
		}
		if err := os.Link(src, filepath.Join(dir, sourceName)); err != nil {
			b.Fatal(err)
		}
		if err := ffmpeg.MakeDirs(dir, e.worker.job(pr, rs).OutputDirs()); err != nil {
			b.Fatal(err)
		}
		return dir
	}
	runBare := func(b *testing.B, dir string, rs []ladder.Rendition) {
		args, err := e.worker.job(pr, rs).Args()
		if err != nil {
			b.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd := exec.Command(ffmpegBin, args...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = dir, io.Discard, &stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("ffmpeg: %v\n%s", err, stderr.String())
		}
	}

	b.Run("handler", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.worker.Handle(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ffmpeg", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			dir := workDir(b, rends)
			b.StartTimer()
			runBare(b, dir, rends)
			b.StopTimer()
			os.RemoveAll(dir)
			b.StartTimer()
		}
	})
	b.Run("per_rung", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			dir := workDir(b, rends)
			b.StartTimer()
			for _, r := range rends {
				runBare(b, dir, []ladder.Rendition{r})
			}
			b.StopTimer()
			os.RemoveAll(dir)
			b.StartTimer()
		}
	})
}

package transcode

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/dev/harness/lyingmedia"
	"github.com/vidpipe/vidpipe/platform/stage"
)

// TestHandleLyingMedia: every file of the lying-media corpus is refused
// (permanent, with a reason) or transcoded, in bounded time, with no
// output longer than the file honestly is.
func TestHandleLyingMedia(t *testing.T) {
	e := MustEnv(t, nil, nil)
	cases, err := lyingmedia.All(harness.MustTool(t, "ffmpeg"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			in := e.MustUpload(t, c.Path)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			start := time.Now()
			out, err := e.worker.Handle(ctx, in)
			t.Logf("%s: %v (%s)", filepath.Base(c.Path), err, time.Since(start).Round(time.Millisecond))
			switch c.Want {
			case lyingmedia.Refused:
				if !stage.IsPermanent(err) || !strings.Contains(err.Error(), c.Reason) {
					t.Fatalf("error = %v, want a permanent error saying %q", err, c.Reason)
				}
				if keys := e.MustKeys(t, contract.OutputPrefix(in.VideoID)); len(keys) != 0 {
					t.Errorf("outputs left behind: %v", keys)
				}
			case lyingmedia.Finished:
				if err != nil {
					t.Fatalf("Handle: %v", err)
				}
				if out.Media.DurationSeconds > c.MaxSeconds {
					t.Errorf("media duration %v > %v", out.Media.DurationSeconds, c.MaxSeconds)
				}
				for _, r := range out.Renditions {
					local := filepath.Join(t.TempDir(), r.Name+".mp4")
					if _, err := e.store.GetToFile(context.Background(), r.Key, local); err != nil {
						t.Fatal(err)
					}
					var d ffprobeDoc
					if err := json.Unmarshal(MustFFprobe(t, "-print_format", "json", "-show_format", local), &d); err != nil {
						t.Fatal(err)
					}
					if secs, _ := strconv.ParseFloat(d.Format.Duration, 64); secs > c.MaxSeconds {
						t.Errorf("%s lasts %v s, more than %v", r.Name, secs, c.MaxSeconds)
					}
				}
				segs := 0
				for _, k := range e.MustKeys(t, contract.HLSPrefix(in.VideoID)) {
					if strings.HasSuffix(k, ".m4s") {
						segs++
					}
				}
				if max := int(c.MaxSeconds/2+2) * len(out.Renditions); segs > max {
					t.Errorf("%d segments, want at most %d", segs, max)
				}
			}
		})
	}
	MustBeEmptyDir(t, e.tempDir)
}

// TestHandleTimeoutTooSlowIsPermanent: an attempt that hits its deadline
// with less than half of the video written is permanent (a retry would
// time out again), with a reason saying so; a cancellation that is not a
// deadline stays retryable.
func TestHandleTimeoutTooSlowIsPermanent(t *testing.T) {
	e := MustEnv(t, func(s *Settings) { s.Preset = "medium" }, nil)
	src := MustClip(t, filepath.Join(t.TempDir(), "long.mp4"), clip{Width: 640, Height: 360, Seconds: 120, FPS: 30, Audio: true})
	in := e.MustUpload(t, src)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	_, err := e.worker.Handle(ctx, in)
	if !stage.IsPermanent(err) || !strings.Contains(err.Error(), "too slow for stage.attempt_timeout") {
		t.Fatalf("error = %v, want a permanent too-slow error", err)
	}
	t.Logf("timed out: %v", err)

	ctx, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(3*time.Second, cancel2)
	_, err = e.worker.Handle(ctx, in)
	if err == nil || stage.IsPermanent(err) {
		t.Fatalf("cancelled attempt: error = %v, want a retryable error", err)
	}
	MustBeEmptyDir(t, e.tempDir)
}

// TestHandleWorkDirLimit: a transcode whose working directory outgrows
// transcode.max_work_dir_size is stopped and refused.
func TestHandleWorkDirLimit(t *testing.T) {
	src := MustClip(t, filepath.Join(t.TempDir(), "s.mp4"), clip{Width: 640, Height: 360, Seconds: 20, Audio: true})
	size := int64(len(MustRead(t, src)))
	e := MustEnv(t, func(s *Settings) { s.MaxWorkDirSize = size + 64<<10 }, nil)
	in := e.MustUpload(t, src)
	_, err := e.worker.Handle(context.Background(), in)
	if !stage.IsPermanent(err) || !strings.Contains(err.Error(), "max_work_dir_size") {
		t.Fatalf("error = %v, want a permanent work-directory error", err)
	}
	if keys := e.MustKeys(t, contract.OutputPrefix(in.VideoID)); len(keys) != 0 {
		t.Errorf("outputs written: %v", keys)
	}
	MustBeEmptyDir(t, e.tempDir)
}

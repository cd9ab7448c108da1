package thumbnail

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/dev/harness/lyingmedia"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/platform/storage"
)

// TestHandleLyingMedia: every case of the lying-media corpus
// (dev/harness/lyingmedia), published as the rendition of a forged
// video.transcoded, is refused (permanent, with a code naming the refusal
// and a reason) or thumbnailed, in bounded time and with no output longer
// than the file honestly is. Each case is tried twice: the file as it is
// (only the MP4 reaches the decoder; the others are not MP4s) and remuxed
// into an MP4 with its lie kept (a lying header re-patched, the
// timestamps' gaps and rate copied): what a rendition could carry.
func TestHandleLyingMedia(t *testing.T) {
	s := MustStore(t)
	w := newTestWorker(t, s)
	bin := harness.MustTool(t, "ffmpeg")
	dir := t.TempDir()
	cases, err := lyingmedia.All(bin, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		variants := []struct {
			name string
			c    lyingmedia.Case
		}{{"as is", c}}
		// The FLV's negative timestamps cannot be carried into an MP4
		// (see AsMP4): that lie never reaches a rendition.
		if mp4, err := lyingmedia.AsMP4(bin, dir, c); err == nil {
			variants = append(variants, struct {
				name string
				c    lyingmedia.Case
			}{"remuxed to mp4", mp4})
		} else if filepath.Ext(c.Path) != ".flv" {
			t.Fatal(err)
		}
		for _, v := range variants {
			t.Run(c.Name+"/"+v.name, func(t *testing.T) {
				in := transcoded(2, contract.Rendition{Name: "360p", Width: 640, Height: 360})
				MustPut(t, s, in.Renditions[0].Key, v.c.Path)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				start := time.Now()
				out, err := w.Handle(ctx, in)
				took := time.Since(start)
				code := stage.ErrorCode(err)
				t.Logf("%s: %s %v (%s)", filepath.Base(v.c.Path), code, err, took.Round(time.Millisecond))
				if took > 30*time.Second {
					t.Errorf("took %s", took)
				}
				isMP4 := strings.HasSuffix(v.c.Path, ".mp4")
				switch {
				case !isMP4:
					if !stage.IsPermanent(err) || code != contract.ErrorCodeUnsupportedFormat {
						t.Fatalf("not an MP4: err = %v, code %q; want permanent %q", err, code, contract.ErrorCodeUnsupportedFormat)
					}
				case v.c.Want == lyingmedia.Refused && v.c.Reason == lyingmedia.ReasonLonger:
					if !stage.IsPermanent(err) || code != contract.ErrorCodeDurationMismatch || !strings.Contains(err.Error(), lyingmedia.ReasonLonger) {
						t.Fatalf("err = %v, code %q; want permanent %q saying %q", err, code, contract.ErrorCodeDurationMismatch, lyingmedia.ReasonLonger)
					}
				case err != nil:
					// Honest headers over hostile timestamps: refusing is
					// fine, with a code that says why.
					if !stage.IsPermanent(err) || code == "" || code == contract.ErrorCodeInternal {
						t.Fatalf("err = %v, code %q; want finished, or refused with a code", err, code)
					}
				default:
					if out.Thumbnails.Sprite == nil {
						t.Fatal("no sprite sheet")
					}
					if end := lastCueEnd(t, s, out.Thumbnails.SpriteVTTKey); v.c.Want == lyingmedia.Finished && end > v.c.MaxSeconds {
						t.Errorf("sprite cues run to %v s, more than %v", end, v.c.MaxSeconds)
					}
				}
				if err != nil {
					if keys, lerr := s.List(context.Background(), contract.ThumbnailPrefix(in.VideoID)); lerr != nil || len(keys) != 0 {
						t.Errorf("outputs left behind: %v %v", keys, lerr)
					}
				}
			})
		}
	}
	assertTempDirEmpty(t, w)
}

// lastCueEnd is the end, in seconds, of the last cue of the WebVTT at key.
func lastCueEnd(tb testing.TB, s *storage.Store, key string) float64 {
	tb.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		tb.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatal(err)
	}
	var end float64
	for line := range strings.Lines(string(data)) {
		_, to, ok := strings.Cut(strings.TrimSpace(line), " --> ")
		if !ok {
			continue
		}
		var h, m int
		var sec float64
		if _, err := fmt.Sscanf(to, "%d:%d:%f", &h, &m, &sec); err != nil {
			tb.Fatalf("cue end %q: %v", to, err)
		}
		end = float64(h*3600+m*60) + sec
	}
	return end
}

// TestHandleToolTimeoutIsPermanent: an ffmpeg stopped by
// thumbnail.tool_timeout is a permanent error naming the timeout, not
// retried stage.max_attempts times.
func TestHandleToolTimeoutIsPermanent(t *testing.T) {
	s := MustStore(t)
	w := newTestWorker(t, s, func(c *Settings) { c.ToolTimeout = time.Millisecond })
	in := transcoded(2, contract.Rendition{Name: "360p", Width: 640, Height: 360})
	MustPut(t, s, in.Renditions[0].Key, MustClip(t, t.TempDir(), clip{Width: 640, Height: 360, Seconds: 2}))
	_, err := w.Handle(context.Background(), in)
	if !stage.IsPermanent(err) || !strings.Contains(err.Error(), "did not finish within 1ms") {
		t.Fatalf("err = %v, want a permanent tool-timeout error", err)
	}
	// The attempt's own cancellation stays retryable.
	w = newTestWorker(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.Handle(ctx, in); err == nil || stage.IsPermanent(err) {
		t.Fatalf("cancelled: err = %v, want retryable", err)
	}
}

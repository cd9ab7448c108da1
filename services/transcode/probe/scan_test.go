package probe

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/dev/harness/lyingmedia"
)

// scanLimits are the transcode defaults.
func scanLimits(r *Result) ScanLimits {
	return ScanLimits{Declared: r.Declared(), MaxFrameRate: 300, Timeout: time.Minute}
}

// TestScanRefusesLyingMedia: every lying file is refused by the header
// checks or by the packet scan, quickly, with a reason; the honest ones pass.
func TestScanRefusesLyingMedia(t *testing.T) {
	cases, err := lyingmedia.All(harness.MustTool(t, "ffmpeg"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := newProber(t)
	lim := Limits{MaxDuration: 2 * time.Hour, MaxPixels: 3840 * 2160, MaxDimension: 8192}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			start := time.Now()
			r, err := p.Probe(context.Background(), c.Path)
			if err == nil {
				err = r.Check(lim)
			}
			var tl Timeline
			if err == nil {
				tl, err = p.Scan(context.Background(), c.Path, r, scanLimits(r))
			}
			t.Logf("%s: timeline %+v, err %v (%s)", filepath.Base(c.Path), tl, err, time.Since(start).Round(time.Millisecond))
			if time.Since(start) > 10*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
			switch c.Want {
			case lyingmedia.Refused:
				if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), c.Reason) {
					t.Fatalf("err = %v, want a rejection saying %q", err, c.Reason)
				}
			case lyingmedia.Finished:
				if err != nil {
					t.Fatalf("err = %v, want accepted", err)
				}
				if tl.Span() > c.MaxSeconds {
					t.Errorf("span %v > %v", tl.Span(), c.MaxSeconds)
				}
			}
		})
	}
}

// TestScanStopsEarly: the scan of a file whose packets run past the
// declared duration stops at the first packet past it (it does not read
// the rest of the file).
func TestScanStopsEarly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "long.mkv")
	// 60 s of packets; the header is patched to say 2 s.
	MustFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=60", "-c:v", "libx264", "-preset", "ultrafast", "-f", "matroska", path)
	if err := lyingmedia.PatchMatroskaDuration(path, 2); err != nil {
		t.Fatal(err)
	}
	p := newProber(t)
	r, err := p.Probe(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if d := r.Declared(); d != 2 {
		t.Fatalf("declared %v, want the patched 2", d)
	}
	tl, err := p.Scan(context.Background(), path, r, scanLimits(r))
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "longer than declared") {
		t.Fatalf("err = %v", err)
	}
	if tl.VideoPackets > 25*4 {
		t.Errorf("read %d packets, want it to stop just past 3 s", tl.VideoPackets)
	}
}

// TestProbeHasItsOwnTimeout: an ffprobe that exceeds Prober.Timeout is
// killed and the file rejected, while the caller's context is still live.
func TestProbeHasItsOwnTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.mp4")
	MustFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=1", "-c:v", "libx264", "-preset", "ultrafast", path)
	p := newProber(t)
	p.Timeout = time.Microsecond
	_, err := p.Probe(context.Background(), path)
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "did not finish") {
		t.Fatalf("err = %v, want a rejection for the timeout", err)
	}
}

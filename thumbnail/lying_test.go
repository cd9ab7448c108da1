package thumbnail

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/events"
	"github.com/vidpipe/vidpipe/events/harness"
	"github.com/vidpipe/vidpipe/events/stage"
)

// mustLyingMP4 writes an H.264 MP4 (what transcode writes) holding 3
// frames ten hours apart whose movie, track and media headers declare 2 s
// (the MP4 case of transcode/lyingmedia; thumbnail does not import the
// transcode module).
func mustLyingMP4(tb testing.TB, dir string) string {
	tb.Helper()
	p := filepath.Join(dir, "lying.mp4")
	if out, err := exec.Command(harness.MustTool(tb, "ffmpeg"), "-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=1", "-frames:v", "3", "-vf", "setpts=N*36000/TB",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "1", "-fps_mode", "passthrough", "-use_editlist", "0",
		"-video_track_timescale", "1000", "-f", "mp4", p).CombinedOutput(); err != nil {
		tb.Fatalf("%v\n%s", err, out)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	var movieScale uint32
	for _, typ := range []string{"mvhd", "tkhd", "mdhd"} {
		j := bytes.Index(data, []byte(typ))
		if j < 4 || data[j+4] != 0 {
			tb.Fatalf("%s not found or not version 0", typ)
		}
		off := j - 4
		switch typ {
		case "mvhd":
			movieScale = binary.BigEndian.Uint32(data[off+20:])
			binary.BigEndian.PutUint32(data[off+24:], 2*movieScale)
		case "tkhd":
			binary.BigEndian.PutUint32(data[off+28:], 2*movieScale)
		case "mdhd":
			binary.BigEndian.PutUint32(data[off+24:], 2*binary.BigEndian.Uint32(data[off+20:]))
		}
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// TestHandleRefusesLyingRendition: a rendition whose packets span ten
// hours while it declares 2 s is refused (permanent, with a reason) after
// reading a few packets, instead of being thumbnailed as if it were 2 s.
func TestHandleRefusesLyingRendition(t *testing.T) {
	s := MustStore(t)
	w := newTestWorker(t, s)
	in := transcoded(2, events.Rendition{Name: "360p", Width: 640, Height: 360})
	MustPut(t, s, in.Renditions[0].Key, mustLyingMP4(t, t.TempDir()))
	start := time.Now()
	_, err := w.Handle(context.Background(), in)
	if !stage.IsPermanent(err) || !strings.Contains(err.Error(), "longer than declared") {
		t.Fatalf("err = %v, want a permanent error saying the timeline is longer than declared", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %s", d)
	}
	t.Logf("refused: %v", err)
	assertTempDirEmpty(t, w)
}

// TestHandleToolTimeoutIsPermanent: an ffmpeg stopped by
// thumbnail.tool_timeout is a permanent error naming the timeout, not
// retried stage.max_attempts times.
func TestHandleToolTimeoutIsPermanent(t *testing.T) {
	s := MustStore(t)
	w := newTestWorker(t, s, func(c *Settings) { c.ToolTimeout = time.Millisecond })
	in := transcoded(2, events.Rendition{Name: "360p", Width: 640, Height: 360})
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

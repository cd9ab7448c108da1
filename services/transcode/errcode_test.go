package transcode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/services/transcode/ffmpeg"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

// TestHandleErrorsCarryCodes: every refusal of Handle carries a user-safe
// error code naming what is wrong (not internal), for the hostile corpus
// and for bad sources; a transient error carries none.
func TestHandleErrorsCarryCodes(t *testing.T) {
	e := MustEnv(t, nil, nil)
	// Codes for the corpus entries whose reason is known; any other entry
	// must still carry a code that is not internal.
	byReason := map[string]string{
		"moov atom not found":               contract.ErrorCodeCorruptMedia,
		"truncated or corrupt":              contract.ErrorCodeDurationMismatch,
		"declares 3600.0 s but its packets": contract.ErrorCodeDurationMismatch,
		"exceeds the limit of 2h0m0s":       contract.ErrorCodeTooLarge,
		"no video or audio stream":          contract.ErrorCodeUnsupportedFormat,
	}
	for name, h := range MustHostileCorpus(t, t.TempDir()) {
		t.Run(name, func(t *testing.T) {
			_, err := e.worker.Handle(context.Background(), e.MustUpload(t, h.path))
			code := stage.ErrorCode(err)
			if err == nil || code == "" || code == contract.ErrorCodeInternal || contract.KnownErrorCode(code) != code {
				t.Fatalf("error %v: code %q, want a known code naming the refusal", err, code)
			}
			for reason, want := range byReason {
				if strings.Contains(h.reason, reason) && code != want {
					t.Errorf("%q: code %q, want %q", h.reason, code, want)
				}
			}
			t.Logf("%s: %s", code, err)
		})
	}
	good := MustClip(t, filepath.Join(t.TempDir(), "good.mp4"), clip{Width: 320, Height: 240, Seconds: 1, Audio: true})
	in := e.MustUpload(t, good)
	if err := e.store.Remove(context.Background(), in.Source.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := e.worker.Handle(context.Background(), in); stage.ErrorCode(err) != contract.ErrorCodeSourceMissing {
		t.Errorf("missing source: code %q (%v)", stage.ErrorCode(err), err)
	}
	other := e.MustUpload(t, good)
	other.Source.Bucket = "elsewhere"
	if _, err := e.worker.Handle(context.Background(), other); stage.ErrorCode(err) != contract.ErrorCodeInvalidEvent {
		t.Errorf("another bucket: code %q (%v)", stage.ErrorCode(err), err)
	}
	junk := MustWrite(t, t.TempDir(), "junk.mp4", bytes.Repeat([]byte("not a video "), 1000))
	if _, err := e.worker.Handle(context.Background(), e.MustUpload(t, junk)); stage.ErrorCode(err) != contract.ErrorCodeCorruptMedia {
		t.Errorf("junk: code %q (%v)", stage.ErrorCode(err), err)
	}
}

// TestErrorCodeOfReasons: the errors of the refusals are created with
// their codes (nothing reads them back from the message); a transient
// error has none and is not permanent.
func TestErrorCodeOfReasons(t *testing.T) {
	limits := probe.Limits{MaxDuration: time.Hour, MaxPixels: 1 << 22, MaxFileSize: 1 << 30, MaxDimension: 4096}
	video := &probe.Video{Codec: "h264", Width: 320, Height: 240, DisplayWidth: 320, DisplayHeight: 240}
	check := func(r probe.Result) error { return rejected(fmt.Errorf("probe source: %w", r.Check(limits))) }
	mp4 := "mov,mp4,m4a,3gp,3g2,mj2"
	big := *video
	big.Width, big.Height, big.DisplayWidth, big.DisplayHeight = 4000, 4000, 4000, 4000
	deadline, cancel := context.WithDeadline(context.Background(), time.Now())
	defer cancel()
	<-deadline.Done()
	_, noDecoder := ffmpeg.DecoderWhitelist(context.Background(), "ffmpeg", "h264", "no-such-codec")

	// The watchdog over a working directory holding one rung with too many
	// segments, then one with too large an MP4.
	w := &Worker{settings: Settings{GOPSeconds: 2, MaxWorkDirSize: 1 << 40}}
	dir := t.TempDir()
	rung := ladder.Rendition{Name: "240p", Width: 320, Height: 240, VideoBitrate: 100_000}
	if err := makeOutputDirs(dir, []ladder.Rendition{rung}); err != nil {
		t.Fatal(err)
	}
	wd := w.newWatchdog(dir, filepath.Join(dir, "source"), []ladder.Rendition{rung}, 2)
	// ffmpeg's fragmented MP4 with a fragment more than the duration needs.
	moofs := bytes.Repeat([]byte{0, 0, 0, 8, 'm', 'o', 'o', 'f'}, wd.maxSegments+1)
	MustWrite(t, filepath.Join(dir, ffmpeg.RungDir(rung.Name)), ffmpeg.FragName, moofs)
	tooManySegments := watchdogErr(wd.check())
	if err := os.RemoveAll(filepath.Join(dir, ffmpeg.RungDir(rung.Name))); err != nil {
		t.Fatal(err)
	}
	MustWrite(t, dir, ffmpeg.MP4Path(rung.Name), make([]byte, wd.budget[0]+1))
	tooLargeMP4 := watchdogErr(wd.check())

	tests := []struct {
		name string
		err  error
		want string
	}{
		{"transient", errors.New("storage unreachable"), ""},
		{"ffprobe killed", rejected(errors.New("ffprobe: signal: killed")), ""},
		{"source missing", sourceMissing("uploads/x/source", errors.New("object not found")), contract.ErrorCodeSourceMissing},
		{"invalid event", stage.Permanent(fmt.Errorf("%w", contract.VideoUploaded{}.Validate())), contract.ErrorCodeInvalidEvent},
		{"container not allowed", check(probe.Result{FormatName: "png_pipe", Video: video, Duration: 1}), contract.ErrorCodeUnsupportedFormat},
		{"no stream", check(probe.Result{FormatName: mp4, Duration: 1}), contract.ErrorCodeUnsupportedFormat},
		{"too long", check(probe.Result{FormatName: mp4, Video: video, Duration: 7200}), contract.ErrorCodeTooLarge},
		{"too many pixels", check(probe.Result{FormatName: mp4, Video: &big, Duration: 1}), contract.ErrorCodeTooLarge},
		{"no duration", check(probe.Result{FormatName: mp4, Video: video}), contract.ErrorCodeCorruptMedia},
		{"too slow", classifyTimeout(deadline, errors.New("ffmpeg: killed"), 1, 60, time.Minute), contract.ErrorCodeCorruptMedia},
		{"too many segments", tooManySegments, contract.ErrorCodeDurationMismatch},
		{"MP4 too large", tooLargeMP4, contract.ErrorCodeTooLarge},
	}
	for _, tc := range tests {
		got := stage.ErrorCode(tc.err)
		if got != tc.want || (got != "") != stage.IsPermanent(tc.err) {
			t.Errorf("%s: code %q (permanent %v), want %q: %v", tc.name, got, stage.IsPermanent(tc.err), tc.want, tc.err)
		}
	}
	if nd := (*ffmpeg.NoDecoderError)(nil); !errors.As(noDecoder, &nd) || nd.Codec != "no-such-codec" {
		t.Errorf("DecoderWhitelist of an unknown codec: %v, want a *ffmpeg.NoDecoderError", noDecoder)
	}
}

// watchdogErr is the error Handle returns for a watchdog verdict.
func watchdogErr(err error) error {
	var le *limitError
	if !errors.As(err, &le) {
		return err
	}
	return le.refusal()
}

package transcode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/events"
	"github.com/vidpipe/vidpipe/events/stage"
)

// TestHandleErrorsCarryCodes: every refusal of Handle carries a user-safe
// error code naming what is wrong (not internal), for the hostile corpus
// and for bad sources; a transient error carries none.
func TestHandleErrorsCarryCodes(t *testing.T) {
	e := MustEnv(t, nil, nil)
	// Codes for the corpus entries whose reason is known; any other entry
	// must still carry a code that is not internal.
	byReason := map[string]string{
		"moov atom not found":               events.ErrorCodeCorruptMedia,
		"truncated or corrupt":              events.ErrorCodeDurationMismatch,
		"declares 3600.0 s but its packets": events.ErrorCodeDurationMismatch,
		"exceeds the limit of 2h0m0s":       events.ErrorCodeTooLarge,
		"audio-only file: no video stream":  events.ErrorCodeUnsupportedFormat,
	}
	for name, h := range MustHostileCorpus(t, t.TempDir()) {
		t.Run(name, func(t *testing.T) {
			_, err := e.worker.Handle(context.Background(), e.MustUpload(t, h.path))
			code := stage.ErrorCode(err)
			if err == nil || code == "" || code == events.ErrorCodeInternal || events.KnownErrorCode(code) != code {
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
	if _, err := e.worker.Handle(context.Background(), in); stage.ErrorCode(err) != events.ErrorCodeSourceMissing {
		t.Errorf("missing source: code %q (%v)", stage.ErrorCode(err), err)
	}
	other := e.MustUpload(t, good)
	other.Source.Bucket = "elsewhere"
	if _, err := e.worker.Handle(context.Background(), other); stage.ErrorCode(err) != events.ErrorCodeInvalidEvent {
		t.Errorf("another bucket: code %q (%v)", stage.ErrorCode(err), err)
	}
	junk := MustWrite(t, t.TempDir(), "junk.mp4", bytes.Repeat([]byte("not a video "), 1000))
	if _, err := e.worker.Handle(context.Background(), e.MustUpload(t, junk)); stage.ErrorCode(err) != events.ErrorCodeCorruptMedia {
		t.Errorf("junk: code %q (%v)", stage.ErrorCode(err), err)
	}
}

func TestErrorCodeOfReasons(t *testing.T) {
	perm := func(format string, args ...any) error { return stage.Permanent(fmt.Errorf(format, args...)) }
	tests := []struct {
		err  error
		want string
	}{
		{errors.New("storage unreachable"), ""},
		{sourceMissing("uploads/x/source", errors.New("object not found")), events.ErrorCodeSourceMissing},
		{perm("source bucket %q is not the configured bucket %q", "a", "b"), events.ErrorCodeInvalidEvent},
		{perm("source size 5 bytes exceeds the limit of 1 bytes"), events.ErrorCodeTooLarge},
		{perm("probe source: input rejected: container format \"png_pipe\" is not allowed (allowed: ...)"), events.ErrorCodeUnsupportedFormat},
		{perm("probe source: no decoder for codec %q", "x"), events.ErrorCodeUnsupportedFormat},
		{perm("transcode stopped: rendition 360p has more than 10 HLS segments, more than the declared duration needs: the real timeline is longer than declared"), events.ErrorCodeDurationMismatch},
		{perm("transcode stopped: rendition 360p's MP4 grew past 100 bytes (4× its bitrate over the declared duration): the source is not what its header says"), events.ErrorCodeTooLarge},
		{perm("source declares 60.0 s but only 1.0 s could be decoded: truncated or corrupt"), events.ErrorCodeDurationMismatch},
		{perm("transcode: ffmpeg rejected the input: Invalid data found"), events.ErrorCodeCorruptMedia},
		{perm("probe source: input rejected: not a readable media file: [png_pipe @ 0x1] Format not on whitelist 'mov'"), events.ErrorCodeUnsupportedFormat},
		{stage.Coded(events.ErrorCodeTooLarge, perm("not a media file")), events.ErrorCodeTooLarge},
		{perm("%w", events.VideoUploaded{}.Validate()), events.ErrorCodeInvalidEvent},
	}
	for _, tc := range tests {
		if got := errorCode(tc.err); got != tc.want {
			t.Errorf("errorCode(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

package transcode

import (
	"context"
	"strings"

	"github.com/vidpipe/vidpipe/events"
	"github.com/vidpipe/vidpipe/events/stage"
)

// Handle transcodes in's source and returns the video.transcoded event (see
// handle). A failure carries its user-safe error code (stage.Coded, see
// errorCode), which the dead letter and the video's status show instead of
// the raw error.
func (w *Worker) Handle(ctx context.Context, in events.VideoUploaded) (events.VideoTranscoded, error) {
	out, err := w.handle(ctx, in)
	if err != nil {
		if c := errorCode(err); c != "" {
			err = stage.Coded(c, err)
		}
	}
	return out, err
}

// errorCode is the user-safe code (events.ErrorCodes) of an error of
// handle: its own code if it has one; for a permanent error, the kind of
// refusal its reason names (the probe, the scan, the watchdog and the
// source checks word their reasons for people; these phrases are what
// they say); "" for a transient error (the runtime then says internal).
func errorCode(err error) string {
	if c := stage.ErrorCode(err); c != "" {
		return c
	}
	msg := err.Error()
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	switch {
	case strings.HasPrefix(msg, SourceMissingPrefix):
		return events.ErrorCodeSourceMissing
	case !stage.IsPermanent(err):
		return ""
	case has("is not the configured bucket"):
		return events.ErrorCodeInvalidEvent
	case has("timeline is longer than declared", "source declares", "but its packets span"):
		return events.ErrorCodeDurationMismatch
	case has("exceeds the limit", "over the limit", "more than the limit", "grew past", "exceeds transcode."):
		return events.ErrorCodeTooLarge
	case has("is not allowed", "not on whitelist", "not a media file", "audio-only", "no video stream", "probe source: no "):
		return events.ErrorCodeUnsupportedFormat
	}
	return events.ErrorCodeCorruptMedia
}

package stage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/events"
	"github.com/vidpipe/vidpipe/events/stage"
)

func TestErrorCode(t *testing.T) {
	base := errors.New("boom")
	tests := map[string]struct {
		err  error
		want string
	}{
		"nil":                   {nil, ""},
		"plain":                 {base, ""},
		"coded":                 {stage.Coded(events.ErrorCodeCorruptMedia, base), events.ErrorCodeCorruptMedia},
		"coded permanent":       {stage.Coded(events.ErrorCodeTooLarge, stage.Permanent(base)), events.ErrorCodeTooLarge},
		"permanent coded":       {stage.Permanent(stage.Coded(events.ErrorCodeTooLarge, base)), events.ErrorCodeTooLarge},
		"wrapped coded":         {fmt.Errorf("probe: %w", stage.Coded(events.ErrorCodeUnsupportedFormat, base)), events.ErrorCodeUnsupportedFormat},
		"outermost wins":        {stage.Coded(events.ErrorCodeInternal, stage.Coded(events.ErrorCodeCorruptMedia, base)), events.ErrorCodeInternal},
		"validation error":      {stage.Permanent(events.VideoUploaded{}.Validate()), events.ErrorCodeInvalidEvent},
		"no key":                {stage.ErrNoKey, events.ErrorCodeInvalidEvent},
		"coded beats invalid":   {stage.Coded(events.ErrorCodeInternal, events.VideoUploaded{}.Validate()), events.ErrorCodeInternal},
		"undecodable (Decode)":  {func() error { _, err := events.Decode[events.VideoUploaded]([]byte("x")); return err }(), events.ErrorCodeInvalidEvent},
		"coded nil stays nil":   {stage.Coded(events.ErrorCodeInternal, nil), ""},
		"permanent stays known": {stage.Coded(events.ErrorCodeTooLarge, stage.Permanent(base)), events.ErrorCodeTooLarge},
	}
	for name, tc := range tests {
		if got := stage.ErrorCode(tc.err); got != tc.want {
			t.Errorf("%s: ErrorCode = %q, want %q", name, got, tc.want)
		}
	}
	if !stage.IsPermanent(stage.Coded(events.ErrorCodeTooLarge, stage.Permanent(base))) ||
		!stage.IsPermanent(stage.Permanent(stage.Coded(events.ErrorCodeTooLarge, base))) {
		t.Error("Coded hides Permanent")
	}
	if stage.Coded("x", base).Error() != "boom" || !errors.Is(stage.Coded("x", base), base) {
		t.Error("Coded changes the error's text or chain")
	}
}

// TestDeadLettersCarryErrorCode: every dead letter carries dlq.error_code:
// the code the handler's error carries, invalid_event for a record refused
// before any attempt, too_large for an output too large for Kafka, and
// internal for anything else; the raw error stays in dlq.error.
func TestDeadLettersCarryErrorCode(t *testing.T) {
	e := newEnv(t, 1)
	setTopicConfig(t, e.k, events.TopicTranscoded, "max.message.bytes", "4096")
	type tc struct {
		name     string
		err      error // what the handler returns for this video
		huge     bool  // the handler returns an output too large for the topic
		code     string
		class    string
		contains string
	}
	cases := []tc{
		{name: "coded permanent", err: stage.Coded(events.ErrorCodeUnsupportedFormat, stage.Permanentf("format %q not allowed", "png_pipe")),
			code: events.ErrorCodeUnsupportedFormat, class: events.ErrorClassPermanent, contains: "png_pipe"},
		{name: "permanent coded", err: stage.Permanent(fmt.Errorf("probe: %w", stage.Coded(events.ErrorCodeDurationMismatch, errors.New("declares 60 s, decodes 1 s")))),
			code: events.ErrorCodeDurationMismatch, class: events.ErrorClassPermanent, contains: "declares 60 s"},
		{name: "coded exhausted", err: stage.Coded(events.ErrorCodeCorruptMedia, errors.New("decoder error at 0x1f")),
			code: events.ErrorCodeCorruptMedia, class: events.ErrorClassExhausted, contains: "0x1f"},
		{name: "plain exhausted", err: errors.New("minio unreachable at 10.0.0.7"),
			code: events.ErrorCodeInternal, class: events.ErrorClassExhausted, contains: "10.0.0.7"},
		{name: "plain permanent", err: stage.Permanentf("something hopeless"),
			code: events.ErrorCodeInternal, class: events.ErrorClassPermanent, contains: "hopeless"},
		{name: "output too large", huge: true, code: events.ErrorCodeTooLarge, class: events.ErrorClassPermanent},
	}
	byID := map[string]tc{}
	var msgs []kafka.Message
	for _, c := range cases {
		in := uploaded(events.NewID())
		byID[in.VideoID] = c
		m, err := stage.NewMessage(in, "test", "")
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	// Records refused before any attempt: invalid_event.
	forged := uploaded(events.NewID())
	forged.Source.Key = events.SourceKey(events.NewID()) // another video's source
	forgedValue, _ := json.Marshal(forged)
	bad := map[string][]byte{
		forged.VideoID:                   forgedValue,
		events.NewID():                   []byte(`{"video_id": "oops`),
		uploaded(events.NewID()).VideoID: forgedValue, // key differs from video_id
	}
	for k, v := range bad {
		msgs = append(msgs, kafka.Message{Topic: events.TopicUploaded, Key: []byte(k), Value: v})
		byID[k] = tc{name: "refused " + k, code: events.ErrorCodeInvalidEvent, class: events.ErrorClassPermanent}
	}
	e.k.Produce(t, msgs...)
	e.start(t, func(ctx context.Context, in events.VideoUploaded) (events.VideoTranscoded, error) {
		c := byID[in.VideoID]
		if c.huge {
			out, _ := transcodeOK(ctx, in)
			out.Description = strings.Repeat("d", events.MaxDescriptionLen)
			return out, nil
		}
		return events.VideoTranscoded{}, c.err
	})
	dlq := e.k.ReadAll(t, events.TopicTranscodeDLQ, len(byID), 60*time.Second)
	if len(dlq) != len(byID) {
		t.Fatalf("%d dead letters, want %d", len(dlq), len(byID))
	}
	for _, m := range dlq {
		c, ok := byID[string(m.Key)]
		if !ok {
			t.Errorf("unexpected dead letter %s", m.Key)
			continue
		}
		dl, _ := events.ParseDeadLetter(stage.FromKafkaHeaders(m.Headers))
		if dl.Code != c.code || dl.Class != c.class || !strings.Contains(dl.Err, c.contains) {
			t.Errorf("%s: code %q class %q error %q; want %q %q containing %q", c.name, dl.Code, dl.Class, dl.Err, c.code, c.class, c.contains)
		}
	}
	e.waitLag(t, events.TopicUploaded)
}

// TestForgedKeyIsDeadLetteredBeforeTheHandler: a video.uploaded whose
// source key names another video's object (or anything outside its own
// source key) never reaches the handler: it is dead-lettered at once as an
// invalid event naming source.key.
func TestForgedKeyIsDeadLetteredBeforeTheHandler(t *testing.T) {
	e := newEnv(t, 1)
	victim := events.NewID()
	keys := []string{events.SourceKey(victim), events.RenditionKey(victim, "720p"), "uploads/" + victim + "/../x/source",
		events.OutputPrefix(events.NewID()) + "source"}
	var msgs []kafka.Message
	want := map[string]bool{}
	for _, k := range keys {
		in := uploaded(events.NewID())
		in.Source.Key = k
		v, err := json.Marshal(in) // Encode would refuse it: a forger would not
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Topic: events.TopicUploaded, Key: []byte(in.VideoID), Value: v})
		want[in.VideoID] = true
	}
	e.k.Produce(t, msgs...)
	good := uploaded(events.NewID())
	e.produce(t, good)
	var calls atomic.Int32
	e.start(t, func(ctx context.Context, in events.VideoUploaded) (events.VideoTranscoded, error) {
		calls.Add(1)
		if in.VideoID != good.VideoID {
			t.Errorf("the handler got the forged event %s (source %s)", in.VideoID, in.Source.Key)
		}
		return transcodeOK(ctx, in)
	})
	if out := e.k.ReadAll(t, events.TopicTranscoded, 1, 30*time.Second); string(out[0].Key) != good.VideoID {
		t.Fatalf("output for %s, want only the good video", out[0].Key)
	}
	dlq := e.k.ReadAll(t, events.TopicTranscodeDLQ, len(keys), 30*time.Second)
	if len(dlq) != len(keys) {
		t.Fatalf("%d dead letters, want %d", len(dlq), len(keys))
	}
	for _, m := range dlq {
		dl, _ := events.ParseDeadLetter(stage.FromKafkaHeaders(m.Headers))
		if !want[string(m.Key)] || dl.Class != events.ErrorClassPermanent || dl.Attempts != 0 ||
			!strings.Contains(dl.Err, "source.key") || dl.Code != events.ErrorCodeInvalidEvent {
			t.Errorf("dead letter %s: %+v", m.Key, dl)
		}
	}
	if c := calls.Load(); c != 1 {
		t.Errorf("handler called %d times, want 1", c)
	}
}

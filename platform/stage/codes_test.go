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

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/stage"
)

func TestErrorCode(t *testing.T) {
	base := errors.New("boom")
	tests := map[string]struct {
		err  error
		want string
	}{
		"nil":                   {nil, ""},
		"plain":                 {base, ""},
		"coded":                 {stage.Coded(contract.ErrorCodeCorruptMedia, base), contract.ErrorCodeCorruptMedia},
		"coded permanent":       {stage.Coded(contract.ErrorCodeTooLarge, stage.Permanent(base)), contract.ErrorCodeTooLarge},
		"permanent coded":       {stage.Permanent(stage.Coded(contract.ErrorCodeTooLarge, base)), contract.ErrorCodeTooLarge},
		"wrapped coded":         {fmt.Errorf("probe: %w", stage.Coded(contract.ErrorCodeUnsupportedFormat, base)), contract.ErrorCodeUnsupportedFormat},
		"outermost wins":        {stage.Coded(contract.ErrorCodeInternal, stage.Coded(contract.ErrorCodeCorruptMedia, base)), contract.ErrorCodeInternal},
		"validation error":      {stage.Permanent(contract.VideoUploaded{}.Validate()), contract.ErrorCodeInvalidEvent},
		"no key":                {stage.ErrNoKey, contract.ErrorCodeInvalidEvent},
		"coded beats invalid":   {stage.Coded(contract.ErrorCodeInternal, contract.VideoUploaded{}.Validate()), contract.ErrorCodeInternal},
		"undecodable (Decode)":  {func() error { _, err := contract.Decode[contract.VideoUploaded]([]byte("x")); return err }(), contract.ErrorCodeInvalidEvent},
		"coded nil stays nil":   {stage.Coded(contract.ErrorCodeInternal, nil), ""},
		"permanent stays known": {stage.Coded(contract.ErrorCodeTooLarge, stage.Permanent(base)), contract.ErrorCodeTooLarge},
	}
	for name, tc := range tests {
		if got := stage.ErrorCode(tc.err); got != tc.want {
			t.Errorf("%s: ErrorCode = %q, want %q", name, got, tc.want)
		}
	}
	if !stage.IsPermanent(stage.Coded(contract.ErrorCodeTooLarge, stage.Permanent(base))) ||
		!stage.IsPermanent(stage.Permanent(stage.Coded(contract.ErrorCodeTooLarge, base))) {
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
	setTopicConfig(t, e.k, contract.TopicTranscoded, "max.message.bytes", "4096")
	type tc struct {
		name     string
		err      error // what the handler returns for this video
		huge     bool  // the handler returns an output too large for the topic
		code     string
		class    string
		contains string
	}
	cases := []tc{
		{name: "coded permanent", err: stage.Coded(contract.ErrorCodeUnsupportedFormat, stage.Permanentf("format %q not allowed", "png_pipe")),
			code: contract.ErrorCodeUnsupportedFormat, class: contract.ErrorClassPermanent, contains: "png_pipe"},
		{name: "permanent coded", err: stage.Permanent(fmt.Errorf("probe: %w", stage.Coded(contract.ErrorCodeDurationMismatch, errors.New("declares 60 s, decodes 1 s")))),
			code: contract.ErrorCodeDurationMismatch, class: contract.ErrorClassPermanent, contains: "declares 60 s"},
		{name: "coded exhausted", err: stage.Coded(contract.ErrorCodeCorruptMedia, errors.New("decoder error at 0x1f")),
			code: contract.ErrorCodeCorruptMedia, class: contract.ErrorClassExhausted, contains: "0x1f"},
		{name: "plain exhausted", err: errors.New("minio unreachable at 10.0.0.7"),
			code: contract.ErrorCodeInternal, class: contract.ErrorClassExhausted, contains: "10.0.0.7"},
		{name: "plain permanent", err: stage.Permanentf("something hopeless"),
			code: contract.ErrorCodeInternal, class: contract.ErrorClassPermanent, contains: "hopeless"},
		{name: "output too large", huge: true, code: contract.ErrorCodeTooLarge, class: contract.ErrorClassPermanent},
	}
	byID := map[string]tc{}
	var msgs []kafka.Message
	for _, c := range cases {
		in := uploaded(contract.NewID())
		byID[in.VideoID] = c
		m, err := stage.NewMessage(in, "test", "")
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	// Records refused before any attempt: invalid_event.
	forged := uploaded(contract.NewID())
	forged.Source.Key = contract.SourceKey(contract.NewID()) // another video's source
	forgedValue, _ := json.Marshal(forged)
	bad := map[string][]byte{
		forged.VideoID:                     forgedValue,
		contract.NewID():                   []byte(`{"video_id": "oops`),
		uploaded(contract.NewID()).VideoID: forgedValue, // key differs from video_id
	}
	for k, v := range bad {
		msgs = append(msgs, kafka.Message{Topic: contract.TopicUploaded, Key: []byte(k), Value: v})
		byID[k] = tc{name: "refused " + k, code: contract.ErrorCodeInvalidEvent, class: contract.ErrorClassPermanent}
	}
	e.k.Produce(t, msgs...)
	e.start(t, func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
		c := byID[in.VideoID]
		if c.huge {
			out, _ := transcodeOK(ctx, in)
			out.Description = strings.Repeat("d", contract.MaxDescriptionLen)
			return out, nil
		}
		return contract.VideoTranscoded{}, c.err
	})
	dlq := e.k.ReadAll(t, contract.TopicTranscodeDLQ, len(byID), 60*time.Second)
	if len(dlq) != len(byID) {
		t.Fatalf("%d dead letters, want %d", len(dlq), len(byID))
	}
	for _, m := range dlq {
		c, ok := byID[string(m.Key)]
		if !ok {
			t.Errorf("unexpected dead letter %s", m.Key)
			continue
		}
		dl, _ := contract.ParseDeadLetter(stage.FromKafkaHeaders(m.Headers))
		if dl.Code != c.code || dl.Class != c.class || !strings.Contains(dl.Err, c.contains) {
			t.Errorf("%s: code %q class %q error %q; want %q %q containing %q", c.name, dl.Code, dl.Class, dl.Err, c.code, c.class, c.contains)
		}
	}
	e.waitLag(t, contract.TopicUploaded)
}

// TestForgedKeyIsDeadLetteredBeforeTheHandler: a video.uploaded whose
// source key names another video's object (or anything outside its own
// source key) never reaches the handler: it is dead-lettered at once as an
// invalid event naming source.key.
func TestForgedKeyIsDeadLetteredBeforeTheHandler(t *testing.T) {
	e := newEnv(t, 1)
	victim := contract.NewID()
	keys := []string{contract.SourceKey(victim), contract.RenditionKey(victim, "720p"), "uploads/" + victim + "/../x/source",
		contract.OutputPrefix(contract.NewID()) + "source"}
	var msgs []kafka.Message
	want := map[string]bool{}
	for _, k := range keys {
		in := uploaded(contract.NewID())
		in.Source.Key = k
		v, err := json.Marshal(in) // Encode would refuse it: a forger would not
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Topic: contract.TopicUploaded, Key: []byte(in.VideoID), Value: v})
		want[in.VideoID] = true
	}
	e.k.Produce(t, msgs...)
	good := uploaded(contract.NewID())
	e.produce(t, good)
	var calls atomic.Int32
	e.start(t, func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
		calls.Add(1)
		if in.VideoID != good.VideoID {
			t.Errorf("the handler got the forged event %s (source %s)", in.VideoID, in.Source.Key)
		}
		return transcodeOK(ctx, in)
	})
	if out := e.k.ReadAll(t, contract.TopicTranscoded, 1, 30*time.Second); string(out[0].Key) != good.VideoID {
		t.Fatalf("output for %s, want only the good video", out[0].Key)
	}
	dlq := e.k.ReadAll(t, contract.TopicTranscodeDLQ, len(keys), 30*time.Second)
	if len(dlq) != len(keys) {
		t.Fatalf("%d dead letters, want %d", len(dlq), len(keys))
	}
	for _, m := range dlq {
		dl, _ := contract.ParseDeadLetter(stage.FromKafkaHeaders(m.Headers))
		if !want[string(m.Key)] || dl.Class != contract.ErrorClassPermanent || dl.Attempts != 0 ||
			!strings.Contains(dl.Err, "source.key") || dl.Code != contract.ErrorCodeInvalidEvent {
			t.Errorf("dead letter %s: %+v", m.Key, dl)
		}
	}
	if c := calls.Load(); c != 1 {
		t.Errorf("handler called %d times, want 1", c)
	}
}

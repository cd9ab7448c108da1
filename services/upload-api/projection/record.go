package projection

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vidpipe/vidpipe/contract"
)

// ErrUndecodable matches the error Apply returns for a record it can never
// apply: an unknown topic, a value that is not a valid event, a dead letter
// without a video id, a record of an unknown video without an owner, or an
// owner that differs from the one stored for the video. Retrying such a
// record cannot help: the Consumer logs it and commits past it.
var ErrUndecodable = errors.New("undecodable record")

// Record is one Kafka record as the projection sees it.
type Record struct {
	Topic     string
	Partition int
	// Offset identifies the record within Topic/Partition. Apply remembers,
	// per video, the highest offset applied from each topic/partition and
	// ignores a record at or below it (a redelivery). A negative Offset
	// turns that check off (for callers that have no offsets).
	Offset int64
	// Key is the record key (the video id). It names the video of a dead
	// letter whose value was moved out of Kafka (dlq.value_ref).
	Key     []byte
	Value   []byte
	Headers []contract.Header
}

// offsetKey names rec's topic/partition in the per-video offsets map.
func (rec Record) offsetKey() string { return fmt.Sprintf("%s/%d", rec.Topic, rec.Partition) }

// observe reads what rec says about a video, in pipeline p. A step topic's
// value must decode and validate in full (with the step's Decode). A dead
// letter's value is the original record's value, which may be what made the
// stage fail: only a video id is required (owner and the upload's fields are
// taken when present).
func observe(p contract.Pipeline, rec Record) (observation, error) {
	if step, ok := p.StepFor(rec.Topic); ok {
		return observeStep(p, step, rec)
	}
	spec, ok := p.StageForDLQ(rec.Topic)
	if !ok {
		return observation{}, fmt.Errorf("%w: unknown topic %q", ErrUndecodable, rec.Topic)
	}
	return observeDeadLetter(p, spec, rec)
}

// observeStep reads an event of step: the rank it proves, and the video
// document when it is a contract.VideoReady.
func observeStep(p contract.Pipeline, step contract.Step, rec Record) (observation, error) {
	ev, v, err := step.Decode(rec.Value)
	if err != nil {
		return observation{}, fmt.Errorf("%w: %s: %w", ErrUndecodable, rec.Topic, err)
	}
	ob := observation{videoID: v.VideoID, owner: v.Owner, rank: p.Rank(rec.Topic), video: &v}
	if r, ok := ev.(contract.VideoReady); ok {
		ob.ready = &r
	}
	return ob, nil
}

// observeDeadLetter reads a dead letter of stage spec: the video (from the
// key when the value was moved out of Kafka, else from the value's
// envelope), the failed stage's input rank, and the dlq.* headers.
func observeDeadLetter(p contract.Pipeline, spec contract.StageSpec, rec Record) (observation, error) {
	ob := observation{rank: p.Rank(spec.Input), failedStage: spec.Name, staleRank: stageRank(p, spec)}
	if len(rec.Value) == 0 && contract.HeaderValue(rec.Headers, contract.HeaderDLQValueRef) != "" {
		// The original value was too large for Kafka and is stored
		// elsewhere: the key names the video (whose owner is known).
		if !contract.IsUUID(string(rec.Key)) {
			return observation{}, fmt.Errorf("%w: %s: key %q of a dead letter without value is not a lowercase UUID", ErrUndecodable, rec.Topic, truncate(string(rec.Key), 64))
		}
		ob.videoID = string(rec.Key)
	} else {
		env, err := contract.PeekEnvelope(rec.Value)
		if err != nil {
			return observation{}, fmt.Errorf("%w: %s: %w", ErrUndecodable, rec.Topic, err)
		}
		if !contract.IsUUID(env.VideoID) {
			return observation{}, fmt.Errorf("%w: %s: video_id %q is not a lowercase UUID", ErrUndecodable, rec.Topic, truncate(env.VideoID, 64))
		}
		ob.videoID, ob.owner = env.VideoID, env.Owner
		if v, ok := inputVideo(p, spec, rec.Value); ok && v.VideoID == env.VideoID {
			ob.video = &v
		}
	}
	if dl, ok := contract.ParseDeadLetter(rec.Headers); ok {
		ob.reason, ob.errorClass, ob.attempts = dl.Err, dl.Class, dl.Attempts
		ob.errorCode = failureCode(dl)
	}
	if ob.reason == "" {
		ob.reason = "unknown error (the dead letter carries no dlq.error header)"
	}
	if ob.errorCode == "" {
		ob.errorCode = contract.ErrorCodeInternal
	}
	return ob, nil
}

// failureCode is the user-safe code of a dead letter: its dlq.error_code
// (an unknown one counts as internal) or, for a dead letter written before
// that header existed, what its other headers tell: a missing source, or
// input refused before any attempt (invalid_event); else internal.
func failureCode(dl contract.DeadLetter) string {
	switch {
	case dl.Code != "":
		return contract.KnownErrorCode(dl.Code)
	case strings.HasPrefix(dl.Err, "source missing:"):
		return contract.ErrorCodeSourceMissing
	case dl.Class == contract.ErrorClassPermanent && dl.Attempts == 0:
		return contract.ErrorCodeInvalidEvent
	}
	return contract.ErrorCodeInternal
}

// inputVideo decodes a dead letter's value as the failed stage's input
// event (the Decode of the step published to its input topic).
func inputVideo(p contract.Pipeline, spec contract.StageSpec, value []byte) (contract.Video, bool) {
	step, ok := p.StepFor(spec.Input)
	if !ok {
		return contract.Video{}, false
	}
	_, v, err := step.Decode(value)
	return v, err == nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

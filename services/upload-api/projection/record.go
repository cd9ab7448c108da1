package projection

import (
	"encoding/json"
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
// value must decode and validate in full (with the step's Decode), and so
// must a record of a stage's work completions (contract.TranscodeChunkDone,
// see [ProgressTopics]); another work topic is ignored. A dead letter's
// value is the original record's value, which may be what made the stage
// fail: only a video id is required (owner and the upload's fields are
// taken when present).
func observe(p contract.Pipeline, rec Record) (ob observation, err error) {
	defer func() { ob.maxRank = p.MaxRank() }()
	if step, ok := p.StepFor(rec.Topic); ok {
		return observeStep(p, step, rec)
	}
	if step, spec, ok := p.WorkStep(rec.Topic); ok {
		if !isProgress(step) {
			return observation{ignore: true}, nil
		}
		return observeDone(p, step, spec, rec)
	}
	spec, ok := p.StageForDLQ(rec.Topic)
	if !ok {
		return observation{}, fmt.Errorf("%w: unknown topic %q", ErrUndecodable, rec.Topic)
	}
	return observeDeadLetter(p, spec, rec)
}

// isProgress reports whether work step w carries work completions
// (contract.TranscodeChunkDone), which the projection counts.
func isProgress(w contract.Step) bool { return w.Type == contract.TypeTranscodeChunkDone }

// ProgressTopics lists the work topics of p whose records the projection
// counts as progress (video.transcode.chunks-done in
// contract.DefaultPipeline). The Consumer reads them besides the steps'
// topics and the dead-letter topics; the other work topics it does not
// read.
func ProgressTopics(p contract.Pipeline) []string {
	var out []string
	for _, topic := range p.WorkTopics() {
		if w, _, ok := p.WorkStep(topic); ok && isProgress(w) {
			out = append(out, topic)
		}
	}
	return out
}

// Topics lists every topic the projection of p reads: the steps' topics,
// the progress topics ([ProgressTopics]), then the dead-letter topics.
func Topics(p contract.Pipeline) []string {
	return append(append(p.StageTopics(), ProgressTopics(p)...), p.DLQTopics()...)
}

// observeStep reads an event of step: the rank it proves, the HLS master
// key it carries, whether it is a milestone or an output of a stage, and
// the video document when it is a contract.VideoReady.
func observeStep(p contract.Pipeline, step contract.Step, rec Record) (observation, error) {
	ev, v, err := step.Decode(rec.Value)
	if err != nil {
		return observation{}, fmt.Errorf("%w: %s: %w", ErrUndecodable, rec.Topic, err)
	}
	ob := observation{videoID: v.VideoID, owner: v.Owner, rank: p.Rank(rec.Topic), video: &v, hlsKey: hlsKey(v.VideoID, rec.Value),
		gen: v.Generation}
	if r, ok := ev.(contract.VideoReady); ok {
		ob.ready = &r
	}
	for _, s := range p.Stages {
		if s.Output.Topic == rec.Topic {
			ob.endsProgress = true
		}
		for _, m := range s.Milestones {
			if m.Topic == rec.Topic {
				ob.milestoneOf = s.Name
			}
		}
	}
	return ob, nil
}

// hlsKey returns the hls.master_key of an event value when it names an
// object of the video ("" otherwise): every event from video.playable on
// carries it.
func hlsKey(videoID string, value []byte) string {
	var peek struct {
		HLS *contract.HLS `json:"hls"`
	}
	if json.Unmarshal(value, &peek) != nil || peek.HLS == nil || !contract.VideoOwnsKey(videoID, peek.HLS.MasterKey) {
		return ""
	}
	return peek.HLS.MasterKey
}

// observeDone reads a work completion of stage spec: the upload it proves
// (the stage's input rank) and the completion to count.
func observeDone(p contract.Pipeline, step contract.Step, spec contract.StageSpec, rec Record) (observation, error) {
	ev, v, err := step.Decode(rec.Value)
	if err != nil {
		return observation{}, fmt.Errorf("%w: %s: %w", ErrUndecodable, rec.Topic, err)
	}
	d, ok := ev.(contract.TranscodeChunkDone)
	if !ok {
		return observation{}, fmt.Errorf("%w: %s: decoded as %T, want a contract.TranscodeChunkDone", ErrUndecodable, rec.Topic, ev)
	}
	return observation{videoID: v.VideoID, owner: v.Owner, rank: p.Rank(spec.Input), staleRank: stageRank(p, spec),
		video: &v, done: &d, doneStage: spec.Name, gen: v.Generation}, nil
}

// observeDeadLetter reads a dead letter of stage spec: the video (from the
// key when the value was moved out of Kafka, else from the value's
// envelope), the failed stage's input rank, the work item when the
// original record was one (dlq.topic is a work topic of the stage: key
// "<video id>/<item>"), and the dlq.* headers.
func observeDeadLetter(p contract.Pipeline, spec contract.StageSpec, rec Record) (observation, error) {
	ob := observation{rank: p.Rank(spec.Input), failedStage: spec.Name, staleRank: stageRank(p, spec)}
	dl, hasDL := contract.ParseDeadLetter(rec.Headers)
	if contract.IsLifecycleTopic(dl.Topic) {
		// A lifecycle consumer's dead letter (a removal or an edit that
		// kept failing): operators redrive it; it says nothing about the
		// video's processing.
		return observation{ignore: true}, nil
	}
	work, workSpec, isWork := p.WorkStep(dl.Topic)
	isWork = isWork && workSpec.Name == spec.Name
	keyID, keyItem, _ := strings.Cut(string(rec.Key), "/")
	if len(rec.Value) == 0 && contract.HeaderValue(rec.Headers, contract.HeaderDLQValueRef) != "" {
		// The original value was too large for Kafka and is stored
		// elsewhere: the key names the video (whose owner is known) and,
		// for a work item, the item.
		if !contract.IsUUID(keyID) || (keyItem != "" && !isWork) {
			return observation{}, fmt.Errorf("%w: %s: key %q of a dead letter without value is not a lowercase UUID", ErrUndecodable, rec.Topic, truncate(string(rec.Key), 64))
		}
		ob.videoID, ob.failedItem = keyID, keyItem
		ob.gen = generationUnknown
	} else {
		env, err := contract.PeekEnvelope(rec.Value)
		if err != nil {
			return observation{}, fmt.Errorf("%w: %s: %w", ErrUndecodable, rec.Topic, err)
		}
		if !contract.IsUUID(env.VideoID) {
			return observation{}, fmt.Errorf("%w: %s: video_id %q is not a lowercase UUID", ErrUndecodable, rec.Topic, truncate(env.VideoID, 64))
		}
		ob.videoID, ob.owner, ob.gen = env.VideoID, env.Owner, max(env.Generation, 0)
		decode := inputDecoder(p, spec)
		if isWork {
			decode = work.Decode
		}
		if decode != nil {
			if ev, v, err := decode(rec.Value); err == nil && v.VideoID == env.VideoID {
				ob.video = &v
				if c, ok := ev.(contract.TranscodeChunk); ok {
					ob.failedItem, ob.failedChunk = workItem(c), &c
				}
			}
		}
		if isWork && ob.failedChunk == nil && keyID == env.VideoID {
			ob.failedItem = keyItem // undecodable work item: the key still names it
		}
	}
	if hasDL {
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

// inputDecoder is the Decode of the step published to the stage's input
// topic: a dead letter of the stage's input holds such a value.
func inputDecoder(p contract.Pipeline, spec contract.StageSpec) func([]byte) (contract.Event, contract.Video, error) {
	step, ok := p.StepFor(spec.Input)
	if !ok {
		return nil
	}
	return step.Decode
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

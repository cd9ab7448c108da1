package projection

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vidpipe/vidpipe/events"
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
	Headers []events.Header
}

// offsetKey names rec's topic/partition in the per-video offsets map.
func (rec Record) offsetKey() string { return fmt.Sprintf("%s/%d", rec.Topic, rec.Partition) }

// observe reads what rec says about a video. Stage topic values must decode
// and validate in full. A dead letter's value is the original record's value,
// which may be what made the stage fail: only a video id is required (owner
// and the upload's fields are taken when present).
func observe(rec Record) (observation, error) {
	if r := topicRank(rec.Topic); r != rankNone {
		var (
			v     events.Video
			ready *events.VideoReady
			err   error
		)
		switch rec.Topic {
		case events.TopicUploaded:
			var e events.VideoUploaded
			e, err = events.Decode[events.VideoUploaded](rec.Value)
			v = e.Video
		case events.TopicTranscoded:
			var e events.VideoTranscoded
			e, err = events.Decode[events.VideoTranscoded](rec.Value)
			v = e.Video
		case events.TopicThumbnailed:
			var e events.VideoThumbnailed
			e, err = events.Decode[events.VideoThumbnailed](rec.Value)
			v = e.Video
		case events.TopicReady:
			var e events.VideoReady
			e, err = events.Decode[events.VideoReady](rec.Value)
			v, ready = e.Video, &e
		}
		if err != nil {
			return observation{}, fmt.Errorf("%w: %s: %w", ErrUndecodable, rec.Topic, err)
		}
		return observation{videoID: v.VideoID, owner: v.Owner, rank: r, video: &v, ready: ready}, nil
	}

	st, ok := events.StageForDLQ(rec.Topic)
	if !ok {
		return observation{}, fmt.Errorf("%w: unknown topic %q", ErrUndecodable, rec.Topic)
	}
	var ob observation
	if len(rec.Value) == 0 && events.HeaderValue(rec.Headers, events.HeaderDLQValueRef) != "" {
		// The original value was too large for Kafka and is stored
		// elsewhere: the key names the video (whose owner is known).
		if !events.IsUUID(string(rec.Key)) {
			return observation{}, fmt.Errorf("%w: %s: key %q of a dead letter without value is not a lowercase UUID", ErrUndecodable, rec.Topic, truncate(string(rec.Key), 64))
		}
		ob = observation{videoID: string(rec.Key), rank: topicRank(st.InputTopic()), failedStage: st}
	} else {
		env, err := events.PeekEnvelope(rec.Value)
		if err != nil {
			return observation{}, fmt.Errorf("%w: %s: %w", ErrUndecodable, rec.Topic, err)
		}
		if !events.IsUUID(env.VideoID) {
			return observation{}, fmt.Errorf("%w: %s: video_id %q is not a lowercase UUID", ErrUndecodable, rec.Topic, truncate(env.VideoID, 64))
		}
		ob = observation{videoID: env.VideoID, owner: env.Owner, rank: topicRank(st.InputTopic()), failedStage: st}
		if v, ok := inputVideo(st, rec.Value); ok && v.VideoID == env.VideoID {
			ob.video = &v
		}
	}
	if dl, ok := events.ParseDeadLetter(rec.Headers); ok {
		ob.reason, ob.errorClass, ob.attempts = dl.Err, dl.Class, dl.Attempts
		ob.errorCode = failureCode(dl)
	}
	if ob.reason == "" {
		ob.reason = "unknown error (the dead letter carries no dlq.error header)"
	}
	if ob.errorCode == "" {
		ob.errorCode = events.ErrorCodeInternal
	}
	return ob, nil
}

// failureCode is the user-safe code of a dead letter: its dlq.error_code
// (an unknown one counts as internal) or, for a dead letter written before
// that header existed, what its other headers tell: a missing source, or
// input refused before any attempt (invalid_event); else internal.
func failureCode(dl events.DeadLetter) string {
	switch {
	case dl.Code != "":
		return events.KnownErrorCode(dl.Code)
	case strings.HasPrefix(dl.Err, "source missing:"):
		return events.ErrorCodeSourceMissing
	case dl.Class == events.ErrorClassPermanent && dl.Attempts == 0:
		return events.ErrorCodeInvalidEvent
	}
	return events.ErrorCodeInternal
}

// inputVideo decodes a dead letter's value as the failed stage's input event.
func inputVideo(st events.Stage, value []byte) (events.Video, bool) {
	var (
		v   events.Video
		err error
	)
	switch st {
	case events.StageTranscode:
		var e events.VideoUploaded
		e, err = events.Decode[events.VideoUploaded](value)
		v = e.Video
	case events.StageThumbnail:
		var e events.VideoTranscoded
		e, err = events.Decode[events.VideoTranscoded](value)
		v = e.Video
	case events.StageIndexer:
		var e events.VideoThumbnailed
		e, err = events.Decode[events.VideoThumbnailed](value)
		v = e.Video
	}
	return v, err == nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

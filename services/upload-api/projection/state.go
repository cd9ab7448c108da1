package projection

import (
	"fmt"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// Status is where a video is in the pipeline.
type Status string

// The statuses, in pipeline order; StatusFailed may follow any of the first three.
const (
	StatusUploaded    Status = "uploaded"
	StatusTranscoded  Status = "transcoded"
	StatusThumbnailed Status = "thumbnailed"
	StatusReady       Status = "ready"
	StatusFailed      Status = "failed"
)

// Terminal reports whether s is ready or failed. A failed video may still
// move on after its dead letter is redriven, so a watcher that stops at a
// terminal status stops early only in that case.
func (s Status) Terminal() bool { return s == StatusReady || s == StatusFailed }

// State is the projected status of one video.
type State struct {
	VideoID string
	Owner   string
	Status  Status
	// FailedStage is the stage that dead-lettered the video (transcode,
	// thumbnail or indexer); set only when Status is failed.
	FailedStage contract.Stage
	// Reason is the dlq.error of the dead letter; set only when Status is failed.
	Reason string
	// ErrorClass is contract.ErrorClassPermanent or contract.ErrorClassExhausted;
	// set only when Status is failed.
	ErrorClass string
	// ErrorCode is the user-safe code of the failure (dlq.error_code, one
	// of contract.ErrorCodes; internal when the dead letter had none that is
	// known); set only when Status is failed. Unlike Reason it may be shown
	// to the user.
	ErrorCode string
	// Attempts is the dlq.attempts of the dead letter; set only when Status is failed.
	Attempts int
	// Version counts the changes of this video's state, starting at 1. It
	// grows by exactly one per change, so it serves as an SSE event id.
	Version int64
	// UpdatedAt is when the state last changed (database clock).
	UpdatedAt time.Time
	// Uploaded describes the upload (title, description, tags, source). It
	// is taken from the first event seen for the video, whichever stage
	// published it: every event carries the upload's fields. Nil only when
	// the video is known solely from a dead letter whose value was undecodable.
	Uploaded *contract.VideoUploaded
	// Ready is the full video document (media, renditions, HLS, thumbnails)
	// from the video.ready value; set once the video reached ready (and kept
	// from then on, since ready is final).
	Ready *contract.VideoReady
}

// Stage ranks: a higher rank is further along. The status never moves to a
// lower rank.
const (
	rankNone        = 0
	rankUploaded    = 1
	rankTranscoded  = 2
	rankThumbnailed = 3
	rankReady       = 4
)

var rankStatus = [...]Status{rankUploaded: StatusUploaded, rankTranscoded: StatusTranscoded,
	rankThumbnailed: StatusThumbnailed, rankReady: StatusReady}

// topicRank is the rank a stage topic's event proves the video reached.
func topicRank(topic string) int {
	switch topic {
	case contract.TopicUploaded:
		return rankUploaded
	case contract.TopicTranscoded:
		return rankTranscoded
	case contract.TopicThumbnailed:
		return rankThumbnailed
	case contract.TopicReady:
		return rankReady
	}
	return rankNone
}

// stageRank is the rank a stage's success would reach: a dead letter of
// that stage is stale once the video is at this rank or beyond.
func stageRank(s contract.Stage) int { return topicRank(s.OutputTopic()) }

// observation is what one record says about a video.
type observation struct {
	videoID string
	owner   string // "" when a dead letter's value carried none
	// rank the record proves the video reached: the event's own rank for a
	// stage event, the failed stage's input rank for a dead letter.
	rank int
	// failedStage is set for a dead letter.
	failedStage contract.Stage
	reason      string
	errorClass  string
	errorCode   string
	attempts    int
	video       *contract.Video // nil when the value could not be decoded in full
	ready       *contract.VideoReady
}

// row is a video's stored state.
type row struct {
	exists      bool
	owner       string
	rank        int
	failedStage contract.Stage
	reason      string
	errorClass  string
	errorCode   string
	attempts    int
	video       *contract.Video
	ready       *contract.VideoReady
}

func (r row) status() Status {
	if r.failedStage != "" {
		return StatusFailed
	}
	if r.rank >= rankUploaded && r.rank <= rankReady {
		return rankStatus[r.rank]
	}
	return ""
}

// advance applies ob to cur. It is monotonic: a stage event moves the video
// only forward (an earlier stage's redelivery changes nothing, a later
// stage's event clears a failure: the dead letter was redriven and
// succeeded); a dead letter marks the video failed unless the video is
// already at or past the rank that stage's success would reach. It returns
// changed=false when the state is the same; an error matching
// ErrUndecodable when ob cannot apply (no owner to attribute a new video
// to, or an owner that differs from the stored one).
func advance(cur row, ob observation) (next row, changed bool, err error) {
	next = cur
	switch {
	case !cur.exists && ob.owner == "":
		return cur, false, fmt.Errorf("%w: video %s: record has no owner and the video is unknown", ErrUndecodable, ob.videoID)
	case !cur.exists:
		next.exists, next.owner, changed = true, ob.owner, true
	case ob.owner != "" && ob.owner != cur.owner:
		return cur, false, fmt.Errorf("%w: video %s: record owner %q differs from the stored owner", ErrUndecodable, ob.videoID, ob.owner)
	}

	if ob.failedStage != "" {
		if cur.rank >= stageRank(ob.failedStage) {
			return next, changed, nil // stale: the stage succeeded since
		}
		next.rank = max(cur.rank, ob.rank)
		next.failedStage, next.reason, next.errorClass, next.attempts = ob.failedStage, ob.reason, ob.errorClass, ob.attempts
		next.errorCode = ob.errorCode
	} else if ob.rank > cur.rank {
		next.rank = ob.rank
		next.failedStage, next.reason, next.errorClass, next.attempts = "", "", "", 0
		next.errorCode = ""
		if ob.ready != nil {
			next.ready = ob.ready
		}
	}
	if next.video == nil && ob.video != nil {
		v := *ob.video
		next.video = &v
	}
	changed = changed || next.rank != cur.rank || next.failedStage != cur.failedStage || next.reason != cur.reason ||
		next.errorClass != cur.errorClass || next.errorCode != cur.errorCode || next.attempts != cur.attempts ||
		(next.video != nil) != (cur.video != nil) || (next.ready != nil) != (cur.ready != nil)
	return next, changed, nil
}

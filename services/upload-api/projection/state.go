package projection

import (
	"fmt"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// Status is where a video is in the pipeline: the Status of the last step
// (contract.Step) the video reached, or StatusFailed. The statuses, and
// their order, come from the store's pipeline (see WithPipeline).
type Status string

// StatusFailed is the status of a video that a stage dead-lettered; it may
// follow any status but the last one. It is the one status that is no
// step's.
const StatusFailed = Status(contract.StatusFailed)

// The statuses of contract.DefaultPipeline's steps, named after the topic
// whose event sets them: uploaded, transcoded, thumbnailed, ready.
var (
	StatusUploaded    = defaultStatus(contract.TopicUploaded)
	StatusTranscoded  = defaultStatus(contract.TopicTranscoded)
	StatusThumbnailed = defaultStatus(contract.TopicThumbnailed)
	StatusReady       = defaultStatus(contract.TopicReady)
)

// defaultStatus is the status of the DefaultPipeline step published to topic.
func defaultStatus(topic string) Status {
	st, ok := contract.DefaultPipeline().StepFor(topic)
	if !ok {
		panic("projection: " + topic + " is not a step of contract.DefaultPipeline")
	}
	return Status(st.Status)
}

// State is the projected status of one video.
type State struct {
	VideoID string
	Owner   string
	Status  Status
	// FailedStage is the stage that dead-lettered the video (one of the
	// pipeline's stages); set only when Status is failed.
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
	// Complete is true once the video reached the pipeline's last step
	// (ready, in contract.DefaultPipeline): nothing moves it any more.
	Complete bool
	// Uploaded describes the upload (title, description, tags, source). It
	// is taken from the first event seen for the video, whichever stage
	// published it: every event carries the upload's fields. Nil only when
	// the video is known solely from a dead letter whose value was undecodable.
	Uploaded *contract.VideoUploaded
	// Ready is the full video document (media, renditions, HLS, thumbnails)
	// from the video.ready value; set once the video reached ready (and kept
	// from then on: a later stage's event or dead letter does not clear it).
	Ready *contract.VideoReady
}

// Terminal reports whether the state is final for a watcher: complete
// (the pipeline's last step) or failed. A failed video may still move on
// after its dead letter is redriven, so a watcher that stops at a terminal
// state stops early only in that case.
func (st State) Terminal() bool { return st.Complete || st.Status == StatusFailed }

// A video's rank is how far along the pipeline it is: the
// contract.Pipeline.Rank of the last step it reached (1 for the entry step,
// up to MaxRank); 0 before any. The status never moves to a lower rank.
const rankNone = 0

// stageRank is the rank a stage's success reaches (its output step's): a
// dead letter of that stage is stale once the video is at this rank or
// beyond.
func stageRank(p contract.Pipeline, s contract.StageSpec) int { return p.Rank(s.Output.Topic) }

// observation is what one record says about a video.
type observation struct {
	videoID string
	owner   string // "" when a dead letter's value carried none
	// rank the record proves the video reached: the event's own rank for a
	// stage event, the failed stage's input rank for a dead letter.
	rank int
	// failedStage is set for a dead letter.
	failedStage contract.Stage
	// staleRank is, for a dead letter, the rank the failed stage's success
	// reaches: at or beyond it the dead letter is stale.
	staleRank  int
	reason     string
	errorClass string
	errorCode  string
	attempts   int
	video      *contract.Video // nil when the value could not be decoded in full
	ready      *contract.VideoReady
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

// status is r's status in pipeline p: failed, else the status of the step
// at r's rank ("" for a rank p does not have).
func (r row) status(p contract.Pipeline) Status {
	if r.failedStage != "" {
		return StatusFailed
	}
	if st, ok := p.StepAt(r.rank); ok {
		return Status(st.Status)
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
		if cur.rank >= ob.staleRank {
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

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
// whose event sets them: uploaded, playable, transcoded, thumbnailed, ready.
var (
	StatusUploaded    = defaultStatus(contract.TopicUploaded)
	StatusPlayable    = defaultStatus(contract.TopicPlayable)
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
	// FailedItem is the work item whose dead letter failed the video, as
	// its record key names it after the video id ("v00003" for video chunk
	// 3, "audio"); "" when the dead letter was of the stage's input (or of
	// a work record that is no item). Set only when Status is failed.
	FailedItem string
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
	// HLSMasterKey is the object key of the HLS master playlist, from the
	// first event that carried one (video.playable in
	// contract.DefaultPipeline, then every later step's event): from then
	// on the video can be played, while it is still being transcoded.
	HLSMasterKey string
	// Deleted reports that the owner deleted the video (DELETE
	// /v1/videos/{id}). Get answers ErrNotFound for it; Subscribe delivers
	// the deleted state once, so that event streams end.
	Deleted bool
	// Edited is when the owner last edited the metadata (PATCH); zero
	// when never. Uploaded and Ready then show the edit.
	Edited time.Time
	// Progress is how far the transcode of the video is: set from the
	// first video.transcode.chunks-done record until the video reaches
	// video.transcoded (the output of the stage whose work it counts),
	// and never while Status is failed.
	Progress *Progress
	// Generation is the output generation served (contract.Video.Generation):
	// Status, HLSMasterKey, Ready and the failure are that generation's.
	// 0 until a reprocess's generation replaces it (see generation.go).
	Generation int
	// Reprocessing is a newer generation being made while this one stays
	// served (the video is ready); nil when none is running or failed.
	Reprocessing *Reprocessing
}

// Progress counts the finished work of a stage that splits a video into
// work items (transcode: video chunks and the audio, see contract.TranscodeChunkDone),
// for the latest run seen. Each video chunk counts once, however often its
// completion is delivered; the audio item is no chunk and its segments are
// not counted.
type Progress struct {
	// SegmentsDone is the number of media segments per rung of the chunks
	// done; SegmentsTotal the number per rung of the whole video.
	SegmentsDone  int
	SegmentsTotal int
	// ChunksDone and ChunksTotal count the video chunks.
	ChunksDone  int
	ChunksTotal int
	// AudioComplete reports that the audio item finished.
	AudioComplete bool
}

// Terminal reports whether the state is final for a watcher: complete
// (the pipeline's last step) or failed. A failed video may still move on
// after its dead letter is redriven, so a watcher that stops at a terminal
// state stops early only in that case.
//
// A ready video whose newer generation is being made (Reprocessing, not
// failed) is not terminal: it changes again when that generation is ready.
func (st State) Terminal() bool {
	if st.Reprocessing != nil && st.Reprocessing.Status != StatusFailed {
		return false
	}
	return st.Complete || st.Status == StatusFailed
}

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
	// failedItem is, for a dead letter of a work item (contract.TranscodeChunk),
	// the item ("v00003", "audio"); failedChunk the item itself when the
	// dead letter's value decoded (nil when it was moved out of Kafka).
	failedItem  string
	failedChunk *contract.TranscodeChunk
	video       *contract.Video // nil when the value could not be decoded in full
	ready       *contract.VideoReady
	// hlsKey is the HLS master key the event carries ("" for none).
	hlsKey string
	// milestoneOf is set for an event of a stage's milestone
	// (video.playable: transcode).
	milestoneOf contract.Stage
	// endsProgress is set for an event of a stage's output: the stage's
	// work is over, its progress is dropped.
	endsProgress bool
	// done is set for a record of a stage's work completions
	// (video.transcode.chunks-done), of stage doneStage; staleRank is then
	// the rank at which it no longer counts (the stage's output).
	done      *contract.TranscodeChunkDone
	doneStage contract.Stage
	// ignore is set for a record the projection has no use for (a work
	// topic other than the completions): Apply skips it.
	ignore bool
	// gen is the output generation the record is of (contract.Video.Generation),
	// generationUnknown when it names none (a dead letter without value).
	gen int
	// maxRank is the rank of the pipeline's last step.
	maxRank int
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
	failedItem  string
	video       *contract.Video
	ready       *contract.VideoReady
	hlsKey      string
	progress    *progressDoc
	// generation is the output generation served; reproc a newer one
	// being made (see generation.go).
	generation int
	reproc     *reprocDoc
	// deleted: the owner deleted the video; no record applies any more.
	deleted bool
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
// already at or past the rank that stage's success would reach.
//
// Work items (contract.TranscodeChunk) add three rules. A dead letter of a
// work item is also stale when that item's completion was already counted
// for the same run. A failure of a work item is not cleared by a
// milestone of its stage (video.playable may be published while another
// chunk fails: the video is still failed), only by the item's own
// completion (it was redriven and succeeded) or by a later step (the
// stage's output). A completion counts toward the progress until the
// video reaches the output of the completion's stage, which drops it.
//
// It returns changed=false when the state is the same; an error matching
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

	clearFailure := func() {
		next.failedStage, next.reason, next.errorClass, next.attempts = "", "", "", 0
		next.errorCode, next.failedItem = "", ""
	}
	switch {
	case ob.failedStage != "":
		if cur.rank >= ob.staleRank || settled(cur.progress, ob.failedChunk) {
			break // stale: the stage (or the item) succeeded since
		}
		next.rank = max(cur.rank, ob.rank)
		next.failedStage, next.reason, next.errorClass, next.attempts = ob.failedStage, ob.reason, ob.errorClass, ob.attempts
		next.errorCode, next.failedItem = ob.errorCode, ob.failedItem
	case ob.done != nil:
		if cur.rank >= ob.staleRank {
			break // the stage's work is over
		}
		next.rank = max(cur.rank, ob.rank)
		next.progress = cur.progress.with(*ob.done)
		if cur.failedStage == ob.doneStage && resolves(*ob.done, cur.failedItem) {
			clearFailure()
		}
	case ob.rank > cur.rank:
		next.rank = ob.rank
		if cur.failedItem == "" || ob.milestoneOf == "" || ob.milestoneOf != cur.failedStage {
			clearFailure()
		}
		if ob.ready != nil {
			next.ready = ob.ready
		}
		if ob.endsProgress {
			next.progress = nil
		}
	}
	if next.video == nil && ob.video != nil {
		v := *ob.video
		next.video = &v
	}
	if next.hlsKey == "" && ob.hlsKey != "" {
		next.hlsKey = ob.hlsKey
	}
	changed = changed || next.rank != cur.rank || next.failedStage != cur.failedStage || next.reason != cur.reason ||
		next.errorClass != cur.errorClass || next.errorCode != cur.errorCode || next.attempts != cur.attempts ||
		next.failedItem != cur.failedItem || next.hlsKey != cur.hlsKey || !next.progress.equal(cur.progress) ||
		(next.video != nil) != (cur.video != nil) || (next.ready != nil) != (cur.ready != nil) ||
		next.generation != cur.generation || !reprocEqual(next.reproc, cur.reproc)
	return next, changed, nil
}

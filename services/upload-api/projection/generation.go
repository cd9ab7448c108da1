package projection

import (
	"encoding/json"

	"github.com/vidpipe/vidpipe/contract"
)

// Output generations (contract.Video.Generation). A video's row serves one
// generation (column generation, 0 for the upload's own run): its status,
// HLS master key and ready document are that generation's. A reprocess
// runs generation N > 0 through the pipeline again:
//
//   - While the served generation is complete (ready), generation N is
//     followed apart, in column reprocessing ([Reprocessing]: its rank,
//     failure and progress, by the same rules as the served generation's),
//     and the served document stays as it is. When generation N reaches
//     the last step, it replaces the served one in the same transaction
//     (status, HLS master key, ready document, generation) and
//     reprocessing is cleared. A failure of generation N shows in
//     reprocessing only; the video stays ready.
//   - While the served generation is not complete (failed, or still on
//     its way), nothing is being served that a newer generation could
//     spoil: generation N's first record replaces the row's state at once.
//   - A record of a generation older than the one served, or than the one
//     being reprocessed (when it is newer than the served one), changes
//     nothing: an older generation never overwrites a newer one.
//
// A dead letter whose value was moved out of Kafka (dlq.value_ref) names
// no generation; it is taken to be of the newest generation the row knows
// (the one being reprocessed, else the served one).

// generationUnknown is observation.gen of a record that names no generation.
const generationUnknown = -1

// Reprocessing is a newer output generation running while the video's
// served generation stays as it is (see State.Reprocessing).
type Reprocessing struct {
	// Generation is the generation being made (> State.Generation).
	Generation int
	// Status is where that generation is: the status of the last step it
	// reached, or StatusFailed (the video itself stays ready).
	Status Status
	// FailedStage, Reason, ErrorClass, ErrorCode, Attempts and FailedItem
	// describe its failure as State's fields of the same names do; set
	// only when Status is failed.
	FailedStage contract.Stage
	Reason      string
	ErrorClass  string
	ErrorCode   string
	Attempts    int
	FailedItem  string
	// Progress counts its transcode work, as State.Progress does.
	Progress *Progress
}

// reprocDoc is the stored form of a generation being reprocessed (column
// reprocessing, JSON): the row fields advance works on.
type reprocDoc struct {
	Generation  int                  `json:"generation"`
	Rank        int                  `json:"rank"`
	FailedStage contract.Stage       `json:"failed_stage,omitempty"`
	Reason      string               `json:"reason,omitempty"`
	ErrorClass  string               `json:"error_class,omitempty"`
	ErrorCode   string               `json:"error_code,omitempty"`
	Attempts    int                  `json:"attempts,omitempty"`
	FailedItem  string               `json:"failed_item,omitempty"`
	HLSKey      string               `json:"hls_master_key,omitempty"`
	Progress    *progressDoc         `json:"progress,omitempty"`
	Ready       *contract.VideoReady `json:"ready,omitempty"`
}

// asRow is d as a row of owner's video, for advance.
func (d *reprocDoc) asRow(owner string) row {
	return row{exists: true, owner: owner, generation: d.Generation, rank: d.Rank, failedStage: d.FailedStage,
		reason: d.Reason, errorClass: d.ErrorClass, errorCode: d.ErrorCode, attempts: d.Attempts,
		failedItem: d.FailedItem, hlsKey: d.HLSKey, progress: d.Progress, ready: d.Ready}
}

func reprocOf(r row) *reprocDoc {
	return &reprocDoc{Generation: r.generation, Rank: r.rank, FailedStage: r.failedStage, Reason: r.reason,
		ErrorClass: r.errorClass, ErrorCode: r.errorCode, Attempts: r.attempts, FailedItem: r.failedItem,
		HLSKey: r.hlsKey, Progress: r.progress, Ready: r.ready}
}

// public is d as State shows it, statuses named by pipeline p.
func (d *reprocDoc) public(p contract.Pipeline) *Reprocessing {
	if d == nil {
		return nil
	}
	r := d.asRow("")
	out := &Reprocessing{Generation: d.Generation, Status: r.status(p), FailedStage: d.FailedStage, Reason: d.Reason,
		ErrorClass: d.ErrorClass, ErrorCode: d.ErrorCode, Attempts: d.Attempts, FailedItem: d.FailedItem}
	if d.FailedStage == "" {
		out.Progress = d.Progress.public()
	}
	return out
}

func reprocEqual(a, b *reprocDoc) bool {
	if a == nil || b == nil {
		return a == b
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// complete reports whether r has reached the pipeline's last step
// (maxRank) and is not failed.
func (r row) complete(maxRank int) bool { return r.failedStage == "" && r.rank >= maxRank }

// advanceGen applies ob to cur across output generations (see above) and
// applies advance within one.
func advanceGen(cur row, ob observation) (next row, changed bool, err error) {
	gen := ob.gen
	if gen == generationUnknown {
		gen = cur.generation
		if cur.reproc != nil {
			gen = cur.reproc.Generation
		}
	}
	switch {
	case !cur.exists:
		cur.generation = gen
		return advance(cur, ob)
	case gen < cur.generation:
		return cur, false, ownerCheck(cur, ob)
	case gen == cur.generation:
		return advance(cur, ob)
	case !cur.complete(ob.maxRank):
		// Nothing complete is served: generation gen takes over now.
		fresh := row{exists: true, owner: cur.owner, generation: gen, video: cur.video}
		next, _, err := advance(fresh, ob)
		if err != nil {
			return cur, false, err
		}
		return next, true, nil
	}
	sub := row{exists: true, owner: cur.owner, generation: gen}
	if cur.reproc != nil {
		switch {
		case gen < cur.reproc.Generation:
			return cur, false, ownerCheck(cur, ob) // an abandoned reprocess
		case gen == cur.reproc.Generation:
			sub = cur.reproc.asRow(cur.owner)
		}
	}
	sub, subChanged, err := advance(sub, ob)
	if err != nil {
		return cur, false, err
	}
	next = cur
	if sub.complete(ob.maxRank) {
		// Generation gen is ready: it is served from now on.
		next.generation, next.rank, next.ready, next.hlsKey = gen, sub.rank, sub.ready, sub.hlsKey
		next.failedStage, next.reason, next.errorClass, next.errorCode, next.attempts, next.failedItem = "", "", "", "", 0, ""
		next.progress, next.reproc = nil, nil
		return next, true, nil
	}
	next.reproc = reprocOf(sub)
	return next, subChanged || cur.reproc == nil || cur.reproc.Generation != gen || !reprocEqual(cur.reproc, next.reproc), nil
}

// ownerCheck refuses a record whose owner differs from the stored one
// (as advance does), also when the record changes nothing.
func ownerCheck(cur row, ob observation) error {
	_, _, err := advance(cur, observation{videoID: ob.videoID, owner: ob.owner})
	return err
}

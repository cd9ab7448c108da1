package projection

import (
	"errors"
	"testing"

	"github.com/vidpipe/vidpipe/contract"
)

// step builds one record of a scenario from the video's events.
type step func(tb testing.TB, c chain) Record

func up(tb testing.TB, c chain) Record    { return eventRecord(tb, c.up) }
func pl(tb testing.TB, c chain) Record    { return eventRecord(tb, c.pl) }
func tr(tb testing.TB, c chain) Record    { return eventRecord(tb, c.tr) }
func th(tb testing.TB, c chain) Record    { return eventRecord(tb, c.th) }
func ready(tb testing.TB, c chain) Record { return eventRecord(tb, c.ready) }

func dlq(st contract.Stage, reason string) step {
	return func(tb testing.TB, c chain) Record {
		var in contract.Event
		switch st {
		case contract.StageTranscode:
			in = c.up
		case contract.StageThumbnail:
			in = c.tr
		case contract.StageIndexer:
			in = c.th
		}
		return dlqRecord(tb, st, in, reason, contract.ErrorClassExhausted)
	}
}

// chunkDLQ is the dead letter of the chain's work item index (-1: audio),
// as transcode's chunk consumer writes it.
func chunkDLQ(index int, reason string) step {
	return func(tb testing.TB, c chain) Record {
		return dlqRecord(tb, contract.StageTranscode, c.chunk(index), reason, contract.ErrorClassExhausted)
	}
}

// done is the completion of the chain's work item index (-1: audio).
func done(index, segments int, complete bool) step {
	return func(tb testing.TB, c chain) Record { return eventRecord(tb, c.done(index, segments, complete)) }
}

type want struct {
	status Status
	stage  contract.Stage
	reason string
	ready  bool
}

// scenarios are record sequences of one video and the state they must
// leave, whatever order the topics were read in. The store tests replay
// them against PostgreSQL.
var scenarios = map[string]struct {
	steps []step
	want  want
}{
	"uploaded":                        {[]step{up}, want{status: StatusUploaded}},
	"in order to ready":               {[]step{up, tr, th, ready}, want{status: StatusReady, ready: true}},
	"duplicates":                      {[]step{up, up, tr, tr, th, th}, want{status: StatusThumbnailed}},
	"ready before the rest":           {[]step{ready, up, tr, th}, want{status: StatusReady, ready: true}},
	"earlier stage redelivered":       {[]step{up, tr, th, tr, up}, want{status: StatusThumbnailed}},
	"transcode failed":                {[]step{up, dlq(contract.StageTranscode, "ffmpeg: moov atom not found")}, want{StatusFailed, contract.StageTranscode, "ffmpeg: moov atom not found", false}},
	"dead letter before upload":       {[]step{dlq(contract.StageTranscode, "boom"), up}, want{StatusFailed, contract.StageTranscode, "boom", false}},
	"thumbnail failed":                {[]step{up, tr, dlq(contract.StageThumbnail, "no frame")}, want{StatusFailed, contract.StageThumbnail, "no frame", false}},
	"indexer failed":                  {[]step{up, tr, th, dlq(contract.StageIndexer, "db down")}, want{StatusFailed, contract.StageIndexer, "db down", false}},
	"stale transcode dlq ready":       {[]step{up, tr, th, ready, dlq(contract.StageTranscode, "old")}, want{status: StatusReady, ready: true}},
	"stale transcode dlq":             {[]step{up, tr, dlq(contract.StageTranscode, "old")}, want{status: StatusTranscoded}},
	"redrive then ready":              {[]step{up, dlq(contract.StageTranscode, "timeout"), up, tr, th, ready}, want{status: StatusReady, ready: true}},
	"redrive then transcoded":         {[]step{up, dlq(contract.StageTranscode, "timeout"), tr}, want{status: StatusTranscoded}},
	"redelivered upload stays failed": {[]step{up, dlq(contract.StageTranscode, "timeout"), up}, want{StatusFailed, contract.StageTranscode, "timeout", false}},
	"later stage failure wins":        {[]step{up, dlq(contract.StageTranscode, "a"), tr, dlq(contract.StageThumbnail, "b")}, want{StatusFailed, contract.StageThumbnail, "b", false}},
	"later dlq read first":            {[]step{dlq(contract.StageThumbnail, "b"), dlq(contract.StageTranscode, "a")}, want{StatusFailed, contract.StageThumbnail, "b", false}},
	"failed again after redrive":      {[]step{up, dlq(contract.StageTranscode, "a"), dlq(contract.StageTranscode, "b")}, want{StatusFailed, contract.StageTranscode, "b", false}},

	// The segment pipeline: video.playable, work completions, chunk dead letters.
	"playable":                            {[]step{up, done(0, 3, true), done(-1, 1, false), pl}, want{status: StatusPlayable}},
	"in order to ready with playable":     {[]step{up, done(0, 3, true), pl, done(1, 2, true), done(-1, 9, true), tr, th, ready}, want{status: StatusReady, ready: true}},
	"playable read after transcoded":      {[]step{up, tr, pl}, want{status: StatusTranscoded}},
	"completion read after transcoded":    {[]step{up, tr, done(1, 2, true)}, want{status: StatusTranscoded}},
	"completion before the upload":        {[]step{done(0, 3, true), up}, want{status: StatusUploaded}},
	"upload failed, redrive playable":     {[]step{up, dlq(contract.StageTranscode, "timeout"), pl}, want{status: StatusPlayable}},
	"chunk failed":                        {[]step{up, chunkDLQ(1, "ffmpeg: exit 1")}, want{StatusFailed, contract.StageTranscode, "ffmpeg: exit 1", false}},
	"chunk failed while playable":         {[]step{up, done(0, 3, true), pl, chunkDLQ(1, "x")}, want{StatusFailed, contract.StageTranscode, "x", false}},
	"playable does not hide a chunk":      {[]step{up, done(0, 3, true), chunkDLQ(1, "x"), pl}, want{StatusFailed, contract.StageTranscode, "x", false}},
	"chunk redriven and done":             {[]step{up, done(0, 3, true), chunkDLQ(1, "x"), pl, done(1, 2, true)}, want{status: StatusPlayable}},
	"chunk redriven then transcoded":      {[]step{up, chunkDLQ(1, "x"), tr}, want{status: StatusTranscoded}},
	"first chunk redriven then playable":  {[]step{up, chunkDLQ(0, "x"), done(0, 3, true), pl}, want{status: StatusPlayable}},
	"playable read before the redriven":   {[]step{up, chunkDLQ(0, "x"), pl, done(0, 3, true)}, want{status: StatusPlayable}},
	"other chunk done keeps the failure":  {[]step{up, chunkDLQ(1, "x"), done(0, 3, true), done(0, 3, true)}, want{StatusFailed, contract.StageTranscode, "x", false}},
	"stale chunk dead letter":             {[]step{up, done(1, 2, true), chunkDLQ(1, "late")}, want{status: StatusUploaded}},
	"stale chunk dead letter, transcoded": {[]step{up, tr, chunkDLQ(1, "late")}, want{status: StatusTranscoded}},
	"audio failed, progress not enough":   {[]step{up, chunkDLQ(-1, "aac"), done(-1, 4, false)}, want{StatusFailed, contract.StageTranscode, "aac", false}},
	"audio redriven and complete":         {[]step{up, chunkDLQ(-1, "aac"), done(-1, 4, false), done(-1, 9, true)}, want{status: StatusUploaded}},
}

func TestAdvance(t *testing.T) {
	for name, sc := range scenarios {
		t.Run(name, func(t *testing.T) {
			c := newChain(t, "alice")
			var cur row
			for i, s := range sc.steps {
				ob, err := observe(testPipeline, s(t, c))
				if err != nil {
					t.Fatalf("step %d: observe: %v", i, err)
				}
				next, changed, err := advance(cur, ob)
				if err != nil {
					t.Fatalf("step %d: advance: %v", i, err)
				}
				if again, changedAgain, _ := advance(next, ob); changedAgain || again.status(testPipeline) != next.status(testPipeline) {
					t.Fatalf("step %d: applying the same record twice changed the state", i)
				}
				if want := !cur.exists || differs(cur, next); changed != want {
					t.Fatalf("step %d: changed = %v, want %v (%+v -> %+v)", i, changed, want, cur, next)
				}
				cur = next
			}
			if got := cur.status(testPipeline); got != sc.want.status {
				t.Fatalf("status = %q, want %q", got, sc.want.status)
			}
			if cur.failedStage != sc.want.stage || cur.reason != sc.want.reason {
				t.Fatalf("failure = (%q, %q), want (%q, %q)", cur.failedStage, cur.reason, sc.want.stage, sc.want.reason)
			}
			if (cur.ready != nil) != sc.want.ready {
				t.Fatalf("ready document present = %v, want %v", cur.ready != nil, sc.want.ready)
			}
			if cur.owner != "alice" || cur.video == nil || cur.video.VideoID != c.up.VideoID {
				t.Fatalf("owner/video = %q/%+v, want alice and the upload's video", cur.owner, cur.video)
			}
		})
	}
}

func TestAdvanceOwner(t *testing.T) {
	c := newChain(t, "alice")
	ob, err := observe(testPipeline, eventRecord(t, c.up))
	if err != nil {
		t.Fatal(err)
	}
	cur, _, err := advance(row{}, ob)
	if err != nil {
		t.Fatal(err)
	}
	mallory := ob
	mallory.owner = "mallory"
	if _, _, err := advance(cur, mallory); !errors.Is(err, ErrUndecodable) {
		t.Fatalf("record with another owner: err = %v, want ErrUndecodable", err)
	}
	anon := ob
	anon.owner = ""
	if _, _, err := advance(row{}, anon); !errors.Is(err, ErrUndecodable) {
		t.Fatalf("new video without owner: err = %v, want ErrUndecodable", err)
	}
	if next, _, err := advance(cur, anon); err != nil || next.owner != "alice" {
		t.Fatalf("known video, record without owner: owner %q err %v, want alice and nil", next.owner, err)
	}
}

// differs reports whether two rows hold a different state.
func differs(a, b row) bool {
	return a.owner != b.owner || a.rank != b.rank || a.failedStage != b.failedStage || a.reason != b.reason ||
		a.errorClass != b.errorClass || a.attempts != b.attempts || a.failedItem != b.failedItem || a.hlsKey != b.hlsKey ||
		!a.progress.equal(b.progress) ||
		(a.video != nil) != (b.video != nil) || (a.ready != nil) != (b.ready != nil)
}

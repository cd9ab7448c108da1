package projection

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
)

// videoNooped is the event of a stage declared only here, "noop", which
// follows indexer and re-publishes the video.ready document under its own
// type and topic.
type videoNooped struct{ contract.VideoReady }

const (
	topicNooped  = "video.nooped"
	topicNoopDLQ = "video.noop.dlq"
	typeNooped   = "dev.vidpipe.video.nooped.v1"
)

func (videoNooped) EventType() string { return typeNooped }
func (videoNooped) Topic() string     { return topicNooped }

// noopPipeline is the default pipeline's first three stages (transcode,
// thumbnail, indexer: what the chain fixture builds events for) with the
// noop stage appended.
func noopPipeline(tb testing.TB) contract.Pipeline {
	tb.Helper()
	base := contract.DefaultPipeline()
	base.Stages = base.Stages[:3]
	p, err := base.With(contract.StageSpec{Name: "noop", Input: contract.TopicReady, DLQ: topicNoopDLQ,
		Output: contract.Step{Topic: topicNooped, Type: typeNooped, Status: "nooped", Decode: contract.DecodeAs[videoNooped]}})
	if err != nil {
		tb.Fatalf("declare the noop stage: %v", err)
	}
	return p
}

// noopDeadLetter is the dead letter the noop stage writes for its input.
func noopDeadLetter(tb testing.TB, in contract.VideoReady, reason string) Record {
	tb.Helper()
	orig := eventRecord(tb, in)
	dl := contract.DeadLetter{Stage: "noop", Topic: in.Topic(), Group: "noop", Err: reason, Class: contract.ErrorClassPermanent,
		Attempts: 1, FailedAt: time.Now()}
	return Record{Topic: topicNoopDLQ, Offset: -1, Value: orig.Value, Headers: dl.Headers(orig.Headers)}
}

// TestObserveExtraStage: the ranks and decoders come from the pipeline: a
// stage appended at run time has its output ranked after ready and its
// dead letters attributed to it, while the default pipeline refuses both
// topics.
func TestObserveExtraStage(t *testing.T) {
	p := noopPipeline(t)
	c := newChain(t, "alice")
	nooped := eventRecord(t, videoNooped{c.ready})
	ob, err := observe(p, nooped)
	if err != nil {
		t.Fatalf("observe %s: %v", topicNooped, err)
	}
	if ob.rank != 6 || ob.videoID != c.up.VideoID || ob.ready != nil {
		t.Fatalf("nooped: rank %d video %s ready doc %v, want 6, %s, none (not a VideoReady)", ob.rank, ob.videoID, ob.ready != nil, c.up.VideoID)
	}
	ob, err = observe(p, noopDeadLetter(t, c.ready, "noop broke"))
	if err != nil {
		t.Fatalf("observe %s: %v", topicNoopDLQ, err)
	}
	if ob.failedStage != "noop" || ob.rank != 5 || ob.staleRank != 6 || ob.video == nil || ob.reason != "noop broke" {
		t.Fatalf("noop dead letter: stage %q rank %d stale at %d video %v reason %q, want noop 5 6 decoded \"noop broke\"",
			ob.failedStage, ob.rank, ob.staleRank, ob.video != nil, ob.reason)
	}
	for _, rec := range []Record{nooped, noopDeadLetter(t, c.ready, "x")} {
		if _, err := observe(testPipeline, rec); !errors.Is(err, ErrUndecodable) {
			t.Errorf("default pipeline, %s: err = %v, want ErrUndecodable", rec.Topic, err)
		}
	}
}

// TestApplyExtraStage: a store on a pipeline with an extra stage moves a
// video past ready to the stage's status (stored as rank 6, which the
// original schema refused), marks it failed with that stage on its dead
// letter, and ignores the dead letter once the stage succeeded.
func TestApplyExtraStage(t *testing.T) {
	url := MustNewDatabase(t)
	s := MustStore(t, url, WithPipeline(noopPipeline(t)))
	ctx := context.Background()

	done, broken := newChain(t, "alice"), newChain(t, "alice")
	for _, c := range []chain{done, broken} {
		for _, e := range []contract.Event{c.up, c.tr, c.th, c.ready} {
			mustApply(t, s, eventRecord(t, e))
		}
	}
	st := mustGet(t, s, "alice", done.up.VideoID)
	if st.Status != StatusReady || st.Complete || st.Terminal() {
		t.Fatalf("after video.ready: status %s complete %v terminal %v, want ready, not complete: noop follows", st.Status, st.Complete, st.Terminal())
	}

	mustApply(t, s, eventRecord(t, videoNooped{done.ready}))
	st = mustGet(t, s, "alice", done.up.VideoID)
	if st.Status != "nooped" || !st.Complete || !st.Terminal() || st.Ready == nil || st.Version != 5 {
		t.Fatalf("after %s: status %s complete %v ready doc %v v%d, want nooped, complete, the ready document kept, v5",
			topicNooped, st.Status, st.Complete, st.Ready != nil, st.Version)
	}
	var rank int
	var status string
	if err := s.pool.QueryRow(ctx, `SELECT stage_rank, status FROM video_status WHERE id = $1`, done.up.VideoID).Scan(&rank, &status); err != nil {
		t.Fatal(err)
	}
	if rank != 6 || status != "nooped" {
		t.Fatalf("stored rank/status = %d/%s, want 6/nooped", rank, status)
	}
	// Stale: the stage succeeded before its dead letter was read.
	mustApply(t, s, noopDeadLetter(t, done.ready, "late"))
	if st := mustGet(t, s, "alice", done.up.VideoID); st.Status != "nooped" || st.Version != 5 {
		t.Fatalf("stale noop dead letter: status %s v%d, want nooped v5", st.Status, st.Version)
	}

	mustApply(t, s, noopDeadLetter(t, broken.ready, "noop broke"))
	st = mustGet(t, s, "alice", broken.up.VideoID)
	if st.Status != StatusFailed || st.FailedStage != "noop" || st.Reason != "noop broke" || !st.Terminal() || st.Complete {
		t.Fatalf("noop dead letter: status %s stage %q reason %q complete %v, want failed, noop, \"noop broke\", not complete",
			st.Status, st.FailedStage, st.Reason, st.Complete)
	}
	if st.Ready == nil {
		t.Fatal("noop dead letter dropped the ready document")
	}
}

// TestOpenRefusesInvalidPipeline: a pipeline that does not chain is an error.
func TestOpenRefusesInvalidPipeline(t *testing.T) {
	p := contract.DefaultPipeline()
	p.Stages[1].Input = "video.elsewhere"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Open(ctx, MustPool(t, MustNewDatabase(t)), WithPipeline(p)); err == nil {
		t.Fatal("Open accepted a pipeline whose thumbnail stage does not consume transcode's output")
	}
}

// TestConsumerReadsThePipelinesTopics: a consumer of a store with an extra
// stage subscribes to that stage's output and dead-letter topics too.
func TestConsumerReadsThePipelinesTopics(t *testing.T) {
	url := MustNewDatabase(t)
	s := MustStore(t, url, WithPipeline(noopPipeline(t)))
	c := NewConsumer(config.Kafka{}, s, nil)
	for _, topic := range []string{contract.TopicUploaded, contract.TopicIndexerDLQ, "video.nooped", "video.noop.dlq"} {
		if !slices.Contains(c.topics, topic) {
			t.Errorf("consumer topics %v lack %s", c.topics, topic)
		}
	}
}

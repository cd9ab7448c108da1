package stage_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/stage"
)

// A fan-out handler publishes work items with stage.Publish and returns
// ErrNoOutput: the items arrive spread over every partition of the spread
// topic, carry the derived ids and the input's trace, nothing reaches the
// output topic, and the input is committed.
func TestPublishFansOutAndNoOutputCommits(t *testing.T) {
	e := newEnv(t, 4)
	e.opts.Spread = []string{contract.TopicTranscodeChunks}
	in := uploaded(contract.NewID())
	e.produce(t, in)
	const items = 8
	var inputID string
	e.start(t, func(ctx context.Context, up contract.VideoUploaded) (contract.VideoTranscoded, error) {
		inputID = stage.InputID(ctx)
		var (
			evs []contract.Event
			ids []string
		)
		for i := range items {
			item := contract.TranscodeChunk{SchemaVersion: contract.SchemaVersion, Video: up.Video, Run: inputID,
				Kind: contract.ChunkVideo, Index: i, Chunks: items,
				PlanKey: contract.ChunkWorkPrefix(up.VideoID, inputID) + "plan.json"}
			if i == 0 { // one on its own, the rest in one batch
				if err := stage.Publish(ctx, item, contract.DeriveID(inputID, item.Key())); err != nil {
					return contract.VideoTranscoded{}, err
				}
				continue
			}
			evs, ids = append(evs, item), append(ids, contract.DeriveID(inputID, item.Key()))
		}
		if err := stage.PublishAll(ctx, evs, ids); err != nil {
			return contract.VideoTranscoded{}, err
		}
		return contract.VideoTranscoded{}, stage.ErrNoOutput
	})
	got := e.k.ReadAll(t, contract.TopicTranscodeChunks, items, 30*time.Second)
	if len(got) != items {
		t.Fatalf("got %d work items, want %d", len(got), items)
	}
	perPartition := map[int]int{}
	for _, m := range got {
		perPartition[m.Partition]++
		item, err := contract.Decode[contract.TranscodeChunk](m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != item.Key() || header(m, contract.HeaderID) != contract.DeriveID(inputID, item.Key()) {
			t.Errorf("item %d: key %q id %q", item.Index, m.Key, header(m, contract.HeaderID))
		}
		if contract.TraceID(header(m, contract.HeaderTraceparent)) != contract.TraceID(e.parent) {
			t.Errorf("item %d does not continue the input's trace", item.Index)
		}
	}
	for p := range 4 {
		if perPartition[p] != items/4 {
			t.Errorf("partition %d got %d items, want %d (spread in turn): %v", p, perPartition[p], items/4, perPartition)
		}
	}
	e.waitLag(t, contract.TopicUploaded)
	if out := e.k.ReadAll(t, contract.TopicTranscoded, 0, 5*time.Second); len(out) != 0 {
		t.Errorf("ErrNoOutput published %d output records", len(out))
	}
	if err := stage.Publish(context.Background(), uploaded(contract.NewID()), contract.NewID()); err == nil {
		t.Error("Publish outside a handler succeeded")
	}
}

// Several Run in one process: the one serving /healthz fails it when
// another's liveness (passed on through OnLiveness) fails, and the other,
// with NoHTTP, listens nowhere.
func TestLivenessOfAnotherRun(t *testing.T) {
	e := newEnv(t, 1)
	broken := errors.New("publishing stuck for 10m")
	var failing atomic.Bool
	e.opts.Liveness = []func() error{func() error {
		if failing.Load() {
			return broken
		}
		return nil
	}}
	r := e.start(t, transcodeOK)
	addr := r.httpAddr(t)
	if code, _ := get(t, "http://"+addr+"/healthz"); code != 200 {
		t.Fatalf("/healthz = %d before the other run fails", code)
	}
	failing.Store(true)
	if code, body := get(t, "http://"+addr+"/healthz"); code != 503 || !strings.Contains(body, broken.Error()) {
		t.Fatalf("/healthz = %d %q, want 503 naming the other run's failure", code, body)
	}
}

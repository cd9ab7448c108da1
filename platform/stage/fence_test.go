package stage_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/platform/storage"
)

// fencedEnv is a stage environment with a real MinIO bucket and the fence
// of a stage that owns videos/{id}/mp4/.
func fencedEnv(t *testing.T) (*env, *storage.Store) {
	t.Helper()
	e := newEnv(t, 1)
	m := harness.SharedMinIO(t)
	store, err := storage.New(m.S3Config(harness.MustBucket(t, m)))
	if err != nil {
		t.Fatal(err)
	}
	e.opts.Fence = stage.ObjectFence{Store: store, Owned: func(id string) []string {
		return []string{contract.OutputPrefix(id) + "mp4/"}
	}}
	return e, store
}

func putObject(t *testing.T, ctx context.Context, s *storage.Store, key string) {
	t.Helper()
	if _, err := s.Put(ctx, key, bytes.NewReader([]byte("x")), 1, "application/octet-stream"); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func listKeys(t *testing.T, s *storage.Store, prefix string) []string {
	t.Helper()
	objs, err := s.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys
}

// TestFenceRemovesOutputsWrittenAfterTheTombstone: the video is deleted
// while the handler runs (the handler writes its output, then the
// tombstone appears): the runtime removes the output and publishes
// nothing, no dead letter either, and commits the input.
func TestFenceRemovesOutputsWrittenAfterTheTombstone(t *testing.T) {
	e, store := fencedEnv(t)
	in := uploaded(contract.NewID())
	e.produce(t, in)
	var calls atomic.Int32
	r := e.start(t, func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
		calls.Add(1)
		putObject(t, ctx, store, contract.RenditionKey(in.VideoID, "360p"))
		putObject(t, ctx, store, contract.TombstoneKey(in.VideoID)) // DELETE arrives mid-attempt
		return transcodeOK(ctx, in)
	})
	e.waitLag(t, contract.TopicUploaded)
	if got := listKeys(t, store, contract.OutputPrefix(in.VideoID)); len(got) != 0 {
		t.Errorf("objects left under the deleted video's prefix: %v", got)
	}
	if n := len(e.k.ReadAll(t, contract.TopicTranscoded, 0, 500*time.Millisecond)); n != 0 {
		t.Errorf("%d output records for a deleted video, want 0", n)
	}
	if n := len(e.k.ReadAll(t, contract.TopicTranscodeDLQ, 0, 200*time.Millisecond)); n != 0 {
		t.Errorf("%d dead letters for a deleted video, want 0", n)
	}
	if c := calls.Load(); c != 1 {
		t.Errorf("handler called %d times, want 1", c)
	}
	metrics := scrape(t, r.httpAddr(t))
	if got, ok := metrics.Value("vidpipe_stage_messages_total", "outcome", stage.OutcomeDeleted, "stage", "transcode"); !ok || got != 1 {
		t.Errorf("messages_total{outcome=deleted} = %v (present %v), want 1", got, ok)
	}
}

// TestFenceDropsInputOfADeletedVideo: a record of a video whose tombstone
// exists is not handed to the handler; what an earlier attempt left is
// removed, nothing is published.
func TestFenceDropsInputOfADeletedVideo(t *testing.T) {
	e, store := fencedEnv(t)
	in := uploaded(contract.NewID())
	ctx := context.Background()
	putObject(t, ctx, store, contract.RenditionKey(in.VideoID, "720p")) // an earlier attempt's output
	putObject(t, ctx, store, contract.TombstoneKey(in.VideoID))
	alive := uploaded(contract.NewID())
	e.produce(t, in, alive)
	var calls atomic.Int32
	e.start(t, func(ctx context.Context, got contract.VideoUploaded) (contract.VideoTranscoded, error) {
		if got.VideoID == in.VideoID {
			calls.Add(1)
			return contract.VideoTranscoded{}, errors.New("the handler must not see a deleted video")
		}
		return transcodeOK(ctx, got)
	})
	out := e.k.ReadAll(t, contract.TopicTranscoded, 1, 30*time.Second)
	e.waitLag(t, contract.TopicUploaded)
	if len(out) != 1 || string(out[0].Key) != alive.VideoID {
		t.Fatalf("outputs %d (first key %q), want only the live video's", len(out), out[0].Key)
	}
	if c := calls.Load(); c != 0 {
		t.Errorf("handler called %d times for the deleted video, want 0", c)
	}
	if got := listKeys(t, store, contract.OutputPrefix(in.VideoID)); len(got) != 0 {
		t.Errorf("objects left under the deleted video's prefix: %v", got)
	}
	if n := len(e.k.ReadAll(t, contract.TopicTranscodeDLQ, 0, 200*time.Millisecond)); n != 0 {
		t.Errorf("%d dead letters, want 0", n)
	}
}

// TestFenceDropsAFailureCausedByTheDelete: the attempt fails permanently
// because the video was deleted under it (its source is gone): no dead
// letter, the record is dropped.
func TestFenceDropsAFailureCausedByTheDelete(t *testing.T) {
	e, store := fencedEnv(t)
	in := uploaded(contract.NewID())
	e.produce(t, in)
	e.start(t, func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
		putObject(t, ctx, store, contract.TombstoneKey(in.VideoID))
		return contract.VideoTranscoded{}, stage.Permanent(errors.New("source missing: the owner deleted it"))
	})
	e.waitLag(t, contract.TopicUploaded)
	if n := len(e.k.ReadAll(t, contract.TopicTranscodeDLQ, 0, 500*time.Millisecond)); n != 0 {
		t.Errorf("%d dead letters for a deleted video, want 0", n)
	}
}

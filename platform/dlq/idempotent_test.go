package dlq_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/dlq"
)

func headersOf(m kafka.Message) []contract.Header {
	hs := make([]contract.Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = contract.Header{Key: h.Key, Value: h.Value}
	}
	return hs
}

// failCommitAfterPublish makes the first offset commit of the redrive group
// that follows a produce to topic fail (once), as if the process had died
// between the publish and the commit.
func failCommitAfterPublish(k *harness.Kafka, topic string) *kfake.FaultHandle {
	var published atomic.Bool
	k.Cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		for _, t := range req.(*kmsg.ProduceRequest).Topics {
			if t.Topic == topic {
				published.Store(true)
			}
		}
		return nil, nil, false // observe only
	})
	return k.Cluster.Fault(kfake.Fault{
		Keys: []kmsg.Key{kmsg.OffsetCommit}, Group: dlq.Group(contract.StageTranscode),
		Err: kerr.CoordinatorNotAvailable, Count: 0, // one commit
		When: func(kmsg.Request) bool { return published.Load() },
	})
}

// A commit that fails after the publish was acknowledged must not make the
// next redrive publish the record again (the old code published, then
// committed, and so redrove it twice).
func TestRedriveAfterFailedCommitPublishesOnce(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 3)
	a, b := contract.NewID(), contract.NewID()
	k.Produce(t, deadLetter(t, a, 0), deadLetter(t, b, 1))
	ctx := context.Background()
	admin := dlq.NewAdmin(k.Brokers)
	defer admin.Close()

	failed := failCommitAfterPublish(k, contract.TopicUploaded)
	got, err := admin.Redrive(ctx, contract.StageTranscode, dlq.RedriveOptions{VideoID: a})
	if err == nil || failed.Hits() != 1 {
		t.Fatalf("first redrive = %d records, %v (%d commits failed); want the injected commit failure", len(got), err, failed.Hits())
	}
	t.Logf("first redrive: %v", err)
	if n := len(k.ReadAll(t, contract.TopicUploaded, 1, 10*time.Second)); n != 1 {
		t.Fatalf("%d records published by the first redrive, want 1", n)
	}
	// The record still looks pending; the retry must find its earlier
	// publish instead of publishing again.
	if got, err := admin.Redrive(ctx, contract.StageTranscode, dlq.RedriveOptions{}); err != nil || len(got) != 2 {
		t.Fatalf("second redrive = %+v, %v; want a (already published) and b", got, err)
	}
	if got, err := admin.Redrive(ctx, contract.StageTranscode, dlq.RedriveOptions{}); err != nil || len(got) != 0 {
		t.Fatalf("third redrive = %+v, %v; want nothing left", got, err)
	}
	time.Sleep(200 * time.Millisecond)
	out := k.ReadAll(t, contract.TopicUploaded, 2, 10*time.Second)
	count := map[string]int{}
	for _, m := range out {
		count[string(m.Key)]++
	}
	if len(out) != 2 || count[a] != 1 || count[b] != 1 {
		t.Fatalf("published %v (%d records); want a and b once each", count, len(out))
	}
	if pending, err := admin.List(ctx, contract.StageTranscode, false); err != nil || len(pending) != 0 {
		t.Fatalf("pending after redrive = %+v, %v", pending, err)
	}
}

// A publish that fails after the intent was recorded is published by the
// next redrive (the read-back finds nothing).
func TestRedriveAfterFailedPublishPublishesOnce(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 2)
	a := contract.NewID()
	k.Produce(t, deadLetter(t, a, 0))
	ctx := context.Background()
	admin := dlq.NewAdmin(k.Brokers)
	defer admin.Close()
	// One produce to the input topic is refused.
	k.Cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: contract.TopicUploaded, Err: kerr.NotEnoughReplicas, Count: 0})
	if _, err := admin.Redrive(ctx, contract.StageTranscode, dlq.RedriveOptions{}); err == nil {
		t.Fatal("redrive with a rejected publish succeeded")
	}
	if got, err := admin.Redrive(ctx, contract.StageTranscode, dlq.RedriveOptions{}); err != nil || len(got) != 1 {
		t.Fatalf("second redrive = %+v, %v", got, err)
	}
	time.Sleep(200 * time.Millisecond)
	if out := k.ReadAll(t, contract.TopicUploaded, 1, 10*time.Second); len(out) != 1 {
		t.Fatalf("%d records published, want 1", len(out))
	}
}

// A redrive is a new logical event: its ce_id is RedriveEventID(the dead
// letter's ce_id, new redrive count), the same whenever that redrive is
// retried, and a second-generation redrive gets yet another id.
func TestRedriveEventIDs(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 1)
	a := contract.NewID()
	first := deadLetter(t, a, 0)
	// The same input, dead-lettered again after its first redrive.
	again := deadLetter(t, a, 1)
	for i, h := range again.Headers {
		if h.Key == contract.HeaderID {
			again.Headers[i].Value = []byte(contract.RedriveEventID("ce-"+a, 1))
		}
	}
	again.Headers = append(again.Headers, kafka.Header{Key: contract.HeaderRedriveCount, Value: []byte("1")})
	k.Produce(t, first, again)
	ctx := context.Background()
	admin := dlq.NewAdmin(k.Brokers)
	defer admin.Close()
	if got, err := admin.Redrive(ctx, contract.StageTranscode, dlq.RedriveOptions{}); err != nil || len(got) != 2 {
		t.Fatalf("redrive = %+v, %v", got, err)
	}
	// Forget the progress (an operator resetting the group): the retried
	// redrive of the same records carries the same ids.
	if _, err := admin.Client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: dlq.Group(contract.StageTranscode), GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{contract.TopicTranscodeDLQ: {{Partition: 0, Offset: 0, Metadata: ""}}}}); err != nil {
		t.Fatal(err)
	}
	if got, err := admin.Redrive(ctx, contract.StageTranscode, dlq.RedriveOptions{}); err != nil || len(got) != 2 {
		t.Fatalf("repeated redrive = %+v, %v", got, err)
	}
	out := k.ReadAll(t, contract.TopicUploaded, 4, 10*time.Second)
	if len(out) != 4 {
		t.Fatalf("%d records, want 4", len(out))
	}
	want := []struct{ id, count string }{
		{contract.RedriveEventID("ce-"+a, 1), "1"},
		{contract.RedriveEventID(contract.RedriveEventID("ce-"+a, 1), 2), "2"},
	}
	for i, m := range out {
		hs := headersOf(m)
		w := want[i%2]
		if id := contract.HeaderValue(hs, contract.HeaderID); id != w.id || id == "ce-"+a {
			t.Errorf("record %d: ce_id %q, want %q", i, id, w.id)
		}
		if n := contract.HeaderValue(hs, contract.HeaderRedriveCount); n != w.count {
			t.Errorf("record %d: redrive count %q, want %s", i, n, w.count)
		}
		n := 0
		for _, h := range hs {
			if h.Key == contract.HeaderID {
				n++
			}
		}
		if n != 1 {
			t.Errorf("record %d has %d ce_id headers", i, n)
		}
	}
	if contract.HeaderValue(headersOf(out[0]), contract.HeaderID) == contract.HeaderValue(headersOf(out[1]), contract.HeaderID) {
		t.Error("first and second redrive share an id")
	}
}

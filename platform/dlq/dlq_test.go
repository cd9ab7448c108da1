package dlq_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/dlq"
)

func TestMain(m *testing.M) { harness.Main(m) }

func deadLetter(t *testing.T, id string, offset int64) kafka.Message {
	t.Helper()
	orig := []contract.Header{
		{Key: contract.HeaderSpecVersion, Value: []byte("1.0")},
		{Key: contract.HeaderType, Value: []byte(contract.TypeUploaded)},
		{Key: contract.HeaderID, Value: []byte("ce-" + id)},
	}
	dl := contract.DeadLetter{Stage: contract.StageTranscode, Topic: contract.TopicUploaded, Offset: offset, Group: "transcode",
		Err: "ffprobe: moov atom not found", Class: contract.ErrorClassPermanent, Attempts: 1, FailedAt: time.Now()}
	var hs []kafka.Header
	for _, h := range dl.Headers(orig) {
		hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
	}
	return kafka.Message{Topic: contract.TopicTranscodeDLQ, Key: []byte(id), Value: []byte(`{"video_id":"` + id + `"}`), Headers: hs}
}

func TestListAndRedriveAreNeverAppliedTwice(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 1)
	a, b, c := contract.NewID(), contract.NewID(), contract.NewID()
	k.Produce(t, deadLetter(t, a, 0), deadLetter(t, b, 1), deadLetter(t, c, 2))
	ctx := context.Background()
	admin := dlq.NewAdmin(k.Brokers)
	defer admin.Close()

	recs, err := admin.List(ctx, contract.StageTranscode, false)
	if err != nil || len(recs) != 3 {
		t.Fatalf("List = %d records, %v; want 3", len(recs), err)
	}
	if recs[0].DeadLetter.Class != contract.ErrorClassPermanent || recs[0].DeadLetter.Err == "" || recs[0].Key != a {
		t.Fatalf("unexpected record %+v", recs[0])
	}

	// Dry run changes nothing.
	dry, err := admin.Redrive(ctx, contract.StageTranscode, dlq.RedriveOptions{DryRun: true})
	if err != nil || len(dry) != 3 {
		t.Fatalf("dry run = %d, %v", len(dry), err)
	}
	if n := len(k.ReadAll(t, contract.TopicUploaded, 0, 300*time.Millisecond)); n != 0 {
		t.Fatalf("dry run published %d records", n)
	}

	// Redrive only b: a stays pending below it.
	got, err := admin.Redrive(ctx, contract.StageTranscode, dlq.RedriveOptions{VideoID: b})
	if err != nil || len(got) != 1 || got[0].Key != b {
		t.Fatalf("redrive --id = %+v, %v", got, err)
	}
	pending, _ := admin.List(ctx, contract.StageTranscode, false)
	if len(pending) != 2 || pending[0].Key != a || pending[1].Key != c {
		t.Fatalf("pending after --id redrive = %+v", pending)
	}
	all, _ := admin.List(ctx, contract.StageTranscode, true)
	if len(all) != 3 || !all[1].Redriven || all[0].Redriven {
		t.Fatalf("--all listing wrong: %+v", all)
	}

	// Redrive the rest with a limit of 1, then everything.
	if got, err := admin.Redrive(ctx, contract.StageTranscode, dlq.RedriveOptions{Limit: 1}); err != nil || len(got) != 1 || got[0].Key != a {
		t.Fatalf("redrive --limit 1 = %+v, %v", got, err)
	}
	if got, err := admin.Redrive(ctx, contract.StageTranscode, dlq.RedriveOptions{}); err != nil || len(got) != 1 || got[0].Key != c {
		t.Fatalf("redrive rest = %+v, %v", got, err)
	}
	// Nothing left: a second redrive is a no-op.
	if got, err := admin.Redrive(ctx, contract.StageTranscode, dlq.RedriveOptions{}); err != nil || len(got) != 0 {
		t.Fatalf("second redrive = %+v, %v", got, err)
	}

	out := k.ReadAll(t, contract.TopicUploaded, 3, 10*time.Second)
	if len(out) != 3 {
		t.Fatalf("%d records redriven, want exactly 3", len(out))
	}
	seen := map[string]bool{}
	for _, m := range out {
		seen[string(m.Key)] = true
		hs := make([]contract.Header, len(m.Headers))
		for i, h := range m.Headers {
			hs[i] = contract.Header{Key: h.Key, Value: h.Value}
		}
		if _, isDLQ := contract.ParseDeadLetter(hs); isDLQ {
			t.Errorf("redriven record still has dlq headers")
		}
		if contract.HeaderValue(hs, contract.HeaderRedriveCount) != "1" {
			t.Errorf("redrive count = %q, want 1", contract.HeaderValue(hs, contract.HeaderRedriveCount))
		}
		// A redrive is a new logical event: a new, derived ce_id.
		if got, want := contract.HeaderValue(hs, contract.HeaderID), contract.RedriveEventID("ce-"+string(m.Key), 1); got != want {
			t.Errorf("ce_id = %q, want RedriveEventID(original, 1) = %q", got, want)
		}
		if contract.HeaderValue(hs, contract.HeaderType) != contract.TypeUploaded || contract.HeaderValue(hs, contract.HeaderSpecVersion) != "1.0" {
			t.Errorf("original CloudEvents headers not kept: %v", hs)
		}
		if string(m.Value) != `{"video_id":"`+string(m.Key)+`"}` {
			t.Errorf("value changed: %s", m.Value)
		}
	}
	if !seen[a] || !seen[b] || !seen[c] {
		t.Fatalf("redriven keys %v", seen)
	}
}

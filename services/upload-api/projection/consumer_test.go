package projection

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/config"
)

// startConsumer runs a Consumer of k in group until the returned stop (also
// called at cleanup) cancels it and waits for Run to return.
func startConsumer(tb testing.TB, k *harness.Kafka, s *Store, group string, hook func(string)) (*Consumer, func()) {
	tb.Helper()
	c := NewConsumer(config.Kafka{Brokers: k.Brokers, ClientID: "projection-test"}, s, testLogger(tb, hook),
		WithGroup(group), WithRetryBackoff(20*time.Millisecond, 500*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var stopped atomic.Bool
	stop := func() {
		if stopped.Swap(true) {
			return
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("consumer Run: %v", err)
			}
		case <-time.After(60 * time.Second):
			tb.Errorf("consumer did not stop within 60s")
		}
	}
	tb.Cleanup(stop)
	return c, stop
}

// produce writes recs to k with the video id as key.
func produce(tb testing.TB, k *harness.Kafka, recs ...Record) {
	tb.Helper()
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		key := r.Key
		if len(key) == 0 {
			env, _ := contract.PeekEnvelope(r.Value)
			key = []byte(env.VideoID)
		}
		msgs[i] = kafka.Message{Topic: r.Topic, Key: key, Value: r.Value}
		for _, h := range r.Headers {
			msgs[i].Headers = append(msgs[i].Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
	}
	k.Produce(tb, msgs...)
}

// waitCaughtUp waits until group has committed every record of every
// topic the projection reads, i.e. applied it.
func waitCaughtUp(tb testing.TB, k *harness.Kafka, group string) {
	tb.Helper()
	eventually(tb, 90*time.Second, "consumer group "+group+" to catch up", func() bool {
		for _, topic := range Topics(testPipeline) {
			if k.Lag(tb, group, topic) != 0 {
				return false
			}
		}
		return true
	})
}

// wantStatus checks owner's view of a video.
func wantStatus(tb testing.TB, s *Store, owner string, c chain, status Status, stage contract.Stage, reason string) State {
	tb.Helper()
	st := mustGet(tb, s, owner, c.up.VideoID)
	if st.Status != status || st.FailedStage != stage || st.Reason != reason {
		tb.Fatalf("video %s: state %s/%q/%q, want %s/%q/%q", c.up.VideoID, st.Status, st.FailedStage, st.Reason, status, stage, reason)
	}
	if status == StatusReady && st.Ready == nil {
		tb.Fatalf("video %s: ready without document", c.up.VideoID)
	}
	return st
}

func transcodeDLQ(tb testing.TB, c chain, reason string) Record {
	return dlqRecord(tb, contract.StageTranscode, c.up, reason, contract.ErrorClassPermanent)
}

func records(tb testing.TB, es ...contract.Event) []Record {
	out := make([]Record, len(es))
	for i, e := range es {
		out[i] = eventRecord(tb, e)
	}
	return out
}

// TestConsumer feeds stage and dead-letter records through a real broker,
// with duplicates, stale dead letters, a redrive and undecodable records.
func TestConsumer(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 3)
	s := MustStore(t, MustNewDatabase(t))
	group := harness.RandomName("upload-api")
	cons, _ := startConsumer(t, k, s, group, nil)

	var (
		inOrder  = newChain(t, "alice")
		dups     = newChain(t, "alice")
		failed   = newChain(t, "alice")
		stale    = newChain(t, "alice")
		redriven = newChain(t, "alice")
		late     = newChain(t, "alice")
		bobs     = newChain(t, "bob")
	)
	var recs []Record
	recs = append(recs, records(t, inOrder.up, inOrder.tr, inOrder.th, inOrder.ready)...)
	recs = append(recs, records(t, dups.up, dups.up, dups.tr, dups.tr, dups.th, dups.up, dups.tr)...)
	recs = append(recs, eventRecord(t, failed.up), transcodeDLQ(t, failed, "ffprobe: invalid data found"))
	recs = append(recs, records(t, stale.up, stale.tr, stale.th, stale.ready)...)
	recs = append(recs, transcodeDLQ(t, stale, "old failure"))
	recs = append(recs, eventRecord(t, redriven.up), transcodeDLQ(t, redriven, "timeout"))
	recs = append(recs, records(t, redriven.up, redriven.tr, redriven.th, redriven.ready)...) // after redrive
	recs = append(recs, records(t, late.ready, late.th, late.tr, late.up)...)
	recs = append(recs, eventRecord(t, bobs.up))
	recs = append(recs,
		Record{Topic: contract.TopicUploaded, Value: []byte("not json")},
		Record{Topic: contract.TopicThumbnailDLQ, Value: []byte(`{"video_id":"nope"}`)})
	produce(t, k, recs...)
	// Undecodable records must not block what follows them.
	after := newChain(t, "alice")
	produce(t, k, eventRecord(t, after.up))

	waitCaughtUp(t, k, group)
	if !cons.Ready() {
		t.Fatal("consumer caught up but not Ready")
	}
	wantStatus(t, s, "alice", inOrder, StatusReady, "", "")
	wantStatus(t, s, "alice", dups, StatusThumbnailed, "", "")
	st := wantStatus(t, s, "alice", failed, StatusFailed, contract.StageTranscode, "ffprobe: invalid data found")
	if st.ErrorClass != contract.ErrorClassPermanent || st.Attempts != 3 {
		t.Fatalf("failure class/attempts = %q/%d, want permanent/3", st.ErrorClass, st.Attempts)
	}
	wantStatus(t, s, "alice", stale, StatusReady, "", "")
	wantStatus(t, s, "alice", redriven, StatusReady, "", "")
	wantStatus(t, s, "alice", late, StatusReady, "", "")
	wantStatus(t, s, "alice", after, StatusUploaded, "", "")
	wantStatus(t, s, "bob", bobs, StatusUploaded, "", "")
	if _, err := s.Get(context.Background(), "alice", bobs.up.VideoID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("alice reading bob's video: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(context.Background(), "bob", inOrder.up.VideoID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob reading alice's video: %v, want ErrNotFound", err)
	}
}

// TestConsumerRestart: a new Store and Consumer on the same database and
// group carry on where the first stopped, lose nothing and regress nothing;
// a fresh group re-reading every topic from the start changes nothing.
func TestConsumerRestart(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 3)
	url := MustNewDatabase(t)
	group := harness.RandomName("upload-api")
	a, b, f := newChain(t, "alice"), newChain(t, "alice"), newChain(t, "alice")

	s1 := MustStore(t, url)
	_, stop1 := startConsumer(t, k, s1, group, nil)
	produce(t, k, records(t, a.up, a.tr, a.th, a.ready, b.up, b.tr)...)
	produce(t, k, eventRecord(t, f.up), transcodeDLQ(t, f, "bad input"))
	waitCaughtUp(t, k, group)
	stop1()
	aBefore := wantStatus(t, s1, "alice", a, StatusReady, "", "")

	// While no consumer runs: progress for b, redeliveries of earlier
	// stages, and a stale dead letter for a.
	c := newChain(t, "bob")
	produce(t, k, records(t, b.th, b.tr, b.up, a.tr, a.up, c.up)...)
	produce(t, k, transcodeDLQ(t, a, "stale"))

	s2 := MustStore(t, url)
	cons2, stop2 := startConsumer(t, k, s2, group, nil)
	waitCaughtUp(t, k, group)
	if !cons2.Ready() {
		t.Fatal("restarted consumer caught up but not Ready")
	}
	stop2()
	if st := wantStatus(t, s2, "alice", a, StatusReady, "", ""); st.Version != aBefore.Version {
		t.Fatalf("redeliveries changed video a: v%d -> v%d", aBefore.Version, st.Version)
	}
	wantStatus(t, s2, "alice", b, StatusThumbnailed, "", "")
	wantStatus(t, s2, "alice", f, StatusFailed, contract.StageTranscode, "bad input")
	wantStatus(t, s2, "bob", c, StatusUploaded, "", "")

	// A new group reads everything again: every record is a redelivery.
	versions := map[string]int64{}
	for _, ch := range []chain{a, b, f} {
		versions[ch.up.VideoID] = mustGet(t, s2, "alice", ch.up.VideoID).Version
	}
	s3 := MustStore(t, url)
	replay := harness.RandomName("upload-api-replay")
	startConsumer(t, k, s3, replay, nil)
	waitCaughtUp(t, k, replay)
	for _, ch := range []chain{a, b, f} {
		if st := mustGet(t, s3, "alice", ch.up.VideoID); st.Version != versions[ch.up.VideoID] {
			t.Fatalf("replay from offset 0 changed video %s: v%d -> v%d", ch.up.VideoID, versions[ch.up.VideoID], st.Version)
		}
	}
}

// TestConsumerDatabaseRestart: while PostgreSQL is down the consumer keeps
// retrying the record (and commits nothing); once it is back, it catches up.
func TestConsumerDatabaseRestart(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 1)
	pg := harness.StartPostgres(t)
	url := harness.MustDatabase(t, pg)
	s := MustStore(t, url)
	group := harness.RandomName("upload-api")
	retrying := make(chan struct{})
	var once atomic.Bool
	startConsumer(t, k, s, group, func(msg string) {
		if strings.Contains(msg, "apply failed, retrying") && !once.Swap(true) {
			close(retrying)
		}
	})
	a, b := newChain(t, "alice"), newChain(t, "alice")
	produce(t, k, eventRecord(t, a.up))
	waitCaughtUp(t, k, group)

	pg.Stop(t)
	produce(t, k, records(t, a.tr, b.up)...)
	select {
	case <-retrying:
	case <-time.After(60 * time.Second):
		t.Fatal("consumer did not retry while the database was down")
	}
	if lag := k.Lag(t, group, contract.TopicTranscoded) + k.Lag(t, group, contract.TopicUploaded); lag == 0 {
		t.Fatal("offsets committed while the database was down")
	}
	pg.Start(t)
	waitCaughtUp(t, k, group)
	wantStatus(t, s, "alice", a, StatusTranscoded, "", "")
	wantStatus(t, s, "alice", b, StatusUploaded, "", "")
}

// TestConsumerKafkaLate: the consumer starts while the broker is down and
// catches up once it is up.
func TestConsumerKafkaLate(t *testing.T) {
	k := harness.StartKafkaPersistent(t, t.TempDir())
	k.CreatePipelineTopics(t, 1)
	a := newChain(t, "alice")
	produce(t, k, records(t, a.up, a.tr)...)
	k.Stop(t)

	s := MustStore(t, MustNewDatabase(t))
	group := harness.RandomName("upload-api")
	kafkaFailed := make(chan struct{})
	var once atomic.Bool
	cons, _ := startConsumer(t, k, s, group, func(msg string) {
		if strings.Contains(msg, "projection consumer: kafka:") && !once.Swap(true) {
			close(kafkaFailed)
		}
	})
	select {
	case <-kafkaFailed:
	case <-time.After(60 * time.Second):
		t.Fatal("consumer logged no Kafka error while the broker was down")
	}
	if cons.Ready() {
		t.Fatal("consumer Ready while the broker is down")
	}
	k.Restart(t)
	waitCaughtUp(t, k, group)
	if !cons.Ready() {
		t.Fatal("consumer caught up but not Ready")
	}
	wantStatus(t, s, "alice", a, StatusTranscoded, "", "")
}

func TestConsumerConfig(t *testing.T) {
	c := NewConsumer(config.Kafka{}, nil, nil)
	if err := c.Run(context.Background()); err == nil {
		t.Fatal("Run without brokers: want an error")
	}
}

func TestRetryBackoff(t *testing.T) {
	cases := map[string]struct {
		n      int
		lo, hi time.Duration
	}{
		"first":  {1, 50 * time.Millisecond, 100 * time.Millisecond},
		"third":  {3, 200 * time.Millisecond, 400 * time.Millisecond},
		"capped": {30, 2500 * time.Millisecond, 5 * time.Second},
		"huge n": {1 << 20, 2500 * time.Millisecond, 5 * time.Second},
	}
	c := NewConsumer(config.Kafka{}, nil, nil)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			for range 100 {
				if d := c.retry.Delay(tc.n); d < tc.lo || d > tc.hi {
					t.Fatalf("retry delay %d = %v, want within [%v, %v]", tc.n, d, tc.lo, tc.hi)
				}
			}
		})
	}
	c = NewConsumer(config.Kafka{}, nil, nil, WithRetryBackoff(time.Second, 2*time.Second))
	if d := c.retry.Delay(5); d < time.Second || d > 2*time.Second {
		t.Errorf("WithRetryBackoff(1s, 2s): delay %v", d)
	}
}

// TestConsumerReplacesStalledReader: a group reader that makes no progress
// while its group lags (here its first SyncGroup never gets an answer, as
// when the broker holds requests around a crash of the API) is replaced
// after the stall timeout, and the records are applied.
func TestConsumerReplacesStalledReader(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 1)
	s := MustStore(t, MustNewDatabase(t))
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var held atomic.Bool
	k.Cluster.ControlKey(int16(kmsg.SyncGroup), func(kmsg.Request) (kmsg.Response, error, bool) {
		if held.CompareAndSwap(false, true) {
			k.Cluster.SleepControl(func() { <-release }) // the first SyncGroup hangs
		}
		return nil, nil, false
	})
	group := harness.RandomName("upload-api")
	c := NewConsumer(config.Kafka{Brokers: k.Brokers, ClientID: "projection-test"}, s, testLogger(t, nil),
		WithGroup(group), WithRetryBackoff(20*time.Millisecond, 500*time.Millisecond), WithStallTimeout(3*time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Errorf("consumer did not stop within 60s")
		}
	})
	ch := newChain(t, "alice")
	produce(t, k, eventRecord(t, ch.up))
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := s.Get(context.Background(), "alice", ch.up.VideoID); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	wantStatus(t, s, "alice", ch, StatusUploaded, "", "")
	if !held.Load() {
		t.Fatal("no SyncGroup was held: the test did not exercise a stall")
	}
	if c.Stalls() < 1 {
		t.Errorf("Stalls() = %d, want ≥ 1 (the record was applied without replacing the reader?)", c.Stalls())
	}
}

package projection

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/vidpipe/vidpipe/contract"
)

// TestStoreScenarios replays the scenarios against PostgreSQL, delivering
// every record twice (a redelivery at the same offset must change nothing).
func TestStoreScenarios(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	for name, sc := range scenarios {
		t.Run(name, func(t *testing.T) {
			c := newChain(t, "alice")
			next := map[string]int64{}
			for i, step := range sc.steps {
				rec := step(t, c)
				rec.Offset = next[rec.Topic]
				next[rec.Topic]++
				mustApply(t, s, rec)
				before := mustGet(t, s, "alice", c.up.VideoID)
				mustApply(t, s, rec)
				if after := mustGet(t, s, "alice", c.up.VideoID); after.Version != before.Version || after.Status != before.Status {
					t.Fatalf("step %d: redelivery changed the state: %+v -> %+v", i, before, after)
				}
			}
			st := mustGet(t, s, "alice", c.up.VideoID)
			if st.Status != sc.want.status || st.FailedStage != sc.want.stage || st.Reason != sc.want.reason {
				t.Fatalf("state = %s/%q/%q, want %s/%q/%q", st.Status, st.FailedStage, st.Reason, sc.want.status, sc.want.stage, sc.want.reason)
			}
			if (st.Ready != nil) != sc.want.ready {
				t.Fatalf("ready document present = %v, want %v", st.Ready != nil, sc.want.ready)
			}
			if st.Status == StatusFailed && (st.ErrorClass != contract.ErrorClassExhausted || st.Attempts != 3) {
				t.Fatalf("failure class/attempts = %q/%d, want exhausted/3", st.ErrorClass, st.Attempts)
			}
			if st.Uploaded == nil || st.Uploaded.Title != c.up.Title || st.Owner != "alice" || st.UpdatedAt.IsZero() {
				t.Fatalf("uploaded/owner/updated_at = %+v/%q/%v, want the upload's fields", st.Uploaded, st.Owner, st.UpdatedAt)
			}
		})
	}
}

func TestStoreGet(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	c := newChain(t, "alice")
	for _, e := range []contract.Event{c.up, c.tr, c.th, c.ready} {
		mustApply(t, s, eventRecord(t, e))
	}

	st := mustGet(t, s, "alice", c.up.VideoID)
	if st.Status != StatusReady || st.VideoID != c.up.VideoID || st.Version != 4 {
		t.Fatalf("state = %s v%d id %s, want ready v4 %s", st.Status, st.Version, st.VideoID, c.up.VideoID)
	}
	if st.Ready == nil || st.Ready.HLS.MasterKey != c.ready.HLS.MasterKey || len(st.Ready.Renditions) != 1 ||
		st.Ready.Thumbnails.Poster.Key != c.ready.Thumbnails.Poster.Key || !st.Ready.ReadyAt.Equal(c.ready.ReadyAt) {
		t.Fatalf("ready document = %+v, want %+v", st.Ready, c.ready)
	}

	notFound := map[string]struct{ owner, id string }{
		"other owner":    {"bob", c.up.VideoID},
		"missing":        {"alice", newID(t)},
		"not a uuid":     {"alice", "not-a-uuid"},
		"uppercase uuid": {"alice", "A" + c.up.VideoID[1:]},
		"empty owner":    {"", c.up.VideoID},
	}
	for name, tc := range notFound {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Get(context.Background(), tc.owner, tc.id); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get(%q, %q) = %v, want ErrNotFound", tc.owner, tc.id, err)
			}
		})
	}
}

// TestStoreRedeliveryByOffset: an out-of-order redelivery of an older dead
// letter of the same stage must not overwrite the newer failure.
func TestStoreRedeliveryByOffset(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	c := newChain(t, "alice")
	first := dlqRecord(t, contract.StageTranscode, c.up, "first failure", contract.ErrorClassExhausted)
	first.Partition, first.Offset = 2, 5
	second := dlqRecord(t, contract.StageTranscode, c.up, "second failure", contract.ErrorClassPermanent)
	second.Partition, second.Offset = 2, 6

	mustApply(t, s, first)
	mustApply(t, s, second)
	v := mustGet(t, s, "alice", c.up.VideoID)
	mustApply(t, s, first)
	st := mustGet(t, s, "alice", c.up.VideoID)
	if st.Reason != "second failure" || st.ErrorClass != contract.ErrorClassPermanent || st.Version != v.Version {
		t.Fatalf("after redelivery of offset 5: reason %q class %q v%d, want second failure, permanent, v%d",
			st.Reason, st.ErrorClass, st.Version, v.Version)
	}
	// The same offset on another partition is another record.
	other := first
	other.Partition = 1
	mustApply(t, s, other)
	if st := mustGet(t, s, "alice", c.up.VideoID); st.Reason != "first failure" {
		t.Fatalf("record of another partition ignored: reason %q, want first failure", st.Reason)
	}
}

func TestStoreUndecodable(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	c := newChain(t, "alice")
	mustApply(t, s, eventRecord(t, c.up))
	before := mustGet(t, s, "alice", c.up.VideoID)

	mallory := c.tr
	mallory.Owner = "mallory"
	cases := map[string]Record{
		"garbage":           {Topic: contract.TopicUploaded, Offset: 1, Value: []byte("garbage")},
		"unknown topic":     {Topic: "other", Offset: 1, Value: mustEncode(t, c.tr)},
		"other owner":       eventRecord(t, mallory),
		"dead letter no id": {Topic: contract.TopicTranscodeDLQ, Offset: 1, Value: []byte(`{}`)},
	}
	for name, rec := range cases {
		t.Run(name, func(t *testing.T) {
			if err := s.Apply(context.Background(), rec); !errors.Is(err, ErrUndecodable) {
				t.Fatalf("Apply = %v, want ErrUndecodable", err)
			}
		})
	}
	if after := mustGet(t, s, "alice", c.up.VideoID); after.Version != before.Version || after.Status != StatusUploaded {
		t.Fatalf("undecodable records changed the state: %+v -> %+v", before, after)
	}
	if _, err := s.Get(context.Background(), "mallory", c.up.VideoID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("mallory sees alice's video: %v", err)
	}
}

// TestStoreConcurrentApply: two stores (two API replicas) apply records of
// the same new videos at once; the insert race must settle on one row with
// the furthest state.
func TestStoreConcurrentApply(t *testing.T) {
	url := MustNewDatabase(t)
	a, b := MustStore(t, url), MustStore(t, url)
	chains := make([]chain, 20)
	for i := range chains {
		chains[i] = newChain(t, "alice")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(chains))
	for i, s := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range chains {
				e := contract.Event(c.up)
				if i == 1 {
					e = c.ready
				}
				if err := s.Apply(context.Background(), eventRecord(t, e)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent apply: %v", err)
	}
	for _, c := range chains {
		if st := mustGet(t, a, "alice", c.up.VideoID); st.Status != StatusReady {
			t.Fatalf("video %s: status %s, want ready", c.up.VideoID, st.Status)
		}
	}
}

// A dead letter whose value was too large for Kafka has an empty value and
// a dlq.value_ref header: the record key names the video, which must still
// end failed with its reason.
func TestStoreDeadLetterWithoutValue(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	c := newChain(t, "alice")
	mustApply(t, s, eventRecord(t, c.up))
	dl := dlqRecord(t, contract.StageTranscode, c.up, "output too large", contract.ErrorClassPermanent)
	dl.Key, dl.Value = []byte(c.up.VideoID), nil
	dl.Headers = append(dl.Headers, contract.Header{Key: contract.HeaderDLQValueRef, Value: []byte("s3://vidpipe/deadletters/x")})
	mustApply(t, s, dl)
	st := mustGet(t, s, "alice", c.up.VideoID)
	if st.Status != StatusFailed || st.Reason != "output too large" || st.FailedStage != contract.StageTranscode {
		t.Fatalf("status %q reason %q stage %q, want failed / output too large / transcode", st.Status, st.Reason, st.FailedStage)
	}
	// Without a usable key it cannot apply.
	bad := dl
	bad.Key = []byte("../etc")
	if err := s.Apply(context.Background(), bad); !errors.Is(err, ErrUndecodable) {
		t.Fatalf("Apply(dead letter without value or key) = %v, want ErrUndecodable", err)
	}
}

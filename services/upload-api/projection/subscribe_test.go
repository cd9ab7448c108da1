package projection

import (
	"context"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
)

// mustReceive returns the next state from ch, failing after 30s.
func mustReceive(tb testing.TB, ch <-chan State) State {
	tb.Helper()
	select {
	case st, ok := <-ch:
		if !ok {
			tb.Fatal("subscription closed")
		}
		return st
	case <-time.After(30 * time.Second):
		tb.Fatal("no state change received within 30s")
	}
	return State{}
}

func mustClosed(tb testing.TB, ch <-chan State) {
	tb.Helper()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-time.After(30 * time.Second):
			tb.Fatal("subscription not closed within 30s")
		}
	}
}

// TestSubscribe: a subscriber of this process sees every transition, once,
// in order; a duplicate record produces no notification.
func TestSubscribe(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	c := newChain(t, "alice")
	ch, cancel := s.Subscribe(context.Background(), c.up.VideoID)
	defer cancel()

	steps := []struct {
		rec  Record
		want Status
	}{
		{eventRecord(t, c.up), StatusUploaded},
		{dlqRecord(t, contract.StageTranscode, c.up, "timeout", contract.ErrorClassExhausted), StatusFailed},
		{eventRecord(t, c.tr), StatusTranscoded},
		{eventRecord(t, c.th), StatusThumbnailed},
		{eventRecord(t, c.ready), StatusReady},
	}
	for i, step := range steps {
		mustApply(t, s, step.rec)
		if i == 2 {
			mustApply(t, s, eventRecord(t, c.up)) // stale: no notification
		}
		st := mustReceive(t, ch)
		if st.Status != step.want || st.Version != int64(i+1) || st.VideoID != c.up.VideoID {
			t.Fatalf("step %d: got %s v%d, want %s v%d", i, st.Status, st.Version, step.want, i+1)
		}
		if step.want == StatusFailed && (st.FailedStage != contract.StageTranscode || st.Reason != "timeout") {
			t.Fatalf("failed state = %q/%q, want transcode/timeout", st.FailedStage, st.Reason)
		}
	}
	cancel()
	mustClosed(t, ch)
	cancel() // idempotent
}

// TestSubscribeCurrentState: a subscription starts with the current state
// and ends when its context is done.
func TestSubscribeCurrentState(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	c := newChain(t, "alice")
	mustApply(t, s, eventRecord(t, c.up))
	mustApply(t, s, eventRecord(t, c.tr))

	ctx, cancel := context.WithCancel(context.Background())
	ch, stop := s.Subscribe(ctx, c.up.VideoID)
	defer stop()
	if st := mustReceive(t, ch); st.Status != StatusTranscoded || st.Version != 2 {
		t.Fatalf("first state = %s v%d, want transcoded v2", st.Status, st.Version)
	}
	cancel()
	mustClosed(t, ch)
}

// TestSubscribeAcrossStores: a change applied by one replica reaches the
// subscribers of another through LISTEN/NOTIFY.
func TestSubscribeAcrossStores(t *testing.T) {
	url := MustNewDatabase(t)
	writer, reader := MustStore(t, url), MustStore(t, url)
	c := newChain(t, "alice")
	ch, cancel := reader.Subscribe(context.Background(), c.up.VideoID)
	defer cancel()
	for i, e := range []contract.Event{c.up, c.pl, c.tr, c.th, c.ready} {
		mustApply(t, writer, eventRecord(t, e))
		want := Status(testPipeline.Steps()[i].Status)
		// The listener may coalesce, but each step waits for its state.
		for {
			st := mustReceive(t, ch)
			if st.Version > int64(i+1) {
				t.Fatalf("step %d: got v%d before v%d was applied", i, st.Version, i+1)
			}
			if st.Version == int64(i+1) {
				if st.Status != want {
					t.Fatalf("step %d: status %s, want %s", i, st.Status, want)
				}
				break
			}
		}
	}
}

// TestSubscribeListenerReconnects: after a database restart the listener
// reconnects and a change made by another replica still arrives.
func TestSubscribeListenerReconnects(t *testing.T) {
	pg := harness.StartPostgres(t)
	url := harness.MustDatabase(t, pg)
	writer, reader := MustStore(t, url), MustStore(t, url)
	c := newChain(t, "alice")
	mustApply(t, writer, eventRecord(t, c.up))
	ch, cancel := reader.Subscribe(context.Background(), c.up.VideoID)
	defer cancel()
	if st := mustReceive(t, ch); st.Status != StatusUploaded {
		t.Fatalf("first state %s, want uploaded", st.Status)
	}

	pg.Restart(t)
	// The writer's pool may hand out a connection that died with the
	// server: retry as the consumer does.
	eventually(t, 30*time.Second, "apply after restart", func() bool {
		return writer.Apply(context.Background(), eventRecord(t, c.tr)) == nil
	})
	if st := mustReceive(t, ch); st.Status != StatusTranscoded || st.Version != 2 {
		t.Fatalf("after restart: %s v%d, want transcoded v2", st.Status, st.Version)
	}
}

package stage_test

// Delivery guarantees of the runtime, each against the real (kfake) broker
// and, for dead-letter values, a real MinIO: a record that crashes the
// worker ends in the DLQ, a late commit after a rebalance does not rewind
// the new owner, commit failures are visible, oversized dead letters and
// missing topics do not stall a partition silently, a handler that ignores
// its context is abandoned, shutdown is bounded, and every duplicate of an
// output carries the same ce_id.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/dlq"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/platform/storage"
)

// metricValue reads the first sample of name whose labels include the
// pairs of labels from /metrics; 0 when there is none.
func metricValue(t *testing.T, addr, name string, labels ...string) float64 {
	t.Helper()
	v, _ := scrape(t, addr).Value(name, labels...)
	return v
}

func healthz(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls cond every 50ms for up to d.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}

// Item 11: every duplicate of an output (a redelivered input) carries the
// same ce_id, derived from the input's ce_id and the stage.
func TestOutputCeIDIsDerivedFromInput(t *testing.T) {
	e := newEnv(t, 1)
	in := uploaded(contract.NewID())
	m, err := stage.NewMessage(in, "test", e.parent)
	if err != nil {
		t.Fatal(err)
	}
	e.k.Produce(t, m, m) // the same record twice: a producer retry, a redrive replay
	e.start(t, transcodeOK)
	out := e.k.ReadAll(t, contract.TopicTranscoded, 2, 30*time.Second)
	want := contract.OutputEventID(contract.StageTranscode, header(m, contract.HeaderID))
	for i, o := range out {
		if got := header(o, contract.HeaderID); got != want {
			t.Errorf("output %d ce_id = %q, want %q (derived from the input's ce_id)", i, got, want)
		}
	}
}

// Item 7: a handler that ignores cancellation is abandoned after the
// attempt timeout plus AbandonGrace; the attempt counts, the record is
// retried, and /healthz fails so that the worker gets restarted.
func TestHandlerIgnoringContextIsAbandoned(t *testing.T) {
	e := newEnv(t, 1)
	e.opts.Runtime.AttemptTimeout = 300 * time.Millisecond
	e.opts.Runtime.AbandonGrace = 300 * time.Millisecond
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	var calls atomic.Int32
	e.produce(t, uploaded(contract.NewID()))
	r := e.start(t, func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
		if calls.Add(1) == 1 {
			<-stuck // ignores ctx
		}
		return transcodeOK(ctx, in)
	})
	addr := r.httpAddr(t)
	e.k.ReadAll(t, contract.TopicTranscoded, 1, 30*time.Second)
	if n := calls.Load(); n != 2 {
		t.Errorf("handler calls = %d, want 2 (abandoned attempt, then a retry)", n)
	}
	if v := metricValue(t, addr, "vidpipe_stage_abandoned_handlers_total"); v != 1 {
		t.Errorf("vidpipe_stage_abandoned_handlers_total = %v, want 1", v)
	}
	if code, body := healthz(t, addr); code != http.StatusServiceUnavailable || !strings.Contains(body, "abandoned") {
		t.Errorf("/healthz = %d %q, want 503 naming the abandoned handler", code, body)
	}
}

// Item 6: shutdown is bounded even when a handler ignores its context and
// the broker stops answering the last commit and the leave-group request
// (kafka-go #1006: Close stuck for minutes).
func TestShutdownIsBounded(t *testing.T) {
	e := newEnv(t, 1)
	e.opts.Runtime.ShutdownGrace = 200 * time.Millisecond
	e.opts.Runtime.AbandonGrace = 300 * time.Millisecond
	e.opts.Runtime.CloseTimeout = time.Second
	stuck := make(chan struct{})
	var frozen atomic.Bool
	for _, key := range []int16{int16(kmsg.LeaveGroup), int16(kmsg.OffsetCommit)} {
		e.k.Cluster.ControlKey(key, func(kmsg.Request) (kmsg.Response, error, bool) {
			e.k.Cluster.KeepControl()
			if frozen.Load() {
				e.k.Cluster.SleepControl(func() { <-stuck })
			}
			return nil, nil, false
		})
	}
	t.Cleanup(func() { close(stuck) })
	e.produce(t, uploaded(contract.NewID()))
	started := make(chan struct{}, 1)
	r := e.start(t, func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
		started <- struct{}{}
		<-stuck // ignores ctx
		return transcodeOK(ctx, in)
	})
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("handler never started")
	}
	frozen.Store(true)
	r.cancel()
	// The bound is ShutdownGrace + AbandonGrace + 3×CloseTimeout ≈ 3.5s;
	// this waits far longer, so only a hang fails it.
	select {
	case <-r.done:
		close(r.done)
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20s of cancellation while the broker hangs and the handler ignores its context")
	}
}

// Item 9: commit failures are visible (counted, retried) with the
// production commit settings (commit_interval 1s).
func TestCommitErrorsAreCountedAndRetried(t *testing.T) {
	e := newEnv(t, 1)
	rejected := e.k.Cluster.Fault(kfake.Fault{ // the first 3 commits fail, then commits work again
		Keys: []kmsg.Key{kmsg.OffsetCommit}, Err: kerr.CoordinatorLoadInProgress, Count: 3,
	})
	e.produce(t, uploaded(contract.NewID()))
	r := e.start(t, transcodeOK)
	addr := r.httpAddr(t)
	e.k.ReadAll(t, contract.TopicTranscoded, 1, 30*time.Second)
	e.waitLag(t, contract.TopicUploaded)
	if v := metricValue(t, addr, "vidpipe_stage_commit_errors_total"); v < 3 {
		t.Errorf("vidpipe_stage_commit_errors_total = %v after %d rejected commits, want ≥ 3", v, rejected.Hits())
	}
}

// Item 8: a member whose partition moved to another member during an
// attempt must not commit afterwards (it would rewind the new owner,
// kafka-go #1308); its attempt is cancelled.
func TestRevokedRecordIsNotCommittedLate(t *testing.T) {
	e := newEnv(t, 1)
	first := uploaded(contract.NewID())
	e.produce(t, first)

	// The old owner: its member id sorts last, so the range assignor gives
	// the only partition to the newcomer at the rebalance.
	old := *e
	old.opts.Kafka.ClientID = "z-old-owner"
	started, release := make(chan struct{}), make(chan struct{})
	var cancelled atomic.Bool
	var oldCalls atomic.Int32
	old.start(t, func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
		if oldCalls.Add(1) == 1 {
			close(started)
			select {
			case <-ctx.Done():
				cancelled.Store(true)
			case <-release:
			}
			<-release
		}
		return transcodeOK(ctx, in)
	})
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the first member never started")
	}

	newer := *e
	newer.opts.Kafka.ClientID = "a-new-owner"
	newer.start(t, transcodeOK)
	var more []contract.VideoUploaded
	for i := 0; i < 3; i++ {
		more = append(more, uploaded(contract.NewID()))
	}
	e.produce(t, more...)
	ok := eventually(60*time.Second, func() bool {
		return e.k.Committed(t, "transcode", contract.TopicUploaded)[0] == 4
	})
	if !ok {
		t.Fatalf("the new owner did not commit all 4 records: %v", e.k.Committed(t, "transcode", contract.TopicUploaded))
	}
	close(release)
	// Give the old owner time to (wrongly) publish and commit: commits are
	// batched every commit_interval (1s).
	time.Sleep(3 * time.Second)
	if c := e.k.Committed(t, "transcode", contract.TopicUploaded)[0]; c != 4 {
		t.Fatalf("committed offset = %d after the old owner finished, want 4 (a late commit rewound the new owner)", c)
	}
	if !cancelled.Load() {
		t.Error("the old owner's attempt was not cancelled when its partition was revoked")
	}
}

// Item 4: a dead letter over the broker's size limit (the original value
// was near it) is not retried forever: the value goes to object storage
// and the dead letter references it. Without a store, the reference names
// the input record.
func TestOversizedDeadLetterValueIsMovedOut(t *testing.T) {
	for _, withStore := range []bool{true, false} {
		t.Run(fmt.Sprintf("store=%v", withStore), func(t *testing.T) {
			e := newEnv(t, 1)
			var store *storage.Store
			if withStore {
				mc := harness.SharedMinIO(t)
				bucket := harness.MustBucket(t, mc)
				var err error
				if store, err = storage.New(mc.S3Config(bucket)); err != nil {
					t.Fatal(err)
				}
				e.opts.DeadLetterStore = dlq.S3Store{Store: store}
			}
			setTopicConfig(t, e.k, contract.TopicTranscodeDLQ, "max.message.bytes", "65536")
			value := bytes.Repeat([]byte("x"), 70_000) // not JSON: dead-lettered at once
			key := contract.NewID()
			e.k.Produce(t, kafka.Message{Topic: contract.TopicUploaded, Key: []byte(key), Value: value})
			e.start(t, transcodeOK)
			got := e.k.ReadAll(t, contract.TopicTranscodeDLQ, 1, 30*time.Second)[0]
			if len(got.Value) != 0 {
				t.Errorf("dead letter value has %d bytes, want 0 (moved out)", len(got.Value))
			}
			ref := header(got, contract.HeaderDLQValueRef)
			if header(got, contract.HeaderDLQValueBytes) != "70000" || header(got, contract.HeaderDLQError) == "" {
				t.Errorf("dead letter headers %v", got.Headers)
			}
			if !withStore {
				if want := fmt.Sprintf("kafka://%s/0/0", contract.TopicUploaded); ref != want {
					t.Errorf("dlq.value_ref = %q, want %q", ref, want)
				}
				return
			}
			wantKey := contract.DeadLetterValueKey(contract.StageTranscode, contract.TopicUploaded, 0, 0)
			if ref != dlq.S3Ref(store.Bucket(), wantKey) {
				t.Errorf("dlq.value_ref = %q, want %q", ref, dlq.S3Ref(store.Bucket(), wantKey))
			}
			rc, err := store.Get(context.Background(), wantKey)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if b, _ := io.ReadAll(rc); !bytes.Equal(b, value) {
				t.Errorf("stored value has %d bytes, want the original %d", len(b), len(value))
			}
			e.waitLag(t, contract.TopicUploaded)
		})
	}
}

func setTopicConfig(t *testing.T, k *harness.Kafka, topic, name, value string) {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: 10 * time.Second}
	resp, err := c.IncrementalAlterConfigs(context.Background(), &kafka.IncrementalAlterConfigsRequest{
		Resources: []kafka.IncrementalAlterConfigsRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
			Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: name, Value: value, ConfigOperation: kafka.ConfigOperationSet}},
		}},
	})
	if err == nil {
		for _, r := range resp.Resources {
			err = errors.Join(err, r.Error)
		}
	}
	if err != nil {
		t.Fatalf("set %s=%s on %s: %v", name, value, topic, err)
	}
}

// Item 4: a publish that keeps failing because the output topic is gone
// makes the worker report itself stuck: a metric, and /healthz fails after
// stuck_timeout so that the orchestrator restarts it.
func TestMissingOutputTopicFailsHealthz(t *testing.T) {
	e := newEnv(t, 1)
	e.opts.Runtime.StuckTimeout = time.Second
	r := e.start(t, transcodeOK)
	addr := r.httpAddr(t)
	if code, _ := healthz(t, addr); code != http.StatusOK {
		t.Fatalf("/healthz = %d before anything failed", code)
	}
	// The runtime is past its start (dependencies checked, consuming and
	// publishing) before the topic goes: deleted earlier, the runtime
	// would wait for its dependencies, healthy, and never publish.
	e.produce(t, uploaded(contract.NewID()))
	e.k.ReadAll(t, contract.TopicTranscoded, 1, 30*time.Second)
	c := &kafka.Client{Addr: kafka.TCP(e.k.Brokers...), Timeout: 10 * time.Second}
	if _, err := c.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{contract.TopicTranscoded}}); err != nil {
		t.Fatal(err)
	}
	e.produce(t, uploaded(contract.NewID()))
	ok := eventually(60*time.Second, func() bool {
		code, _ := healthz(t, addr)
		return code == http.StatusServiceUnavailable
	})
	code, body := healthz(t, addr)
	if !ok {
		t.Fatalf("/healthz = %d %q, want 503 once publishing has failed for longer than stuck_timeout", code, body)
	}
	if !strings.Contains(body, contract.TopicTranscoded) {
		t.Errorf("/healthz body %q does not name the failing topic", body)
	}
	if v := metricValue(t, addr, "vidpipe_stage_publish_errors_total", "class", "topic", "kind", "output"); v < 1 {
		t.Errorf(`vidpipe_stage_publish_errors_total{class="topic"} = %v, want ≥ 1`, v)
	}
	if v := metricValue(t, addr, "vidpipe_stage_stuck_seconds"); v < 1 {
		t.Errorf("vidpipe_stage_stuck_seconds = %v, want ≥ 1", v)
	}
}

// crashWorkerEnv names the environment variables of the crash worker.
const (
	crashWorkerBrokers = "VIDPIPE_TEST_CRASH_WORKER_BROKERS"
	crashWorkerPoison  = "VIDPIPE_TEST_CRASH_WORKER_POISON"
)

// TestCrashWorkerProcess is not a test: it is the worker process that
// TestRecordThatCrashesTheWorkerReachesTheDLQ starts. Its handler kills
// the process on the poison video, like a decoder crash or an OOM kill.
func TestCrashWorkerProcess(t *testing.T) {
	brokers := os.Getenv(crashWorkerBrokers)
	if brokers == "" {
		return // run only as a child of the test below
	}
	poison := os.Getenv(crashWorkerPoison)
	opts := stage.Options{
		Stage: contract.StageTranscode,
		Kafka: config.Kafka{Brokers: strings.Split(brokers, ",")},
		Runtime: config.Stage{
			Concurrency: 1, MaxAttempts: 3, BackoffInitial: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
			AttemptTimeout: 10 * time.Second, ShutdownGrace: time.Second, CommitInterval: time.Second, HTTPAddr: "127.0.0.1:0",
		},
		SessionTimeout: 6 * time.Second, RebalanceTimeout: 6 * time.Second,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_ = stage.Run(ctx, opts, func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
		if in.VideoID == poison {
			os.Exit(7) // the input kills the process
		}
		return transcodeOK(ctx, in)
	})
}

// Item 5: a record that kills the worker process on every attempt reaches
// the DLQ after MaxAttempts crashes (attempts are counted across processes
// in the commit metadata) instead of being redelivered forever.
func TestRecordThatCrashesTheWorkerReachesTheDLQ(t *testing.T) {
	e := newEnv(t, 1)
	poison := uploaded(contract.NewID())
	after := uploaded(contract.NewID())
	e.produce(t, poison, after)
	crashes := 0
	for run := 1; run <= 6; run++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWorkerProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashWorkerBrokers+"="+strings.Join(e.k.Brokers, ","), crashWorkerPoison+"="+poison.VideoID)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// Either the worker crashes on the poison record, or it dead-letters
		// it and goes on with the next record.
		var dl []kafka.Message
		crashed := false
		deadline := time.After(45 * time.Second)
	wait:
		for {
			select {
			case err := <-exited:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 7 {
					t.Fatalf("worker run %d exited with %v, want the crash (7); output:\n%s", run, err, out.String())
				}
				crashed = true
				break wait
			case <-deadline:
				_ = cmd.Process.Kill()
				<-exited
				t.Fatalf("worker run %d neither crashed nor dead-lettered within 45s; output:\n%s", run, out.String())
			case <-time.After(200 * time.Millisecond):
				if dl = e.k.ReadAll(t, contract.TopicTranscodeDLQ, 0, 100*time.Millisecond); len(dl) > 0 {
					break wait
				}
			}
		}
		if crashed {
			crashes++
			continue
		}
		outs := e.k.ReadAll(t, contract.TopicTranscoded, 1, 30*time.Second)
		_ = cmd.Process.Signal(os.Interrupt)
		<-exited
		if crashes != 3 {
			t.Errorf("dead-lettered after %d crashes, want 3 (stage.max_attempts)", crashes)
		}
		if string(dl[0].Key) != poison.VideoID || header(dl[0], contract.HeaderDLQErrorClass) != contract.ErrorClassExhausted ||
			header(dl[0], contract.HeaderDLQAttempts) != "3" || !strings.Contains(header(dl[0], contract.HeaderDLQError), "stopped during each") ||
			header(dl[0], contract.HeaderDLQErrorCode) != contract.ErrorCodeCrashLoop {
			t.Errorf("dead letter %s headers %v", dl[0].Key, dl[0].Headers)
		}
		if string(outs[0].Key) != after.VideoID {
			t.Errorf("the record after the poison one was not processed: %s", outs[0].Key)
		}
		return
	}
	t.Fatalf("the poison record crashed the worker %d times and never reached the DLQ", crashes)
}

// A dead letter the broker refuses even without its value (here: the DLQ
// topic takes at most 300 bytes) makes the worker stuck, so /healthz fails;
// once the topic takes it, the dead letter goes through and /healthz
// recovers.
func TestRefusedDeadLetterIsStuckUntilItGoesThrough(t *testing.T) {
	e := newEnv(t, 1)
	e.opts.Runtime.StuckTimeout = time.Second
	setTopicConfig(t, e.k, contract.TopicTranscodeDLQ, "max.message.bytes", "300")
	e.k.Produce(t, kafka.Message{Topic: contract.TopicUploaded, Key: []byte(contract.NewID()), Value: []byte("not json")})
	r := e.start(t, transcodeOK)
	addr := r.httpAddr(t)
	if !eventually(60*time.Second, func() bool { code, _ := healthz(t, addr); return code == http.StatusServiceUnavailable }) {
		t.Fatal("/healthz did not fail while the dead letter was refused")
	}
	setTopicConfig(t, e.k, contract.TopicTranscodeDLQ, "max.message.bytes", "1048588")
	e.k.ReadAll(t, contract.TopicTranscodeDLQ, 1, 60*time.Second)
	if !eventually(30*time.Second, func() bool { code, _ := healthz(t, addr); return code == http.StatusOK }) {
		code, body := healthz(t, addr)
		t.Fatalf("/healthz = %d %q after the dead letter went through, want 200", code, body)
	}
}

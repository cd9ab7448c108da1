package stage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/dev/launch"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/promtext"
	"github.com/vidpipe/vidpipe/platform/stage"
)

func TestMain(m *testing.M) { harness.Main(m) }

// uploaded builds a valid video.uploaded event.
func uploaded(id string) contract.VideoUploaded {
	return contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: id, Owner: "alice", Title: "clip " + id[:8], Tags: []string{"test"},
		Source:     contract.SourceObject{Bucket: "b", Key: contract.SourceKey(id), Size: 1234, ContentType: "video/mp4", Filename: "clip.mp4"},
		UploadedAt: time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC),
	}}
}

// transcodeOK is a trivial handler producing a valid video.transcoded.
func transcodeOK(_ context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
	id := in.VideoID
	return in.Transcoded(contract.Media{DurationSeconds: 2, Width: 640, Height: 360},
		[]contract.Rendition{{Name: "360p", Width: 640, Height: 360, Bitrate: 800_000, Key: contract.RenditionKey(id, "360p"), Size: 10}},
		contract.HLS{MasterKey: contract.HLSMasterKey(id)}, time.Now()), nil
}

type env struct {
	k      *harness.Kafka
	opts   stage.Options
	parent string // traceparent put on produced inputs
}

func newEnv(t *testing.T, partitions int) *env {
	t.Helper()
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, partitions)
	return &env{k: k, parent: contract.NewTraceparent(""), opts: stage.Options{
		Stage:  contract.StageTranscode,
		Kafka:  config.Kafka{Brokers: k.Brokers},
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Runtime: config.Stage{
			Concurrency: 1, MaxAttempts: 3, BackoffInitial: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
			AttemptTimeout: 10 * time.Second, ShutdownGrace: 5 * time.Second, BatchTimeout: time.Millisecond,
			CommitInterval: time.Second, HTTPAddr: "127.0.0.1:0", // the production commit settings (config default)
		},
		SessionTimeout: 6 * time.Second, RebalanceTimeout: 6 * time.Second,
	}}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (e *env) produce(t *testing.T, evs ...contract.VideoUploaded) {
	t.Helper()
	msgs := make([]kafka.Message, len(evs))
	for i, ev := range evs {
		m, err := stage.NewMessage(ev, "test", e.parent)
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = m
	}
	e.k.Produce(t, msgs...)
}

// running is a stage started in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
	addr   chan string
}

func (e *env) start(t *testing.T, h stage.Handler[contract.VideoUploaded, contract.VideoTranscoded]) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), addr: make(chan string, 1)}
	opts := e.opts
	opts.Listening = func(a string) { r.addr <- a }
	go func() { r.done <- stage.Run(ctx, opts, h) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the stage and waits for Run to return (bounded).
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("Run returned %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of cancellation")
	}
}

func (r *running) httpAddr(t *testing.T) string {
	t.Helper()
	select {
	case a := <-r.addr:
		r.addr <- a
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no HTTP listener")
		return ""
	}
}

// waitLag waits until the group's lag on topic is zero.
func (e *env) waitLag(t *testing.T, topic string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if e.k.Lag(t, e.opts.Stage.Group(), topic) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("lag of group %s on %s did not reach 0", e.opts.Stage.Group(), topic)
}

func header(m kafka.Message, key string) string {
	return contract.HeaderValue(stage.FromKafkaHeaders(m.Headers), key)
}

func TestSuccessPublishesNextEventAndCommits(t *testing.T) {
	e := newEnv(t, 3)
	in := uploaded(contract.NewID())
	e.produce(t, in)
	e.start(t, transcodeOK)

	out := e.k.ReadAll(t, contract.TopicTranscoded, 1, 30*time.Second)
	if len(out) != 1 {
		t.Fatalf("got %d output records, want 1", len(out))
	}
	m := out[0]
	if string(m.Key) != in.VideoID {
		t.Errorf("key = %q, want %q", m.Key, in.VideoID)
	}
	got, err := contract.Decode[contract.VideoTranscoded](m.Value)
	if err != nil {
		t.Fatalf("output does not decode: %v", err)
	}
	if got.Title != in.Title || got.Owner != "alice" || len(got.Renditions) != 1 {
		t.Errorf("unexpected output %+v", got)
	}
	for k, want := range map[string]string{
		contract.HeaderSpecVersion: "1.0", contract.HeaderType: contract.TypeTranscoded,
		contract.HeaderSource: "/vidpipe/transcode", contract.HeaderContentType: "application/json",
		contract.HeaderSubject: in.VideoID,
	} {
		if v := header(m, k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	if !contract.IsUUID(header(m, contract.HeaderID)) {
		t.Errorf("ce_id %q is not a UUID", header(m, contract.HeaderID))
	}
	if _, err := time.Parse(time.RFC3339Nano, header(m, contract.HeaderTime)); err != nil {
		t.Errorf("ce_time: %v", err)
	}
	if tp := header(m, contract.HeaderTraceparent); contract.TraceID(tp) != contract.TraceID(e.parent) || tp == e.parent {
		t.Errorf("traceparent %q should continue trace of %q with a new span", tp, e.parent)
	}
	e.waitLag(t, contract.TopicUploaded)
}

func TestTransientErrorIsRetriedThenSucceeds(t *testing.T) {
	e := newEnv(t, 1)
	in := uploaded(contract.NewID())
	e.produce(t, in)
	var calls atomic.Int32
	r := e.start(t, func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
		if calls.Add(1) <= 2 {
			return contract.VideoTranscoded{}, errors.New("storage hiccup")
		}
		return transcodeOK(ctx, in)
	})
	out := e.k.ReadAll(t, contract.TopicTranscoded, 1, 30*time.Second)
	if string(out[0].Key) != in.VideoID {
		t.Fatalf("wrong key %q", out[0].Key)
	}
	if c := calls.Load(); c != 3 {
		t.Fatalf("handler called %d times, want 3", c)
	}
	e.waitLag(t, contract.TopicUploaded)
	metrics := scrape(t, r.httpAddr(t))
	for _, want := range []struct {
		name   string
		labels []string
		value  float64
	}{
		{"vidpipe_stage_messages_total", []string{"outcome", "retried", "stage", "transcode"}, 2},
		{"vidpipe_stage_messages_total", []string{"outcome", "ok", "stage", "transcode"}, 1},
		{"vidpipe_stage_messages_total", []string{"outcome", "dead_lettered", "stage", "transcode"}, 0},
		{"vidpipe_stage_handler_duration_seconds_count", []string{"result", "error", "stage", "transcode"}, 2},
	} {
		if got, ok := metrics.Value(want.name, want.labels...); !ok || got != want.value {
			t.Errorf("%s%q = %v (present %v), want %v", want.name, want.labels, got, ok, want.value)
		}
	}
	if n := len(e.k.ReadAll(t, contract.TopicTranscodeDLQ, 0, 200*time.Millisecond)); n != 0 {
		t.Errorf("%d DLQ records, want 0", n)
	}
}

func TestExhaustedRetriesDeadLetterWithEveryHeader(t *testing.T) {
	e := newEnv(t, 2)
	in := uploaded(contract.NewID())
	e.produce(t, in)
	var calls atomic.Int32
	e.start(t, func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
		calls.Add(1)
		return contract.VideoTranscoded{}, errors.New("minio unreachable")
	})
	dlq := e.k.ReadAll(t, contract.TopicTranscodeDLQ, 1, 30*time.Second)
	orig := e.k.ReadAll(t, contract.TopicUploaded, 1, time.Second)[0]
	m := dlq[0]
	if string(m.Key) != string(orig.Key) || string(m.Value) != string(orig.Value) {
		t.Fatalf("DLQ record must keep the original key and value")
	}
	for _, h := range orig.Headers { // original headers preserved
		if v := header(m, h.Key); v != string(h.Value) {
			t.Errorf("original header %s = %q, want %q", h.Key, v, h.Value)
		}
	}
	dl, ok := contract.ParseDeadLetter(stage.FromKafkaHeaders(m.Headers))
	if !ok {
		t.Fatal("no dlq headers")
	}
	if dl.Stage != contract.StageTranscode || dl.Topic != contract.TopicUploaded || dl.Partition != orig.Partition ||
		dl.Offset != orig.Offset || dl.Group != "transcode" || dl.Class != contract.ErrorClassExhausted ||
		dl.Attempts != 3 || !strings.Contains(dl.Err, "minio unreachable") || time.Since(dl.FailedAt) > time.Minute {
		t.Errorf("unexpected dead letter %+v", dl)
	}
	for _, k := range contract.DLQHeaderKeys {
		if header(m, k) == "" {
			t.Errorf("header %s missing", k)
		}
	}
	if c := calls.Load(); c != 3 {
		t.Errorf("handler called %d times, want 3 (max attempts)", c)
	}
	e.waitLag(t, contract.TopicUploaded)
}

func TestPermanentErrorDeadLettersWithoutRetry(t *testing.T) {
	e := newEnv(t, 1)
	e.produce(t, uploaded(contract.NewID()))
	var calls atomic.Int32
	e.start(t, func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
		calls.Add(1)
		return contract.VideoTranscoded{}, stage.Permanentf("not a video: format %q not allowed", "png_pipe")
	})
	m := e.k.ReadAll(t, contract.TopicTranscodeDLQ, 1, 30*time.Second)[0]
	if c := header(m, contract.HeaderDLQErrorClass); c != contract.ErrorClassPermanent {
		t.Errorf("class = %q", c)
	}
	if a := header(m, contract.HeaderDLQAttempts); a != "1" {
		t.Errorf("attempts = %q, want 1", a)
	}
	if !strings.Contains(header(m, contract.HeaderDLQError), "not a video") {
		t.Errorf("error header %q", header(m, contract.HeaderDLQError))
	}
	e.waitLag(t, contract.TopicUploaded)
	if c := calls.Load(); c != 1 {
		t.Errorf("handler called %d times, want 1", c)
	}
}

func TestBadRecordsGoStraightToDLQ(t *testing.T) {
	e := newEnv(t, 1)
	good := uploaded(contract.NewID())
	missing := uploaded(contract.NewID())
	missing.Owner = ""
	missingValue, _ := json.Marshal(missing)
	future := uploaded(contract.NewID())
	future.SchemaVersion = 99
	futureValue, _ := json.Marshal(future)
	goodValue, _ := json.Marshal(good)
	other := contract.NewID()
	cases := []struct {
		name, key string
		value     []byte
		reason    string
	}{
		{"invalid json", contract.NewID(), []byte(`{"video_id": "oops`), "decode"},
		{"missing field", missing.VideoID, missingValue, "owner"},
		{"unknown schema version", future.VideoID, futureValue, "schema_version"},
		{"no key", "", goodValue, "no key"},
		{"key mismatch", other, goodValue, "does not match"},
	}
	var msgs []kafka.Message
	for _, c := range cases {
		m := kafka.Message{Topic: contract.TopicUploaded, Value: c.value}
		if c.key != "" {
			m.Key = []byte(c.key)
		}
		msgs = append(msgs, m)
	}
	e.k.Produce(t, msgs...)
	e.produce(t, good) // a good record after the bad ones still completes
	var calls atomic.Int32
	e.start(t, func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
		calls.Add(1)
		return transcodeOK(ctx, in)
	})
	out := e.k.ReadAll(t, contract.TopicTranscoded, 1, 30*time.Second)
	if string(out[0].Key) != good.VideoID {
		t.Fatalf("good record not processed")
	}
	dlq := e.k.ReadAll(t, contract.TopicTranscodeDLQ, len(cases), 30*time.Second)
	for i, c := range cases {
		m := dlq[i]
		if string(m.Value) != string(c.value) {
			t.Errorf("%s: DLQ value changed", c.name)
		}
		if header(m, contract.HeaderDLQErrorClass) != contract.ErrorClassPermanent || header(m, contract.HeaderDLQAttempts) != "0" {
			t.Errorf("%s: class %q attempts %q", c.name, header(m, contract.HeaderDLQErrorClass), header(m, contract.HeaderDLQAttempts))
		}
		if !strings.Contains(header(m, contract.HeaderDLQError), c.reason) {
			t.Errorf("%s: error %q lacks %q", c.name, header(m, contract.HeaderDLQError), c.reason)
		}
	}
	if c := calls.Load(); c != 1 {
		t.Errorf("handler called %d times, want 1 (bad records never reach it)", c)
	}
	e.waitLag(t, contract.TopicUploaded)
}

func TestDLQPublishFailureIsRetriedAndNotCommitted(t *testing.T) {
	e := newEnv(t, 1)
	e.opts.Runtime.MaxAttempts = 1
	var failing atomic.Bool
	failing.Store(true)
	var rejected atomic.Int32
	e.k.Cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.k.Cluster.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		toDLQ := false
		for _, tp := range pr.Topics {
			toDLQ = toDLQ || tp.Topic == contract.TopicTranscodeDLQ
		}
		if !toDLQ || !failing.Load() {
			return nil, nil, false
		}
		rejected.Add(1)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, tp := range pr.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = tp.Topic
			for _, p := range tp.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.NotEnoughReplicas.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	e.produce(t, uploaded(contract.NewID()))
	e.start(t, func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
		return contract.VideoTranscoded{}, errors.New("always fails")
	})
	deadline := time.Now().Add(30 * time.Second)
	for rejected.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if rejected.Load() < 4 {
		t.Fatalf("DLQ publish attempted only %d times", rejected.Load())
	}
	if c := e.k.Committed(t, "transcode", contract.TopicUploaded); c[0] > 0 {
		t.Fatalf("offset committed (%v) while the DLQ publish is failing", c)
	}
	failing.Store(false)
	dlq := e.k.ReadAll(t, contract.TopicTranscodeDLQ, 1, 30*time.Second)
	if header(dlq[0], contract.HeaderDLQErrorClass) != contract.ErrorClassExhausted {
		t.Errorf("unexpected DLQ record headers %v", dlq[0].Headers)
	}
	e.waitLag(t, contract.TopicUploaded)
}

func TestAbandonedRecordIsRedeliveredAfterRestart(t *testing.T) {
	e := newEnv(t, 1)
	e.opts.Runtime.ShutdownGrace = config.Off // a "crash": the in-flight attempt is cut short
	in := uploaded(contract.NewID())
	e.produce(t, in)
	started := make(chan struct{}, 1)
	r := e.start(t, func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
		started <- struct{}{}
		<-ctx.Done()
		return contract.VideoTranscoded{}, ctx.Err()
	})
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("handler never started")
	}
	r.stop(t)
	if n := len(e.k.ReadAll(t, contract.TopicTranscodeDLQ, 0, 200*time.Millisecond)); n != 0 {
		t.Fatalf("an abandoned record must not be dead-lettered (%d found)", n)
	}
	if c := e.k.Committed(t, "transcode", contract.TopicUploaded); c[0] > 0 {
		t.Fatalf("abandoned record was committed: %v", c)
	}
	e.start(t, transcodeOK)
	out := e.k.ReadAll(t, contract.TopicTranscoded, 1, 30*time.Second)
	if string(out[0].Key) != in.VideoID {
		t.Fatalf("redelivered record not processed")
	}
	e.waitLag(t, contract.TopicUploaded)
}

func TestGracefulShutdownFinishesAndCommitsInFlight(t *testing.T) {
	e := newEnv(t, 1)
	e.opts.Runtime.CommitInterval = time.Second // async commits must be flushed on close
	in := uploaded(contract.NewID())
	e.produce(t, in)
	started, release := make(chan struct{}), make(chan struct{})
	r := e.start(t, func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
		close(started)
		<-release
		return transcodeOK(ctx, in)
	})
	<-started
	r.cancel() // SIGTERM while the attempt runs
	time.Sleep(200 * time.Millisecond)
	close(release)
	r.stop(t)
	if out := e.k.ReadAll(t, contract.TopicTranscoded, 1, 10*time.Second); string(out[0].Key) != in.VideoID {
		t.Fatal("in-flight record not published")
	}
	if lag := e.k.Lag(t, "transcode", contract.TopicUploaded); lag != 0 {
		t.Fatalf("lag after graceful shutdown = %d, want 0 (in-flight offset committed)", lag)
	}
}

func TestMembersSharePartitions(t *testing.T) {
	e := newEnv(t, 4)
	const n = 40
	var evs []contract.VideoUploaded
	for i := 0; i < n; i++ {
		evs = append(evs, uploaded(contract.NewID()))
	}
	var mu sync.Mutex
	seen := map[string]map[int]bool{} // process → partitions (by key hash via output)
	handler := func(name string) stage.Handler[contract.VideoUploaded, contract.VideoTranscoded] {
		return func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
			mu.Lock()
			if seen[name] == nil {
				seen[name] = map[int]bool{}
			}
			seen[name][len(seen[name])] = true
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			return transcodeOK(ctx, in)
		}
	}
	e.opts.Runtime.Concurrency = 2
	e.start(t, handler("a"))
	e.start(t, handler("b"))
	// Produce once all four members (2 processes × concurrency 2) have
	// joined and the group is stable, so the partitions are spread.
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, state := describeGroup(t, e.k.Brokers[0], "transcode")
		if n == 4 && state == "Stable" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group never had 4 stable members (last: %d, %s)", n, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.produce(t, evs...)
	out := e.k.ReadAll(t, contract.TopicTranscoded, n, 60*time.Second)
	keys := map[string]bool{}
	for _, m := range out {
		keys[string(m.Key)] = true
	}
	for _, ev := range evs {
		if !keys[ev.VideoID] {
			t.Errorf("video %s not processed", ev.VideoID)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen["a"]) == 0 || len(seen["b"]) == 0 {
		t.Errorf("both processes must get partitions: a=%d b=%d", len(seen["a"]), len(seen["b"]))
	}
	members, _ := describeGroup(t, e.k.Brokers[0], "transcode")
	if members != 4 {
		t.Errorf("group has %d members, want 4 (2 processes × concurrency 2)", members)
	}
	e.waitLag(t, contract.TopicUploaded)
}

func describeGroup(t *testing.T, broker, group string) (members int, state string) {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 5 * time.Second}
	resp, err := c.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		t.Fatalf("describe group: %v", err)
	}
	if len(resp.Groups) != 1 {
		t.Fatalf("describe group: %d groups", len(resp.Groups))
	}
	return len(resp.Groups[0].Members), resp.Groups[0].GroupState
}

func TestNotReadyUntilKafkaIsUp(t *testing.T) {
	port := launch.MustFreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	opts := stage.Options{
		Stage: contract.StageTranscode, Kafka: config.Kafka{Brokers: []string{addr}},
		Logger:  slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Runtime: config.Stage{HTTPAddr: "127.0.0.1:0", BatchTimeout: time.Millisecond, ShutdownGrace: time.Second},
		Checks:  []stage.Check{{Name: "storage", Fn: func(context.Context) error { return nil }}},
	}
	e := &env{opts: opts, parent: contract.NewTraceparent("")}
	r := e.start(t, transcodeOK)
	http := r.httpAddr(t)
	if code, _ := get(t, "http://"+http+"/healthz"); code != 200 {
		t.Fatalf("/healthz = %d, want 200 while Kafka is down", code)
	}
	if code, body := get(t, "http://"+http+"/readyz"); code != 503 || !strings.Contains(body, "kafka") {
		t.Fatalf("/readyz = %d %s, want 503 naming kafka", code, body)
	}
	e.k = harness.StartKafka(t, kfake.Ports(port))
	e.k.CreatePipelineTopics(t, 1)
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := get(t, "http://"+http+"/readyz")
		if code == 200 && strings.Contains(body, `"storage":"ok"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never became ready: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	in := uploaded(contract.NewID())
	e.produce(t, in)
	if out := e.k.ReadAll(t, contract.TopicTranscoded, 1, 30*time.Second); string(out[0].Key) != in.VideoID {
		t.Fatal("not processed after Kafka came up")
	}
	m := scrape(t, http)
	if _, ok := m.Value("vidpipe_stage_consumer_lag", "group", "transcode", "partition", "0", "stage", "transcode", "topic", "video.uploaded"); !ok {
		t.Error("metrics lack the lag series of partition 0")
	}
	if v, ok := m.Value("vidpipe_stage_ready", "stage", "transcode"); !ok || v != 1 {
		t.Errorf("vidpipe_stage_ready = %v (present %v), want 1", v, ok)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape reads the runtime's /metrics.
func scrape(t *testing.T, addr string) promtext.Families {
	t.Helper()
	f, err := promtext.Scrape(context.Background(), "http://"+addr+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

package dispatch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/services/webhooks/dispatch"
	"github.com/vidpipe/vidpipe/services/webhooks/endpoints"
	"github.com/vidpipe/vidpipe/services/webhooks/ssrf"
)

func TestMain(m *testing.M) { harness.Main(m) }

// env is a running webhooks service (consumer and deliverer) on a real
// kfake broker and a real PostgreSQL, with the /v1/webhooks API served by
// an httptest server that takes the user from the X-Test-User header.
type env struct {
	k     *harness.Kafka
	pool  *pgxpool.Pool
	store *endpoints.Store
	api   *httptest.Server
	log   *slog.Logger
}

type userKey struct{}

// startEnv starts the broker (pipeline topics, 2 partitions), a database,
// the API with guard, and the service with opts (small delays filled in
// where opts leaves them zero).
func startEnv(t *testing.T, guard ssrf.Guard, opts dispatch.Options) *env {
	t.Helper()
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 2)
	url := harness.MustDatabase(t, harness.SharedPostgres(t))
	ctx, cancel := context.WithCancel(context.Background())
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := endpoints.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := &env{k: k, pool: pool, store: endpoints.NewStore(pool), log: log}

	api := endpoints.NewAPI(e.store, endpoints.APIOptions{Guard: guard, SecretGrace: time.Hour, Logger: log}).
		For(func(ctx context.Context) string { s, _ := ctx.Value(userKey{}).(string); return s }, nil, nil)
	mux := http.NewServeMux()
	mux.Handle("POST /v1/webhooks", api.Create())
	mux.Handle("GET /v1/webhooks", api.List())
	mux.Handle("GET /v1/webhooks/{id}", api.Get())
	mux.Handle("DELETE /v1/webhooks/{id}", api.Delete())
	mux.Handle("POST /v1/webhooks/{id}/rotate-secret", api.RotateSecret())
	mux.Handle("POST /v1/webhooks/{id}/enable", api.Enable())
	mux.Handle("GET /v1/webhooks/{id}/deliveries", api.Deliveries())
	mux.Handle("POST /v1/webhooks/{id}/replay", api.Replay())
	e.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, r.Header.Get("X-Test-User"))))
	}))

	if opts.Poll == 0 {
		opts.Poll = 50 * time.Millisecond
	}
	if opts.Retry.Initial == 0 {
		opts.Retry.Initial, opts.Retry.Max, opts.Retry.EqualJitter = 20*time.Millisecond, 100*time.Millisecond, true
	}
	if opts.AttemptTimeout == 0 {
		opts.AttemptTimeout = 5 * time.Second
	}
	opts.Logger = log
	opts.Guard = guard
	if opts.DeadLetters == nil {
		w, err := dispatch.NewDeadLetterWriter(config.Kafka{Brokers: k.Brokers})
		if err != nil {
			t.Fatal(err)
		}
		opts.DeadLetters = w
		t.Cleanup(func() { _ = w.Close() })
	}
	c := dispatch.NewConsumer(config.Kafka{Brokers: k.Brokers}, e.store, opts.Metrics, log)
	d := dispatch.NewDeliverer(e.store, opts)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = c.Run(ctx) }()
	go func() { defer wg.Done(); _ = d.Run(ctx) }()
	t.Cleanup(func() {
		e.api.Close()
		cancel()
		wg.Wait()
		pool.Close()
	})
	return e
}

// call sends a JSON request to the API as user and decodes the answer
// into out (when not nil); it returns the status.
func (e *env) call(t *testing.T, user, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.api.URL+path, rd)
	req.Header.Set("X-Test-User", user)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

type created struct {
	ID             string   `json:"id"`
	URL            string   `json:"url"`
	Secret         string   `json:"secret"`
	EventTypes     []string `json:"event_types"`
	Enabled        bool     `json:"enabled"`
	DisabledReason string   `json:"disabled_reason"`
}

// register creates an endpoint for user and returns it with its secret.
func (e *env) register(t *testing.T, user, url string, types ...string) created {
	t.Helper()
	var c created
	if st := e.call(t, user, "POST", "/v1/webhooks", map[string]any{"url": url, "event_types": types}, &c); st != http.StatusCreated {
		t.Fatalf("register %s: status %d", url, st)
	}
	return c
}

// delivery is one request a receiver got.
type delivery struct {
	Header http.Header
	Body   []byte
	CE     dispatch.CloudEvent
	// VerifyErr is the reference library's verdict.
	VerifyErr error
}

// receiver is an httptest endpoint on 127.0.0.1 that records deliveries,
// verifies them with the Standard Webhooks reference library and answers
// with status() (default 204).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []delivery
	secret string
	status func() int
	// location, when set, is sent as the Location header.
	location string
	// block, when set, makes every request wait until it is closed.
	block chan struct{}
	// started counts requests begun (also those blocked).
	started int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.started++
		block := r.block
		r.mu.Unlock()
		if block != nil {
			select {
			case <-block:
			case <-req.Context().Done():
				return
			}
		}
		body, _ := io.ReadAll(req.Body)
		d := delivery{Header: req.Header.Clone(), Body: body}
		_ = json.Unmarshal(body, &d.CE)
		r.mu.Lock()
		if r.secret != "" {
			wh, err := standardwebhooks.NewWebhook(r.secret)
			if err == nil {
				err = wh.Verify(body, req.Header)
			}
			d.VerifyErr = err
		}
		r.got = append(r.got, d)
		status := r.status
		if r.location != "" {
			w.Header().Set("Location", r.location)
		}
		r.mu.Unlock()
		code := http.StatusNoContent
		if status != nil {
			code = status()
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, http.StatusText(code))
	}))
	t.Cleanup(func() {
		r.mu.Lock()
		if r.block != nil {
			select {
			case <-r.block:
			default:
				close(r.block)
			}
		}
		r.mu.Unlock()
		r.Server.Close()
	})
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// count returns how many deliveries of event id arrived.
func (r *receiver) count(id string) int {
	n := 0
	for _, d := range r.deliveries() {
		if d.Header.Get("webhook-id") == id {
			n++
		}
	}
	return n
}

// waitFor polls cond for up to a minute (a bound, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// idle waits until no delivery is pending or exhausted.
func (e *env) idle(t *testing.T) {
	t.Helper()
	waitFor(t, "the delivery queue to drain", func() bool {
		var n int
		if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries WHERE status IN ('pending', 'exhausted')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
}

// recorded waits until event id is in the event log (the consumer got it).
func (e *env) recorded(t *testing.T, id string) {
	t.Helper()
	waitFor(t, "event "+id+" to be recorded", func() bool {
		_, ok, err := e.store.EventByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	})
}

func uploaded(owner string) contract.VideoUploaded {
	id := contract.NewID()
	return contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: id, Owner: owner, Title: "Harbour at dawn",
		Source:     contract.SourceObject{Bucket: "vidpipe", Key: contract.SourceKey(id), Size: 10_000, ContentType: "video/mp4"},
		UploadedAt: time.Now().UTC().Truncate(time.Second),
	}}
}

func ready(up contract.VideoUploaded) contract.VideoReady {
	t0 := up.UploadedAt
	id := up.VideoID
	tr := up.Transcoded(contract.Media{DurationSeconds: 8, Width: 640, Height: 360},
		[]contract.Rendition{{Name: "360p", Width: 640, Height: 360, Key: contract.RenditionKey(id, "360p"), Size: 5000}},
		contract.HLS{MasterKey: contract.HLSMasterKey(id)}, t0)
	return tr.Thumbnailed(contract.Thumbnails{
		Poster: contract.Image{Key: contract.ThumbnailPrefix(id) + "poster.jpg", Width: 640, Height: 360, Size: 5000},
		Small:  contract.Image{Key: contract.ThumbnailPrefix(id) + "thumb.jpg", Width: 320, Height: 180, Size: 900},
	}, t0).Ready(t0)
}

// record returns e as its producer publishes it, with ce_id id.
func record(t *testing.T, e contract.Event, id string) kafka.Message {
	t.Helper()
	value, err := contract.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	var hs []kafka.Header
	for _, h := range contract.CloudEventHeaders(e, contract.Meta{ID: id, Source: contract.SourceFor("test"), Time: time.Now()}) {
		hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
	}
	return kafka.Message{Topic: e.Topic(), Key: []byte(e.Key()), Value: value, Headers: hs}
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/services/webhooks/endpoints"
	"github.com/vidpipe/vidpipe/services/webhooks/signature"
)

func TestMain(m *testing.M) { harness.Main(m) }

func TestRunHelpAndBadConfig(t *testing.T) {
	ctx := context.Background()
	if err := run(ctx, []string{"-h"}, nil, io.Discard); err != nil {
		t.Errorf("run -h: %v, want nil", err)
	}
	for _, args := range [][]string{
		{"--webhooks.workers=0"},
		{"--webhooks.retry_horizon=0s"},
		{"--webhooks.backoff_initial=1m", "--webhooks.backoff_max=1s"},
	} {
		if err := run(ctx, args, nil, io.Discard); err == nil || !strings.Contains(err.Error(), "webhooks.") {
			t.Errorf("run %v = %v, want an error naming the key", args, err)
		}
	}
	if err := run(ctx, []string{"listen"}, nil, io.Discard); err == nil || !strings.Contains(err.Error(), "--secret") {
		t.Errorf("listen without a secret: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the logs of a running process.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRunDeliversToListen runs the service as its main does (config from
// flags, migrations, ops listener) against a real broker and PostgreSQL,
// and `webhooks listen` as the receiver: a video.ready record arrives
// there verified by the Standard Webhooks reference library.
func TestRunDeliversToListen(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 1)
	dbURL := harness.MustDatabase(t, harness.SharedPostgres(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := endpoints.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	listenAddr := freeAddr(t)
	_, secret, err := endpoints.NewStore(pool).Create(ctx, "alice", endpoints.NewEndpoint{URL: "http://" + listenAddr + "/", EventTypes: []string{"video.uploaded"}})
	if err != nil {
		t.Fatal(err)
	}

	var listenOut syncBuffer
	listenDone := make(chan error, 1)
	go func() {
		listenDone <- run(ctx, []string{"listen", "--addr", listenAddr, "--secret", secret}, nil, &listenOut)
	}()

	ops := freeAddr(t)
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"--kafka.brokers=" + k.Brokers[0],
			"--postgres.url=" + dbURL,
			"--webhooks.ops_addr=" + ops,
			"--webhooks.allow_private=true",
			"--webhooks.poll_interval=50ms",
		}, nil, &logs)
	}()
	waitFor(t, "/readyz", func() bool {
		resp, err := http.Get("http://" + ops + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	value := []byte(`{"schema_version":1,"video_id":"` + contract.NewID() + `","owner":"alice","title":"t"}`)
	id := contract.NewID()
	k.Produce(t, kafka.Message{Topic: contract.TopicUploaded, Key: []byte("k"), Value: value, Headers: []kafka.Header{
		{Key: contract.HeaderID, Value: []byte(id)}, {Key: contract.HeaderType, Value: []byte(contract.TypeUploaded)}}})
	waitFor(t, "the verified delivery at webhooks listen", func() bool {
		return strings.Contains(listenOut.String(), "verified webhook-id="+id)
	})

	// An unsigned request is refused by the receiver.
	resp, err := http.Post("http://"+listenAddr+"/", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned request: %d, want 401", resp.StatusCode)
	}
	hs, _ := signature.Headers("x", time.Now(), []byte(`{}`), signature.NewSecret())
	req, _ := http.NewRequest(http.MethodPost, "http://"+listenAddr+"/", strings.NewReader(`{}`))
	for k, v := range hs {
		req.Header.Set(k, v)
	}
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("request signed with another secret: %v %v, want 401", resp, err)
	}

	resp, err = http.Get("http://" + ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`vidpipe_webhooks_deliveries_total{outcome="delivered"} 1`, "vidpipe_webhooks_delivery_duration_seconds_bucket",
		"vidpipe_webhooks_oldest_due_seconds", `vidpipe_webhooks_events_total{type="video.uploaded"} 1`} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	cancel()
	for _, ch := range []chan error{done, listenDone} {
		select {
		case err := <-ch:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("run did not return after cancel")
		}
	}
	if t.Failed() {
		t.Logf("service logs:\n%s", logs.String())
	}
}

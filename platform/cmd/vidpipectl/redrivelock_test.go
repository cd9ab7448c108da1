package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/dlq"
)

// dlq redrive takes the API's redrive lock (the advisory lock the API's
// redrives hold in its status database, taken here with the API's own
// statement) before it publishes anything: while an API redrive holds it,
// the CLI waits and gives up after --lock-wait without redriving; once
// it is released the redrive goes ahead. Without the lock, the two could
// run at once, which the redrive bookkeeping does not allow (a record
// applied twice).
func TestDLQRedriveTakesTheAPIsLock(t *testing.T) {
	ctx := context.Background()
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 1)
	dbURL := harness.MustDatabase(t, harness.SharedPostgres(t))
	id := contract.NewID()
	dl := contract.DeadLetter{Stage: contract.StageTranscode, Topic: contract.TopicUploaded, Offset: 1, Group: "transcode",
		Err: "ffmpeg: exit status 1", Class: contract.ErrorClassExhausted, Attempts: 5, FailedAt: time.Now()}
	var hs []kafka.Header
	for _, h := range dl.Headers([]contract.Header{{Key: contract.HeaderID, Value: []byte("orig")}}) {
		hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
	}
	k.Produce(t, kafka.Message{Topic: contract.TopicTranscodeDLQ, Key: []byte(id), Value: []byte(`{"video_id":"` + id + `"}`), Headers: hs})
	getenv := env(map[string]string{
		config.EnvName("kafka.brokers"): strings.Join(k.Brokers, ","),
		config.EnvName("postgres.url"):  dbURL,
	})

	// An API redrive in progress (projection.Store.WithRedriveLock).
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('vidpipe.redrive', 0))`); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = run(ctx, []string{"dlq", "redrive", "transcode", "--lock-wait", "1s"}, getenv, &out, &out)
	if !errors.Is(err, dlq.ErrRedriveBusy) || !strings.Contains(out.String(), "waiting up to 1s for another redrive") {
		t.Fatalf("redrive while the API's lock is held: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"dlq", "list", "transcode", "--all"}, getenv, &out, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "redriven") || !strings.Contains(out.String(), id) {
		t.Fatalf("the record was touched while the lock was held:\n%s", out.String())
	}

	// The API's redrive ends: the CLI's goes ahead.
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"dlq", "redrive", "transcode", "--lock-wait", "1m"}, getenv, &out, &out); err != nil {
		t.Fatalf("redrive after the lock was released: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "1 record(s) redriven") || strings.Contains(out.String(), "waiting") {
		t.Fatalf("redrive output:\n%s", out.String())
	}
	// And it released the lock: the API's next redrive gets it at once.
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended('vidpipe.redrive', 0))`).Scan(&got); err != nil || !got {
		t.Fatalf("lock after the CLI's redrive: %v, %v; want it free", got, err)
	}
}

// Without a status database (no --postgres, no $VIDPIPE_POSTGRES_URL) the
// redrive runs unserialized, and says so.
func TestDLQRedriveWithoutDatabaseWarns(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 1)
	getenv := env(map[string]string{config.EnvName("kafka.brokers"): strings.Join(k.Brokers, ",")})
	var out bytes.Buffer
	if err := run(context.Background(), []string{"dlq", "redrive", "transcode"}, getenv, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "not serialized with the API's") || !strings.Contains(out.String(), "0 record(s) redriven") {
		t.Fatalf("output:\n%s", out.String())
	}
}

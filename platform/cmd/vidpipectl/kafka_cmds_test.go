package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/dlq"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/platform/topics"
)

func TestMain(m *testing.M) { harness.Main(m) }

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestTopicsCreateSetsAndChecksMinInsyncReplicas(t *testing.T) {
	ctx := context.Background()
	t.Run("production, new topics", func(t *testing.T) {
		k := harness.StartKafka(t, kfake.NumBrokers(3))
		var out bytes.Buffer
		getenv := env(map[string]string{config.EnvName("kafka.brokers"): strings.Join(k.Brokers, ",")})
		if err := run(ctx, []string{"topics", "create", "--partitions=2", "--replication=3"}, getenv, &out, &out); err != nil {
			t.Fatalf("topics create: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "min.insync.replicas 2") || strings.Contains(out.String(), "warning") {
			t.Errorf("output:\n%s", out.String())
		}
		client := &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: 5 * time.Second}
		ds, err := topics.Describe(ctx, client, contract.AllTopics()...)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.ReplicationFactor != 3 || d.MinInsyncReplicas != 2 {
				t.Errorf("%+v", d)
			}
		}
	})
	t.Run("production, topics of an older version", func(t *testing.T) {
		k := harness.StartKafka(t, kfake.NumBrokers(3))
		client := &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: 5 * time.Second}
		req := &kafka.CreateTopicsRequest{}
		for _, n := range contract.AllTopics() {
			req.Topics = append(req.Topics, kafka.TopicConfig{Topic: n, NumPartitions: 2, ReplicationFactor: 3})
		}
		if _, err := client.CreateTopics(ctx, req); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		// Settings from the environment, as in the Kubernetes Job.
		getenv := env(map[string]string{config.EnvName("kafka.brokers"): strings.Join(k.Brokers, ","),
			config.EnvName("kafka.replication_factor"): "3", config.EnvName("kafka.min_insync_replicas"): "2"})
		if err := run(ctx, []string{"topics", "create"}, getenv, &out, &out); err != nil {
			t.Fatalf("topics create: %v\n%s", err, out.String())
		}
		if n := strings.Count(out.String(), "min.insync.replicas raised to 2"); n != len(contract.AllTopics()) {
			t.Errorf("%d topics raised, want %d:\n%s", n, len(contract.AllTopics()), out.String())
		}
	})
	t.Run("production, unreplicated topics are refused", func(t *testing.T) {
		k := harness.StartKafka(t, kfake.NumBrokers(3))
		k.CreatePipelineTopics(t, 2) // replication factor 1
		var out bytes.Buffer
		getenv := env(map[string]string{config.EnvName("kafka.brokers"): strings.Join(k.Brokers, ",")})
		err := run(ctx, []string{"topics", "create", "--replication=3"}, getenv, &out, &out)
		if err == nil || !strings.Contains(err.Error(), "replication factor 1, configured kafka.replication_factor is 3") {
			t.Fatalf("topics create = %v; want the replication factor refused\n%s", err, out.String())
		}
	})
	t.Run("development warns", func(t *testing.T) {
		k := harness.StartKafka(t)
		var out bytes.Buffer
		getenv := env(map[string]string{config.EnvName("kafka.brokers"): strings.Join(k.Brokers, ",")})
		if err := run(ctx, []string{"topics", "create"}, getenv, &out, &out); err != nil {
			t.Fatalf("topics create: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "warning: topics ") || !strings.Contains(out.String(), "leader alone") {
			t.Errorf("no durability warning:\n%s", out.String())
		}
	})
	t.Run("impossible settings", func(t *testing.T) {
		var out bytes.Buffer
		err := run(ctx, []string{"topics", "create", "--brokers=127.0.0.1:1", "--replication=1", "--min-insync-replicas=2"}, env(nil), &out, &out)
		if err == nil || !strings.Contains(err.Error(), "min_insync_replicas") {
			t.Fatalf("topics create = %v", err)
		}
	})
}

// dlq list shows where a moved value is and how big it is; dlq redrive
// reads it from S3 (configured through VIDPIPE_S3_*) and re-publishes it.
func TestDLQCommandsWithValueInS3(t *testing.T) {
	ctx := context.Background()
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 1)
	m := harness.SharedMinIO(t)
	cfg := m.S3Config(harness.MustBucket(t, m))
	st, err := storage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	value := []byte(`{"video_id":"x","padding":"` + strings.Repeat("p", 5000) + `"}`)
	ref, err := dlq.S3Store{Store: st}.PutDeadLetterValue(ctx, dlq.ValueKey(contract.StageTranscode, contract.TopicUploaded, 0, 3), value)
	if err != nil {
		t.Fatal(err)
	}
	id := contract.NewID()
	dl := contract.DeadLetter{Stage: contract.StageTranscode, Topic: contract.TopicUploaded, Offset: 3, Group: "transcode", Err: "too large",
		Class: contract.ErrorClassPermanent, Attempts: 1, FailedAt: time.Now(), ValueRef: ref, ValueBytes: len(value)}
	var hs []kafka.Header
	for _, h := range dl.Headers([]contract.Header{{Key: contract.HeaderID, Value: []byte("orig")}}) {
		hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
	}
	k.Produce(t, kafka.Message{Topic: contract.TopicTranscodeDLQ, Key: []byte(id), Headers: hs})

	getenv := env(map[string]string{
		config.EnvName("kafka.brokers"): strings.Join(k.Brokers, ","),
		config.EnvName("s3.endpoint"):   cfg.Endpoint, config.EnvName("s3.bucket"): "elsewhere",
		config.EnvName("s3.access_key"): cfg.AccessKey, config.EnvName("s3.secret_key"): cfg.SecretKey,
	})
	var out bytes.Buffer
	if err := run(ctx, []string{"dlq", "list", "transcode"}, getenv, &out, &out); err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(len(value)) + " B at " + ref; !strings.Contains(out.String(), want) {
		t.Errorf("dlq list does not show %q:\n%s", want, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"dlq", "list", "transcode", "--json"}, getenv, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"value_ref":"`+ref+`"`) || !strings.Contains(out.String(), `"value_bytes":`+strconv.Itoa(len(value))) {
		t.Errorf("dlq list --json:\n%s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"dlq", "redrive", "transcode"}, getenv, &out, &out); err != nil {
		t.Fatalf("dlq redrive: %v\n%s", err, out.String())
	}
	got := k.ReadAll(t, contract.TopicUploaded, 1, 10*time.Second)
	if len(got) != 1 || !bytes.Equal(got[0].Value, value) || string(got[0].Key) != id {
		t.Fatalf("redriven %d records; value %d bytes, want %d", len(got), len(got[0].Value), len(value))
	}
}

// dlq list shows a work item's dead letter with its key and the topic it
// failed on; dlq redrive --id VIDEO re-publishes it there, with its key.
func TestDLQCommandsWithChunkDeadLetter(t *testing.T) {
	ctx := context.Background()
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 2)
	id := contract.NewID()
	key := contract.ChunkKey(id, contract.ChunkVideo, 3)
	dl := contract.DeadLetter{Stage: contract.StageTranscode, Topic: contract.TopicTranscodeChunks, Offset: 4, Group: "transcode-chunks",
		Err: "ffmpeg: exit status 1", Class: contract.ErrorClassExhausted, Attempts: 5, FailedAt: time.Now()}
	var hs []kafka.Header
	for _, h := range dl.Headers([]contract.Header{{Key: contract.HeaderID, Value: []byte("orig")}}) {
		hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
	}
	value := []byte(`{"video_id":"` + id + `","kind":"video","index":3}`)
	k.Produce(t, kafka.Message{Topic: contract.TopicTranscodeDLQ, Key: []byte(key), Value: value, Headers: hs})
	getenv := env(map[string]string{config.EnvName("kafka.brokers"): strings.Join(k.Brokers, ",")})

	var out bytes.Buffer
	if err := run(ctx, []string{"dlq", "list", "transcode"}, getenv, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), key+"  "+contract.TopicTranscodeChunks+"  exhausted") {
		t.Errorf("dlq list does not show the key %s and the topic %s:\n%s", key, contract.TopicTranscodeChunks, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"dlq", "redrive", "transcode", "--id", id}, getenv, &out, &out); err != nil {
		t.Fatalf("dlq redrive: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "key="+key+" -> "+contract.TopicTranscodeChunks) || !strings.Contains(out.String(), "1 record(s) redriven") {
		t.Errorf("dlq redrive output:\n%s", out.String())
	}
	got := k.ReadAll(t, contract.TopicTranscodeChunks, 1, 10*time.Second)
	if len(got) != 1 || string(got[0].Key) != key || !bytes.Equal(got[0].Value, value) {
		t.Fatalf("redriven to %s: %d records, want the chunk with key %s", contract.TopicTranscodeChunks, len(got), key)
	}
}

// dlq list webhooks shows a failed webhook delivery (webhooks.dlq); dlq
// redrive webhooks puts it on webhooks.redrive with its webhook.* headers
// and a new ce_id, and a second redrive finds nothing.
func TestDLQCommandsWithWebhookDeadLetter(t *testing.T) {
	ctx := context.Background()
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 2)
	id, eventID, endpoint := contract.NewID(), contract.NewID(), contract.NewID()
	dl := contract.DeadLetter{Stage: contract.StageWebhooks, Topic: contract.TopicReady, Partition: -1, Offset: -1, Group: "webhooks",
		Err: "delivery to https://example.com/hook failed for the retry horizon (30 attempts); last: HTTP 503", Class: contract.ErrorClassExhausted,
		Attempts: 30, FailedAt: time.Now()}
	var hs []kafka.Header
	for _, h := range dl.Headers([]contract.Header{{Key: contract.HeaderID, Value: []byte(eventID)},
		{Key: contract.HeaderWebhookEndpoint, Value: []byte(endpoint)}, {Key: contract.HeaderWebhookEventID, Value: []byte(eventID)},
		{Key: contract.HeaderWebhookEventType, Value: []byte("video.ready")}}) {
		hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
	}
	value := []byte(`{"video_id":"` + id + `","owner":"alice"}`)
	k.Produce(t, kafka.Message{Topic: contract.TopicWebhooksDLQ, Key: []byte(id), Value: value, Headers: hs})
	getenv := env(map[string]string{config.EnvName("kafka.brokers"): strings.Join(k.Brokers, ",")})

	var out bytes.Buffer
	if err := run(ctx, []string{"dlq", "list", "webhooks"}, getenv, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), id+"  "+contract.TopicReady+"  exhausted") || !strings.Contains(out.String(), "HTTP 503") {
		t.Errorf("dlq list webhooks:\n%s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"dlq", "redrive", "webhooks", "--id", id}, getenv, &out, &out); err != nil {
		t.Fatalf("dlq redrive webhooks: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "-> "+contract.TopicWebhooksRedrive) || !strings.Contains(out.String(), "1 record(s) redriven") {
		t.Errorf("dlq redrive webhooks output:\n%s", out.String())
	}
	got := k.ReadAll(t, contract.TopicWebhooksRedrive, 1, 10*time.Second)
	var ghs []contract.Header
	for _, h := range got[0].Headers {
		ghs = append(ghs, contract.Header{Key: h.Key, Value: h.Value})
	}
	if string(got[0].Key) != id || contract.HeaderValue(ghs, contract.HeaderWebhookEndpoint) != endpoint ||
		contract.HeaderValue(ghs, contract.HeaderWebhookEventID) != eventID || contract.HeaderValue(ghs, contract.HeaderID) == eventID ||
		contract.HeaderValue(ghs, contract.HeaderDLQStage) != "" {
		t.Errorf("redriven record: key %s headers %v", got[0].Key, ghs)
	}
	out.Reset()
	if err := run(ctx, []string{"dlq", "redrive", "webhooks"}, getenv, &out, &out); err != nil || !strings.Contains(out.String(), "0 record(s) redriven") {
		t.Errorf("second redrive: %v\n%s", err, out.String())
	}
}

package topics_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/topics"
)

func TestMain(m *testing.M) { harness.Main(m) }

func TestEnsurePipelineIsIdempotent(t *testing.T) {
	k := harness.StartKafka(t)
	client := &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: 5 * time.Second}
	ctx := context.Background()
	res, err := topics.EnsurePipeline(ctx, client, topics.Spec{Partitions: 3})
	if err != nil || len(res) != len(contract.AllTopics()) {
		t.Fatalf("first Ensure = %v, %v", res, err)
	}
	for _, r := range res {
		if !r.Created {
			t.Errorf("%s not created", r.Topic)
		}
	}
	res, err = topics.EnsurePipeline(ctx, client, topics.Spec{Partitions: 3})
	if err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	for _, r := range res {
		if r.Created {
			t.Errorf("%s created twice", r.Topic)
		}
	}
	for _, name := range contract.AllTopics() {
		ps, err := topics.Partitions(ctx, client, name)
		if err != nil || len(ps) != 3 {
			t.Errorf("%s: partitions %v, %v", name, ps, err)
		}
	}
	k.Produce(t, kafka.Message{Topic: contract.TopicReady, Key: []byte("k"), Value: []byte("v")})
	wm, err := topics.Watermarks(ctx, client, contract.TopicReady)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, w := range wm {
		total += w[1] - w[0]
	}
	if total != 1 {
		t.Fatalf("watermarks %v: want 1 record in total", wm)
	}
}

func TestGroupLag(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreateTopics(t, 2, "lagged")
	client := &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: 5 * time.Second}
	ctx := context.Background()
	k.Produce(t,
		kafka.Message{Topic: "lagged", Key: []byte("a"), Value: []byte("1")},
		kafka.Message{Topic: "lagged", Key: []byte("a"), Value: []byte("2")},
		kafka.Message{Topic: "lagged", Key: []byte("a"), Value: []byte("3")},
	)
	sum := func(m map[int]int64) (n int64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	lag, err := topics.GroupLag(ctx, client, "nobody-yet", "lagged")
	if err != nil || len(lag) != 2 || sum(lag) != 3 {
		t.Fatalf("lag of a group that committed nothing = %v, %v; want 3 over 2 partitions", lag, err)
	}
	var part int
	for p, l := range lag {
		if l == 3 {
			part = p // same key: all three records are on one partition
		}
	}
	if _, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: "g", GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{"lagged": {{Partition: part, Offset: 2}}}}); err != nil {
		t.Fatal(err)
	}
	if lag, err := topics.GroupLag(ctx, client, "g", "lagged"); err != nil || sum(lag) != 1 || lag[part] != 1 {
		t.Fatalf("lag after committing offset 2 = %v, %v; want 1 on partition %d", lag, err, part)
	}
}

func createRaw(t *testing.T, client *kafka.Client, rf int, minISR string, names ...string) {
	t.Helper()
	req := &kafka.CreateTopicsRequest{}
	for _, n := range names {
		tc := kafka.TopicConfig{Topic: n, NumPartitions: 2, ReplicationFactor: rf}
		if minISR != "" {
			tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: topics.ConfigMinInsyncReplicas, ConfigValue: minISR}}
		}
		req.Topics = append(req.Topics, tc)
	}
	resp, err := client.CreateTopics(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for n, err := range resp.Errors {
		if err != nil {
			t.Fatalf("create %s: %v", n, err)
		}
	}
}

// Three brokers, replication factor 3: Ensure creates every topic with
// min.insync.replicas 2 (automatic), and CheckDurability accepts them.
func TestEnsureSetsMinInsyncReplicas(t *testing.T) {
	k := harness.StartKafka(t, kfake.NumBrokers(3))
	client := &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: 5 * time.Second}
	ctx := context.Background()
	spec := topics.Spec{Partitions: 2, ReplicationFactor: 3}
	if _, err := topics.EnsurePipeline(ctx, client, spec); err != nil {
		t.Fatal(err)
	}
	ds, err := topics.Describe(ctx, client, contract.AllTopics()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if !d.Exists || d.ReplicationFactor != 3 || d.MinInsyncReplicas != 2 {
			t.Errorf("%+v: want replication factor 3, min.insync.replicas 2", d)
		}
	}
	if w, err := topics.CheckDurability(ctx, client, spec); err != nil || len(w) != 0 {
		t.Errorf("CheckDurability = %q, %v; want no warning, no error", w, err)
	}
	// An explicit value wins over the automatic one; above the
	// replication factor it is refused before anything is created.
	if _, err := topics.Ensure(ctx, client, topics.Spec{ReplicationFactor: 3, MinInsyncReplicas: 3}, "explicit"); err != nil {
		t.Fatal(err)
	}
	if ds, err := topics.Describe(ctx, client, "explicit"); err != nil || ds[0].MinInsyncReplicas != 3 {
		t.Errorf("explicit: %+v, %v; want min.insync.replicas 3", ds, err)
	}
	if _, err := topics.Ensure(ctx, client, topics.Spec{ReplicationFactor: 1, MinInsyncReplicas: 2}, "impossible"); err == nil {
		t.Error("Ensure accepted min.insync.replicas 2 with replication factor 1")
	}
}

func TestCheckDurability(t *testing.T) {
	k := harness.StartKafka(t, kfake.NumBrokers(3))
	client := &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: 5 * time.Second}
	ctx := context.Background()
	createRaw(t, client, 1, "", "rf1")      // broker defaults: min.insync.replicas 1
	createRaw(t, client, 3, "", "rf3")      // replicated, but acks=all waits for the leader only
	createRaw(t, client, 3, "2", "good")    // what production needs
	createRaw(t, client, 1, "2", "blocked") // every acks=all produce would fail
	prod := topics.Spec{ReplicationFactor: 3}
	dev := topics.Spec{ReplicationFactor: 1}

	if w, err := topics.CheckDurability(ctx, client, prod, "good"); err != nil || len(w) != 0 {
		t.Errorf("good topic in production: %q, %v", w, err)
	}
	_, err := topics.CheckDurability(ctx, client, prod, "rf1", "rf3", "good", "missing")
	if err == nil {
		t.Fatal("production settings accepted under-replicated topics")
	}
	for _, want := range []string{"production settings", "rf1 have replication factor 1", "rf1, rf3 have min.insync.replicas 1", "missing do not exist"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "good") {
		t.Errorf("error names the good topic: %v", err)
	}

	// Development settings: the same topics are only warnings.
	w, err := topics.CheckDurability(ctx, client, dev, "rf1", "rf3", "missing")
	if err != nil {
		t.Fatalf("development settings refused: %v", err)
	}
	all := strings.Join(w, "\n")
	for _, want := range []string{"rf1, rf3 have min.insync.replicas 1", "leader alone", "missing do not exist"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings %q do not say %q", w, want)
		}
	}
	// A min.insync.replicas above the replica count is refused everywhere.
	if _, err := topics.CheckDurability(ctx, client, dev, "blocked"); err == nil || !strings.Contains(err.Error(), "every acks=all produce fails") {
		t.Errorf("blocked topic: %v", err)
	}

	// RaiseMinInsync fixes rf3 (enough replicas), cannot fix rf1.
	changed, err := topics.RaiseMinInsync(ctx, client, prod, "rf1", "rf3", "good")
	if err != nil || len(changed) != 1 || changed[0] != "rf3" {
		t.Fatalf("RaiseMinInsync = %v, %v; want [rf3]", changed, err)
	}
	if w, err := topics.CheckDurability(ctx, client, prod, "rf3", "good"); err != nil || len(w) != 0 {
		t.Errorf("after RaiseMinInsync: %q, %v", w, err)
	}
}

func TestStartupCheck(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 1)
	ctx := context.Background()
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	// Development: warnings only.
	if err := topics.StartupCheck(ctx, nil, config.Kafka{Brokers: k.Brokers, ReplicationFactor: 1}, log); err != nil {
		t.Fatalf("development: %v", err)
	}
	if !strings.Contains(logs.String(), "leader alone") {
		t.Errorf("no warning logged: %s", logs.String())
	}
	// Production settings: a refusal, recognisable as such.
	err := topics.StartupCheck(ctx, nil, config.Kafka{Brokers: k.Brokers, ReplicationFactor: 3}, log)
	var de *topics.DurabilityError
	if !errors.As(err, &de) {
		t.Fatalf("production: %v, want a *DurabilityError", err)
	}
	// Kafka unreachable: not a refusal.
	err = topics.StartupCheck(ctx, &kafka.Client{Addr: kafka.TCP("127.0.0.1:1"), Timeout: time.Second}, config.Kafka{ReplicationFactor: 3}, log)
	if err == nil || errors.As(err, &de) {
		t.Fatalf("unreachable: %v", err)
	}
}

package harness

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/servers"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/kafkaconn"
	"github.com/vidpipe/vidpipe/platform/topics"
)

// kafkaOpTimeout bounds one harness call against the broker (create topics,
// produce, offsets).
const kafkaOpTimeout = 30 * time.Second

// Kafka is an in-process Kafka broker (franz-go kfake) speaking the real
// wire protocol on 127.0.0.1. Its methods use kafka-go, as the services do.
//
// Cluster and Brokers are replaced by Restart; do not read them while
// another goroutine restarts the broker.
type Kafka struct {
	// Cluster is the running kfake cluster, for fault injection, e.g.
	// k.Cluster.ControlKey(int16(kmsg.Produce), fn).
	Cluster *kfake.Cluster
	// Brokers are the listen addresses, e.g. ["127.0.0.1:40123"]; they stay
	// the same across Restart.
	Brokers []string
	// Security holds the TLS and SASL settings the harness's own clients
	// use (kafka.tls.*, kafka.sasl.*; Brokers is not read). Set by
	// StartSecureKafka. Default: none.
	Security config.Kafka

	mu  sync.Mutex
	srv *servers.Kafka
}

// StartKafka starts a one-broker in-memory kfake cluster on a free port of
// 127.0.0.1 and closes it at the test's cleanup. opts are passed to
// kfake.NewCluster after kfake.NumBrokers(1) and a ListenFn that binds
// 127.0.0.1 only, so they may override those. Topics are not
// auto-created: use CreateTopics.
func StartKafka(tb testing.TB, opts ...kfake.Opt) *Kafka {
	tb.Helper()
	return startKafka(tb, servers.KafkaOptions{Opts: opts})
}

// StartKafkaPersistent starts a one-broker kfake cluster that keeps its
// topics, records and committed offsets in dataDir (kfake.DataDir, created
// if needed), so that Restart, or a new cluster on the same dataDir, finds
// them again. It is closed at the test's cleanup; dataDir is left alone.
func StartKafkaPersistent(tb testing.TB, dataDir string) *Kafka {
	tb.Helper()
	return startKafka(tb, servers.KafkaOptions{DataDir: dataDir})
}

func startKafka(tb testing.TB, o servers.KafkaOptions) *Kafka {
	tb.Helper()
	srv, err := servers.StartKafka(context.Background(), o)
	if err != nil {
		tb.Fatalf("harness: start kfake: %v", err)
	}
	k := &Kafka{Cluster: srv.Cluster, Brokers: srv.Brokers, srv: srv}
	tb.Cleanup(srv.Stop)
	return k
}

// Stop closes the cluster; a persistent one saves its state first. Stopping
// a stopped cluster does nothing.
func (k *Kafka) Stop(tb testing.TB) {
	tb.Helper()
	k.srv.Stop()
}

// Restart stops the cluster if it is running and starts it again on the
// same ports with the same options. A persistent cluster comes back with
// its data (topics, records, committed offsets); an in-memory one comes
// back empty. Clients reconnect on their own. A port still held by
// someone else is retried for a few seconds.
func (k *Kafka) Restart(tb testing.TB) {
	tb.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.srv.Restart(context.Background()); err != nil {
		tb.Fatalf("harness: %v", err)
	}
	k.Cluster, k.Brokers = k.srv.Cluster, k.srv.Brokers
}

// transport returns a fresh kafka-go transport (no metadata cached from
// before a restart) and a function that releases its connections.
func (k *Kafka) transport() (*kafka.Transport, func()) {
	tr := &kafka.Transport{ClientID: "vidpipe-harness", MetadataTTL: time.Second}
	if _, err := kafkaconn.Transport(k.Security, tr); err != nil {
		panic("harness: kafka security settings: " + err.Error())
	}
	return tr, tr.CloseIdleConnections
}

// client returns a kafka-go admin client on a fresh transport.
func (k *Kafka) client() (*kafka.Client, func()) {
	tr, release := k.transport()
	return &kafka.Client{Addr: kafka.TCP(k.Brokers...), Transport: tr, Timeout: kafkaOpTimeout}, release
}

// CreateTopics creates topics with partitions partitions each, replication
// factor 1. A topic that already exists is an error.
func (k *Kafka) CreateTopics(tb testing.TB, partitions int, topics ...string) {
	tb.Helper()
	if err := k.createTopics(partitions, topics...); err != nil {
		tb.Fatalf("harness: %v", err)
	}
}

func (k *Kafka) createTopics(partitions int, topics ...string) error {
	c, release := k.client()
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), kafkaOpTimeout)
	defer cancel()
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: 1})
	}
	resp, err := c.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics %v: %w", topics, err)
	}
	var errs []error
	for _, t := range topics {
		if err := resp.Errors[t]; err != nil {
			errs = append(errs, fmt.Errorf("create topic %q: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

// CreatePipelineTopics creates every topic of the pipeline
// (contract.AllTopics: stage topics and dead-letter topics) with partitions
// partitions each.
func (k *Kafka) CreatePipelineTopics(tb testing.TB, partitions int) {
	tb.Helper()
	k.CreateTopics(tb, partitions, contract.AllTopics()...)
}

// Produce writes msgs with kafka-go, each to its own msg.Topic, and returns
// once the broker acknowledged all of them (RequiredAcks: all). Partitions
// are chosen by key with the murmur2 balancer (the Java client's), as the
// services do; msg.Partition is ignored.
func (k *Kafka) Produce(tb testing.TB, msgs ...kafka.Message) {
	tb.Helper()
	tr, release := k.transport()
	defer release()
	w := &kafka.Writer{
		Addr:         kafka.TCP(k.Brokers...),
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
		Transport:    tr,
	}
	ctx, cancel := context.WithTimeout(context.Background(), kafkaOpTimeout)
	defer cancel()
	err := w.WriteMessages(ctx, msgs...)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatalf("harness: produce %d messages: %v", len(msgs), err)
	}
}

// ReadAll reads topic from offset 0 of every partition, without a consumer
// group, until it has at least n records, and returns every record read by
// then (possibly more than n), ordered by partition, then offset; with n = 0
// it returns the records there are now. It fails
// the test if fewer than n records arrive within timeout (a topic that does
// not exist yet counts as empty).
func (k *Kafka) ReadAll(tb testing.TB, topic string, n int, timeout time.Duration) []kafka.Message {
	tb.Helper()
	c, release := k.client()
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	byPart := map[int][]kafka.Message{}
	next := map[int]int64{}
	total := 0
	var lastErr error
	for { // at least one read: with n = 0 it returns what is there now
		if err := k.readAvailable(ctx, c, topic, byPart, next, &total); err != nil {
			lastErr = err
		}
		if total >= n {
			break
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("harness: read %q: got %d of %d records within %v (last error: %v)", topic, total, n, timeout, lastErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	parts := make([]int, 0, len(byPart))
	for p := range byPart {
		parts = append(parts, p)
	}
	sort.Ints(parts)
	out := make([]kafka.Message, 0, total)
	for _, p := range parts {
		out = append(out, byPart[p]...)
	}
	return out
}

// readAvailable fetches, from each partition of topic, the records between
// next[partition] and the partition's high watermark.
func (k *Kafka) readAvailable(ctx context.Context, c *kafka.Client, topic string, byPart map[int][]kafka.Message, next map[int]int64, total *int) error {
	parts, err := topics.Partitions(ctx, c, topic)
	if err != nil {
		return err
	}
	wm, err := topics.Watermarks(ctx, c, topic)
	if err != nil {
		return err
	}
	for _, p := range parts {
		for next[p] < wm[p][1] {
			resp, err := c.Fetch(ctx, &kafka.FetchRequest{
				Topic: topic, Partition: p, Offset: next[p],
				MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond,
			})
			if err != nil {
				return fmt.Errorf("fetch %q partition %d at %d: %w", topic, p, next[p], err)
			}
			if resp.Error != nil {
				return fmt.Errorf("fetch %q partition %d at %d: %w", topic, p, next[p], resp.Error)
			}
			got, err := topics.Messages(topic, p, next[p], resp.Records)
			if err != nil {
				return fmt.Errorf("fetch %q partition %d at %d: %w", topic, p, next[p], err)
			}
			if len(got) == 0 {
				break // nothing yet; the next round tries again
			}
			byPart[p] = append(byPart[p], got...)
			*total += len(got)
			next[p] = got[len(got)-1].Offset + 1
		}
	}
	return nil
}

// Committed returns the offsets that group has committed on topic, by
// partition: the offset of the next record the group will read. Partitions
// without a committed offset are absent; a group that does not exist yet
// has none.
func (k *Kafka) Committed(tb testing.TB, group, topic string) map[int]int64 {
	tb.Helper()
	c, release := k.client()
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), kafkaOpTimeout)
	defer cancel()
	parts, err := topics.Partitions(ctx, c, topic)
	if err != nil {
		tb.Fatalf("harness: committed offsets of group %q: %v", group, err)
	}
	committed, err := committedOffsets(ctx, c, group, topic, parts)
	if err != nil {
		tb.Fatalf("harness: %v", err)
	}
	return committed
}

func committedOffsets(ctx context.Context, c *kafka.Client, group, topic string, parts []int) (map[int]int64, error) {
	resp, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return nil, fmt.Errorf("offset fetch of group %q on %q: %w", group, topic, err)
	}
	committed := map[int]int64{}
	if errors.Is(resp.Error, kafka.GroupIdNotFound) {
		return committed, nil // a group that never committed
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("offset fetch of group %q on %q: %w", group, topic, resp.Error)
	}
	var errs []string
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			errs = append(errs, fmt.Sprintf("partition %d: %v", p.Partition, p.Error))
			continue
		}
		if p.CommittedOffset >= 0 {
			committed[p.Partition] = p.CommittedOffset
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("offset fetch of group %q on %q: %s", group, topic, strings.Join(errs, "; "))
	}
	return committed, nil
}

// Lag returns how many records of topic group has not committed yet: the
// sum over partitions of the high watermark minus the committed offset,
// counting a partition without a committed offset from its log start (see
// topics.GroupLag).
func (k *Kafka) Lag(tb testing.TB, group, topic string) int64 {
	tb.Helper()
	c, release := k.client()
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), kafkaOpTimeout)
	defer cancel()
	byPart, err := topics.GroupLag(ctx, c, group, topic)
	if err != nil {
		tb.Fatalf("harness: lag of group %q: %v", group, err)
	}
	var lag int64
	for _, l := range byPart {
		lag += l
	}
	return lag
}

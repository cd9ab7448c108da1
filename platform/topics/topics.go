// Package topics creates vidpipe's Kafka topics.
package topics

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
)

// Spec says how to create topics.
type Spec struct {
	// Partitions per topic. Default: 12. It caps how many members of one
	// consumer group do work at once.
	Partitions int
	// ReplicationFactor per topic. Default: 1.
	ReplicationFactor int
	// MinInsyncReplicas is the topics' min.insync.replicas. 0 means
	// automatic: 2 when ReplicationFactor ≥ 3, else 1 (see
	// config.Kafka.EffectiveMinInsyncReplicas).
	MinInsyncReplicas int
}

// SpecFor returns the Spec of the kafka configuration section
// (kafka.partitions, kafka.replication_factor, kafka.min_insync_replicas).
func SpecFor(k config.Kafka) Spec {
	return Spec{Partitions: k.Partitions, ReplicationFactor: k.ReplicationFactor, MinInsyncReplicas: k.MinInsyncReplicas}
}

func (s Spec) kafka() config.Kafka {
	return config.Kafka{Partitions: s.Partitions, ReplicationFactor: max(s.ReplicationFactor, 1), MinInsyncReplicas: s.MinInsyncReplicas}
}

// MinInsync is the min.insync.replicas the spec demands: MinInsyncReplicas,
// or the automatic value when it is 0.
func (s Spec) MinInsync() int { return s.kafka().EffectiveMinInsyncReplicas() }

// Production reports whether the spec describes production settings
// (replication factor 2 or more); see [CheckDurability].
func (s Spec) Production() bool { return s.kafka().Production() }

// ConfigMinInsyncReplicas is the Kafka topic config that makes acks=all
// wait for that many in-sync replicas.
const ConfigMinInsyncReplicas = "min.insync.replicas"

// Result is what Ensure did for one topic.
type Result struct {
	Topic   string
	Created bool // false: it already existed
}

// EnsurePipeline creates every stage, work and lifecycle topic and DLQ
// (contract.AllTopics) that does not exist yet. Existing topics are left as they are.
func EnsurePipeline(ctx context.Context, client *kafka.Client, spec Spec) ([]Result, error) {
	return Ensure(ctx, client, spec, contract.AllTopics()...)
}

// Ensure creates each of names that does not exist yet (idempotent), with
// spec's partitions, replication factor and min.insync.replicas. Existing
// topics are left as they are: see [CheckDurability] and [RaiseMinInsync].
func Ensure(ctx context.Context, client *kafka.Client, spec Spec, names ...string) ([]Result, error) {
	if spec.Partitions <= 0 {
		spec.Partitions = 12
	}
	if spec.ReplicationFactor <= 0 {
		spec.ReplicationFactor = 1
	}
	minISR := spec.MinInsync()
	if spec.MinInsyncReplicas < 0 || minISR > spec.ReplicationFactor {
		return nil, fmt.Errorf("min.insync.replicas %d must be between 1 and the replication factor %d", minISR, spec.ReplicationFactor)
	}
	req := &kafka.CreateTopicsRequest{}
	for _, n := range names {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: n, NumPartitions: spec.Partitions, ReplicationFactor: spec.ReplicationFactor,
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: ConfigMinInsyncReplicas, ConfigValue: strconv.Itoa(minISR)}}})
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("create topics: %w", err)
	}
	out := make([]Result, 0, len(names))
	for _, n := range names {
		err := resp.Errors[n]
		switch {
		case err == nil:
			out = append(out, Result{Topic: n, Created: true})
		case errors.Is(err, kafka.TopicAlreadyExists):
			out = append(out, Result{Topic: n})
		default:
			return out, fmt.Errorf("create topic %s: %w", n, err)
		}
	}
	return out, nil
}

// Partitions returns the partition ids of topic, in ascending order.
func Partitions(ctx context.Context, client *kafka.Client, topic string) ([]int, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata %s: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, t.Error)
		}
		ps := make([]int, 0, len(t.Partitions))
		for _, p := range t.Partitions {
			ps = append(ps, p.ID)
		}
		sort.Ints(ps)
		return ps, nil
	}
	return nil, fmt.Errorf("topic %s: not found", topic)
}

// Watermarks returns the first and next offsets (log start, high watermark)
// of every partition of topic.
func Watermarks(ctx context.Context, client *kafka.Client, topic string) (map[int][2]int64, error) {
	ps, err := Partitions(ctx, client, topic)
	if err != nil {
		return nil, err
	}
	reqs := make([]kafka.OffsetRequest, 0, 2*len(ps))
	for _, p := range ps {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	lo, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets %s: %w", topic, err)
	}
	out := make(map[int][2]int64, len(ps))
	for _, po := range lo.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("offsets %s/%d: %w", topic, po.Partition, po.Error)
		}
		out[po.Partition] = [2]int64{po.FirstOffset, po.LastOffset}
	}
	return out, nil
}

// GroupLag returns, per partition of topic, the high watermark minus the
// group's committed offset (minus the log start when the group has
// committed nothing there). It reads both from the broker; kafka-go's
// Reader.Stats().Lag is per reader and meaningless for a group.
func GroupLag(ctx context.Context, client *kafka.Client, group, topic string) (map[int]int64, error) {
	wm, err := Watermarks(ctx, client, topic)
	if err != nil {
		return nil, err
	}
	parts := make([]int, 0, len(wm))
	for p := range wm {
		parts = append(parts, p)
	}
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return nil, fmt.Errorf("committed offsets of %s on %s: %w", group, topic, err)
	}
	committed := make(map[int]int64, len(parts))
	if resp.Error != nil && !errors.Is(resp.Error, kafka.GroupIdNotFound) {
		return nil, fmt.Errorf("committed offsets of %s on %s: %w", group, topic, resp.Error)
	}
	for _, op := range resp.Topics[topic] {
		if op.Error == nil && op.CommittedOffset >= 0 {
			committed[op.Partition] = op.CommittedOffset
		}
	}
	out := make(map[int]int64, len(parts))
	for p, w := range wm {
		c, ok := committed[p]
		if !ok {
			c = w[0]
		}
		out[p] = max(w[1]-c, 0)
	}
	return out, nil
}

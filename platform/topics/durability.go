package topics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/kafkaconn"
)

// Durability is what the broker says about one topic.
type Durability struct {
	Topic string
	// Exists is false when the broker does not know the topic.
	Exists bool
	// ReplicationFactor is the smallest replica count over the partitions.
	ReplicationFactor int
	// MinInsyncReplicas is the effective min.insync.replicas (the topic's
	// own value, else the broker's default).
	MinInsyncReplicas int
}

// Describe reads the replication factor (metadata) and the effective
// min.insync.replicas (DescribeConfigs) of each topic of names.
func Describe(ctx context.Context, client *kafka.Client, names ...string) ([]Durability, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	out := make([]Durability, len(names))
	idx := make(map[string]int, len(names))
	var existing []string
	for i, n := range names {
		out[i] = Durability{Topic: n}
		idx[n] = i
	}
	for _, t := range md.Topics {
		i, ok := idx[t.Name]
		if !ok {
			continue
		}
		if t.Error != nil {
			if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
				continue
			}
			return nil, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		if len(t.Partitions) == 0 {
			continue
		}
		rf := -1
		for _, p := range t.Partitions {
			if rf < 0 || len(p.Replicas) < rf {
				rf = len(p.Replicas)
			}
		}
		out[i].Exists, out[i].ReplicationFactor = true, rf
		existing = append(existing, t.Name)
	}
	if len(existing) == 0 {
		return out, nil
	}
	req := &kafka.DescribeConfigsRequest{}
	for _, n := range existing {
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: n, ConfigNames: []string{ConfigMinInsyncReplicas}})
	}
	resp, err := client.DescribeConfigs(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("describe topic configs: %w", err)
	}
	got := map[string]bool{}
	for _, r := range resp.Resources {
		i, ok := idx[r.ResourceName]
		if !ok {
			continue
		}
		if r.Error != nil {
			return nil, fmt.Errorf("describe configs of %s: %w", r.ResourceName, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName != ConfigMinInsyncReplicas {
				continue
			}
			v, err := strconv.Atoi(e.ConfigValue)
			if err != nil {
				return nil, fmt.Errorf("topic %s: %s = %q: %w", r.ResourceName, ConfigMinInsyncReplicas, e.ConfigValue, err)
			}
			out[i].MinInsyncReplicas = v
			got[r.ResourceName] = true
		}
	}
	for _, n := range existing {
		if !got[n] {
			return nil, fmt.Errorf("topic %s: the broker did not report %s", n, ConfigMinInsyncReplicas)
		}
	}
	return out, nil
}

// CheckDurability compares each topic of names (default: every pipeline
// topic, contract.AllTopics) with spec: its replication factor must be at
// least spec.ReplicationFactor and its min.insync.replicas at least
// spec.MinInsync(). In production settings (spec.Production():
// replication factor 2 or more) a topic below that, or missing, is an
// error; in development it is a warning. Independently of the settings, a
// min.insync.replicas above the topic's replica count is an error (every
// acks=all produce would fail), and a min.insync.replicas of 1 is a
// warning (acks=all is then acknowledged by the leader alone). Topics with
// the same finding share one warning or error line. Findings are returned
// as a *DurabilityError; other errors mean Kafka could not be asked.
func CheckDurability(ctx context.Context, client *kafka.Client, spec Spec, names ...string) (warnings []string, err error) {
	if len(names) == 0 {
		names = contract.AllTopics()
	}
	if spec.ReplicationFactor <= 0 {
		spec.ReplicationFactor = 1
	}
	ds, err := Describe(ctx, client, names...)
	if err != nil {
		return nil, err
	}
	prod := spec.Production()
	want := spec.MinInsync()
	errs := map[string][]string{}
	warns := map[string][]string{}
	for _, d := range ds {
		short := warns // shortfalls: errors in production settings
		if prod {
			short = errs
		}
		switch {
		case !d.Exists:
			short["do not exist"] = append(short["do not exist"], d.Topic)
			continue
		case d.MinInsyncReplicas > d.ReplicationFactor:
			k := fmt.Sprintf("have min.insync.replicas %d above their %d replica(s): every acks=all produce fails", d.MinInsyncReplicas, d.ReplicationFactor)
			errs[k] = append(errs[k], d.Topic)
			continue
		}
		if d.ReplicationFactor < spec.ReplicationFactor {
			k := fmt.Sprintf("have replication factor %d, configured kafka.replication_factor is %d", d.ReplicationFactor, spec.ReplicationFactor)
			short[k] = append(short[k], d.Topic)
		}
		if d.MinInsyncReplicas < want {
			k := fmt.Sprintf("have min.insync.replicas %d, configured (kafka.min_insync_replicas) is %d: acks=all succeeds with fewer copies than required", d.MinInsyncReplicas, want)
			short[k] = append(short[k], d.Topic)
		} else if d.MinInsyncReplicas < 2 {
			k := fmt.Sprintf("have min.insync.replicas %d: acks=all is acknowledged by the leader alone, so losing one broker can lose acknowledged records", d.MinInsyncReplicas)
			warns[k] = append(warns[k], d.Topic)
		}
	}
	lines := func(m map[string][]string) []string {
		var out []string
		for k, ts := range m {
			out = append(out, "topics "+strings.Join(ts, ", ")+" "+k)
		}
		sort.Strings(out)
		return out
	}
	warnings = lines(warns)
	if el := lines(errs); len(el) > 0 {
		what := "development settings (kafka.replication_factor 1)"
		if prod {
			what = fmt.Sprintf("production settings (kafka.replication_factor %d)", spec.ReplicationFactor)
		}
		return warnings, &DurabilityError{Msg: fmt.Sprintf("topic durability below %s: %s", what, strings.Join(el, "; "))}
	}
	return warnings, nil
}

// RaiseMinInsync sets min.insync.replicas to spec.MinInsync() on each
// existing topic of names (default: every pipeline topic) whose effective
// value is lower and that has enough replicas for it; it returns the
// topics it changed. It never lowers the value. Topics with too few
// replicas are left for [CheckDurability] to report: their replication
// factor must be raised with a partition reassignment first.
func RaiseMinInsync(ctx context.Context, client *kafka.Client, spec Spec, names ...string) ([]string, error) {
	if len(names) == 0 {
		names = contract.AllTopics()
	}
	want := spec.MinInsync()
	ds, err := Describe(ctx, client, names...)
	if err != nil {
		return nil, err
	}
	req := &kafka.IncrementalAlterConfigsRequest{}
	var changed []string
	for _, d := range ds {
		if !d.Exists || d.MinInsyncReplicas >= want || d.ReplicationFactor < want {
			continue
		}
		req.Resources = append(req.Resources, kafka.IncrementalAlterConfigsRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: d.Topic,
			Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: ConfigMinInsyncReplicas, Value: strconv.Itoa(want), ConfigOperation: kafka.ConfigOperationSet}},
		})
		changed = append(changed, d.Topic)
	}
	if len(changed) == 0 {
		return nil, nil
	}
	resp, err := client.IncrementalAlterConfigs(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("set %s: %w", ConfigMinInsyncReplicas, err)
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return nil, fmt.Errorf("set %s of %s: %w", ConfigMinInsyncReplicas, r.ResourceName, r.Error)
		}
	}
	return changed, nil
}

// DurabilityError is the error of [CheckDurability] when topics fall
// short of the settings: a refusal, not a failure to reach Kafka.
type DurabilityError struct{ Msg string }

func (e *DurabilityError) Error() string { return e.Msg }

// StartupCheck is the check a service runs at start: CheckDurability of
// every pipeline topic against the kafka section k, each warning logged on
// log. In production settings (kafka.replication_factor ≥ 2) topics below
// the settings, or missing, return a *DurabilityError: the service must
// refuse to start. Other errors (Kafka unreachable) are worth retrying. A
// nil client is made from k.Brokers.
func StartupCheck(ctx context.Context, client *kafka.Client, k config.Kafka, log *slog.Logger) error {
	if client == nil {
		tr, err := kafkaconn.Transport(k, nil)
		if err != nil {
			return err
		}
		defer tr.CloseIdleConnections()
		client = &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: 10 * time.Second, Transport: tr}
	}
	warnings, err := CheckDurability(ctx, client, SpecFor(k))
	for _, w := range warnings {
		log.Warn("topic durability", "finding", w)
	}
	return err
}

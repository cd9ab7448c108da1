package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/topics"
)

// groupReader returns a kafka-go consumer-group reader on k that commits
// synchronously, closed at cleanup.
func groupReader(t *testing.T, k *Kafka, group, topic string) *kafka.Reader {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           k.Brokers,
		GroupID:           group,
		Topic:             topic,
		MaxWait:           100 * time.Millisecond,
		HeartbeatInterval: 250 * time.Millisecond,
		CommitInterval:    0, // synchronous commits
		StartOffset:       kafka.FirstOffset,
	})
	t.Cleanup(func() { r.Close() })
	return r
}

// consume fetches n messages with r and commits each.
func consume(t *testing.T, r *kafka.Reader, n int) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []kafka.Message
	for len(got) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("fetch message %d of %d: %v", len(got)+1, n, err)
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("commit offset %d: %v", m.Offset, err)
		}
		got = append(got, m)
	}
	return got
}

func values(msgs []kafka.Message) []string {
	var vs []string
	for _, m := range msgs {
		vs = append(vs, string(m.Value))
	}
	return vs
}

func numbered(topic, prefix string, n int) []kafka.Message {
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Topic: topic, Key: fmt.Appendf(nil, "key-%d", i), Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
	}
	return msgs
}

func TestKafkaListensOnLoopback(t *testing.T) {
	k := StartKafka(t)
	if len(k.Brokers) != 1 {
		t.Fatalf("Brokers = %v, want one broker", k.Brokers)
	}
	host, _, err := net.SplitHostPort(k.Brokers[0])
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("broker address %q: host %q (%v), want 127.0.0.1", k.Brokers[0], host, err)
	}
}

func TestKafkaProduceReadAll(t *testing.T) {
	t.Parallel()
	k := StartKafka(t)
	topic := RandomName("orders")
	k.CreateTopics(t, 3, topic)

	msgs := []kafka.Message{
		{Topic: topic, Key: []byte("video-a"), Value: []byte("a1"), Headers: []kafka.Header{{Key: "ce_type", Value: []byte("t")}}},
		{Topic: topic, Key: []byte("video-b"), Value: []byte("b1")},
		{Topic: topic, Key: []byte("video-a"), Value: []byte("a2")},
		{Topic: topic, Key: []byte("video-b"), Value: []byte("b2")},
	}
	k.Produce(t, msgs...)
	got := k.ReadAll(t, topic, len(msgs), 10*time.Second)

	if len(got) != len(msgs) {
		t.Fatalf("ReadAll returned %d records, want %d", len(got), len(msgs))
	}
	byValue := map[string]kafka.Message{}
	for i, m := range got {
		if m.Topic != topic {
			t.Errorf("record %d topic %q, want %q", i, m.Topic, topic)
		}
		if i > 0 && (m.Partition < got[i-1].Partition || m.Partition == got[i-1].Partition && m.Offset <= got[i-1].Offset) {
			t.Errorf("record %d (p%d@%d) out of order after p%d@%d", i, m.Partition, m.Offset, got[i-1].Partition, got[i-1].Offset)
		}
		byValue[string(m.Value)] = m
	}
	for _, want := range msgs {
		m, ok := byValue[string(want.Value)]
		if !ok {
			t.Fatalf("record %q missing from %q", want.Value, values(got))
		}
		if string(m.Key) != string(want.Key) {
			t.Errorf("record %q key %q, want %q", want.Value, m.Key, want.Key)
		}
	}
	if h := byValue["a1"].Headers; len(h) != 1 || h[0].Key != "ce_type" || string(h[0].Value) != "t" {
		t.Errorf("record a1 headers %v, want ce_type=t", h)
	}
	// Same key, same partition, in produce order.
	for _, pair := range [][2]string{{"a1", "a2"}, {"b1", "b2"}} {
		first, second := byValue[pair[0]], byValue[pair[1]]
		if first.Partition != second.Partition || first.Offset >= second.Offset {
			t.Errorf("%s at p%d@%d and %s at p%d@%d: want one partition, in order", pair[0], first.Partition, first.Offset, pair[1], second.Partition, second.Offset)
		}
	}
}

func TestKafkaReadAllFailsWhenShort(t *testing.T) {
	t.Parallel()
	k := StartKafka(t)
	topic := RandomName("short")
	k.CreateTopics(t, 1, topic)
	k.Produce(t, numbered(topic, "v", 1)...)

	f := &fakeTB{}
	runFake(f, func(tb testing.TB) { k.ReadAll(tb, topic, 2, 300*time.Millisecond) })
	if len(f.fatals) != 1 {
		t.Fatalf("ReadAll of 2 with 1 record: %d fatal errors, want 1", len(f.fatals))
	}
}

func TestKafkaCreatePipelineTopics(t *testing.T) {
	t.Parallel()
	k := StartKafka(t)
	k.CreatePipelineTopics(t, 2)

	c, release := k.client()
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, topic := range contract.AllTopics() {
		parts, err := topics.Partitions(ctx, c, topic)
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) != 2 {
			t.Errorf("topic %q has partitions %v, want 2", topic, parts)
		}
	}
}

func TestKafkaConsumerGroupCommitsAndLag(t *testing.T) {
	t.Parallel()
	k := StartKafka(t)
	topic, group := RandomName("jobs"), RandomName("workers")
	k.CreateTopics(t, 3, topic)
	const n = 12
	k.Produce(t, numbered(topic, "job", n)...)

	if lag := k.Lag(t, group, topic); lag != n {
		t.Errorf("lag before consuming = %d, want %d", lag, n)
	}
	if c := k.Committed(t, group, topic); len(c) != 0 {
		t.Errorf("committed before consuming = %v, want none", c)
	}

	got := consume(t, groupReader(t, k, group, topic), n)
	want := values(numbered(topic, "job", n))
	gotValues := values(got)
	sort.Strings(want)
	sort.Strings(gotValues)
	if !slices.Equal(gotValues, want) {
		t.Errorf("group read %q, want %q", gotValues, want)
	}

	committed := k.Committed(t, group, topic)
	var sum int64
	for _, off := range committed {
		sum += off
	}
	if sum != n {
		t.Errorf("committed offsets %v sum to %d, want %d", committed, sum, n)
	}
	if lag := k.Lag(t, group, topic); lag != 0 {
		t.Errorf("lag after consuming = %d, want 0", lag)
	}
}

func TestKafkaGroupMembersSplitPartitions(t *testing.T) {
	t.Parallel()
	k := StartKafka(t)
	topic, group := RandomName("split"), RandomName("split")
	const nParts = 4
	k.CreateTopics(t, nParts, topic)

	readers := []*kafka.Reader{groupReader(t, k, group, topic), groupReader(t, k, group, topic)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu    sync.Mutex
		parts = []map[int]int{{}, {}} // reader -> partition -> records
		total atomic.Int32
		wg    sync.WaitGroup
	)
	for i, r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					return // cancelled
				}
				if err := r.CommitMessages(ctx, m); err != nil {
					return
				}
				mu.Lock()
				parts[i][m.Partition]++
				mu.Unlock()
				total.Add(1)
			}
		}()
	}
	defer wg.Wait()
	defer cancel()

	assignment := waitStableGroup(t, k, group, 2)
	t.Logf("assignment: %v", assignment)

	const n = 40
	k.Produce(t, numbered(topic, "rec", n)...)
	deadline := time.Now().Add(30 * time.Second)
	for total.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("group read %d of %d records within 30s", total.Load(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()

	seen := map[int]int{}
	for i, ps := range parts {
		if len(ps) == 0 {
			t.Errorf("reader %d got no records; partitions per reader: %v", i, parts)
		}
		for p := range ps {
			if prev, dup := seen[p]; dup {
				t.Errorf("partition %d read by readers %d and %d", p, prev, i)
			}
			seen[p] = i
		}
	}
	if lag := k.Lag(t, group, topic); lag != 0 {
		t.Errorf("lag after consuming = %d, want 0", lag)
	}
}

// waitStableGroup waits until group is stable with members members, each
// assigned at least one partition, and returns the assignment by member.
func waitStableGroup(t *testing.T, k *Kafka, group string, members int) map[string][]int {
	t.Helper()
	c, release := k.client()
	defer release()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		cancel()
		if err == nil && len(resp.Groups) == 1 {
			g := resp.Groups[0]
			assignment := map[string][]int{}
			for _, m := range g.Members {
				for _, tp := range m.MemberAssignments.Topics {
					assignment[m.MemberID] = append(assignment[m.MemberID], tp.Partitions...)
				}
			}
			last = fmt.Sprintf("state %s, assignment %v", g.GroupState, assignment)
			if g.GroupState == "Stable" && len(g.Members) == members && len(assignment) == members {
				return assignment
			}
		} else {
			last = fmt.Sprint(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("group %q not stable with %d assigned members within 30s: %s", group, members, last)
	return nil
}

func TestKafkaPersistentRestartKeepsRecordsAndOffsets(t *testing.T) {
	t.Parallel()
	k := StartKafkaPersistent(t, t.TempDir())
	topic, group := RandomName("durable"), RandomName("durable")
	k.CreateTopics(t, 1, topic)
	k.Produce(t, numbered(topic, "v", 5)...)

	r := groupReader(t, k, group, topic)
	consume(t, r, 3)
	if err := r.Close(); err != nil {
		t.Fatalf("close reader: %v", err)
	}
	before := k.Committed(t, group, topic)
	if before[0] != 3 {
		t.Fatalf("committed before restart = %v, want partition 0 at 3", before)
	}
	brokers := slices.Clone(k.Brokers)

	k.Restart(t)

	if !slices.Equal(k.Brokers, brokers) {
		t.Errorf("brokers after restart %v, want %v", k.Brokers, brokers)
	}
	if got, want := values(k.ReadAll(t, topic, 5, 10*time.Second)), values(numbered(topic, "v", 5)); !slices.Equal(got, want) {
		t.Errorf("records after restart %q, want %q", got, want)
	}
	if after := k.Committed(t, group, topic); after[0] != 3 || len(after) != 1 {
		t.Errorf("committed after restart = %v, want %v", after, before)
	}
	if lag := k.Lag(t, group, topic); lag != 2 {
		t.Errorf("lag after restart = %d, want 2", lag)
	}
	// The group resumes where it committed.
	if got := consume(t, groupReader(t, k, group, topic), 1); string(got[0].Value) != "v-3" || got[0].Offset != 3 {
		t.Errorf("group resumed at %q (offset %d), want v-3 at offset 3", got[0].Value, got[0].Offset)
	}

	// Restart from stopped works too, and the broker takes new records.
	k.Stop(t)
	k.Restart(t)
	k.Produce(t, kafka.Message{Topic: topic, Key: []byte("key-5"), Value: []byte("v-5")})
	if got := values(k.ReadAll(t, topic, 6, 10*time.Second)); len(got) != 6 || got[5] != "v-5" {
		t.Errorf("records after second restart %q, want v-0..v-5", got)
	}
}

func TestKafkaInMemoryRestartComesBackEmpty(t *testing.T) {
	t.Parallel()
	k := StartKafka(t)
	topic := RandomName("gone")
	k.CreateTopics(t, 1, topic)
	brokers := slices.Clone(k.Brokers)

	k.Restart(t)

	if !slices.Equal(k.Brokers, brokers) {
		t.Errorf("brokers after restart %v, want %v", k.Brokers, brokers)
	}
	c, release := k.client()
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := topics.Partitions(ctx, c, topic); !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Errorf("metadata of %q after in-memory restart: %v, want UnknownTopicOrPartition", topic, err)
	}
	k.CreateTopics(t, 1, topic) // the name is free again
}

func TestKafkaClusterFaultInjection(t *testing.T) {
	t.Parallel()
	k := StartKafka(t)
	topic := RandomName("faulty")
	k.CreateTopics(t, 1, topic)

	// Fail the first produce request with a retriable error; the writer
	// retries and the record lands once.
	var intercepted atomic.Int32
	k.Cluster.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		intercepted.Add(1)
		req := kreq.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	k.Produce(t, kafka.Message{Topic: topic, Value: []byte("once")})

	if n := intercepted.Load(); n != 1 {
		t.Errorf("control function intercepted %d produce requests, want 1", n)
	}
	if got := values(k.ReadAll(t, topic, 1, 10*time.Second)); !slices.Equal(got, []string{"once"}) {
		t.Errorf("records %q, want exactly [once]", got)
	}
}

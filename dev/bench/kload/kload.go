// Package kload drives Kafka load for the benchmarks: it creates topics,
// produces video.uploaded events (in a burst or paced, round-robin over the
// partitions, remembering when each was sent) and observes output topics,
// remembering when each record arrived. Both sides use franz-go (kgo), so
// neither the stage runtime nor the kafka-go loop it is compared with
// measures itself.
package kload

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/topics"
)

// HeaderSentAt carries the producer's send time (Unix nanoseconds) on
// every input record. The stage runtime does not copy input headers to
// its output (only the trace context), so latencies are matched by record
// key (the video id) instead.
const HeaderSentAt = "bench.sent_at"

// CreateTopics creates names with the given partition count.
func CreateTopics(ctx context.Context, brokers []string, partitions int, names ...string) error {
	tr := &kafka.Transport{ClientID: "vidpipe-bench"}
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: tr, Timeout: 10 * time.Second}
	if _, err := topics.Ensure(ctx, client, topics.Spec{Partitions: partitions}, names...); err != nil {
		return err
	}
	return nil
}

// GroupState is the state of a consumer group as the broker describes it.
type GroupState struct {
	State string
	// Members is the member count; Assigned counts members with at least
	// one partition.
	Members, Assigned int
}

// DescribeGroup asks the broker about group.
func DescribeGroup(ctx context.Context, brokers []string, group string) (GroupState, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	resp, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return GroupState{}, fmt.Errorf("describe group %s: %w", group, err)
	}
	if len(resp.Groups) != 1 {
		return GroupState{}, fmt.Errorf("describe group %s: %d groups in answer", group, len(resp.Groups))
	}
	g := resp.Groups[0]
	if g.Error != nil {
		return GroupState{}, fmt.Errorf("describe group %s: %w", group, g.Error)
	}
	st := GroupState{State: g.GroupState, Members: len(g.Members)}
	for _, m := range g.Members {
		n := 0
		for _, t := range m.MemberAssignments.Topics {
			n += len(t.Partitions)
		}
		if n > 0 {
			st.Assigned++
		}
	}
	return st, nil
}

// WaitGroupStable waits until group is Stable with members members, of
// which min(members, partitions) have partitions.
func WaitGroupStable(ctx context.Context, brokers []string, group string, members, partitions int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	want := min(members, partitions)
	var last GroupState
	var lastErr error
	for {
		st, err := DescribeGroup(ctx, brokers, group)
		if err == nil && st.State == "Stable" && st.Members == members && st.Assigned == want {
			return nil
		}
		last, lastErr = st, err
		select {
		case <-ctx.Done():
			return fmt.Errorf("group %s not stable with %d members within %s (last: %+v, %v)", group, members, timeout, last, lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Uploaded returns a valid video.uploaded event for a new video id.
func Uploaded(now time.Time) contract.VideoUploaded {
	id := contract.NewID()
	return contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: id, Owner: "bench", Title: "bench " + id[:8], Tags: []string{"bench"},
		Source:     contract.SourceObject{Bucket: "vidpipe", Key: contract.SourceKey(id), Size: 1 << 20, ContentType: "video/mp4", Filename: "bench.mp4"},
		UploadedAt: now.UTC(),
	}}
}

// Transcoded is the no-op stage's output for in: a valid video.transcoded
// with one fixed rendition.
func Transcoded(in contract.VideoUploaded, now time.Time) contract.VideoTranscoded {
	id := in.VideoID
	return in.Transcoded(contract.Media{DurationSeconds: 10, Width: 1280, Height: 720},
		[]contract.Rendition{{Name: "720p", Width: 1280, Height: 720, Bitrate: 2_800_000, Key: contract.RenditionKey(id, "720p"), Size: 1 << 20}},
		contract.HLS{MasterKey: contract.HLSMasterKey(id)}, now)
}

// Producer writes video.uploaded events to one topic, round-robin over
// its partitions (so every partition gets the same share), with acks=all
// and no linger.
type Producer struct {
	cl         *kgo.Client
	topic      string
	partitions int
	next       int

	mu   sync.Mutex
	sent map[string]time.Time
}

// NewProducer connects a producer for topic with partitions partitions.
func NewProducer(brokers []string, topic string, partitions int) (*Producer, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("vidpipe-bench-producer"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	return &Producer{cl: cl, topic: topic, partitions: partitions, sent: map[string]time.Time{}}, nil
}

// Close closes the client.
func (p *Producer) Close() { p.cl.Close() }

// Sent returns when the record with key was handed to the client.
func (p *Producer) Sent(key string) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.sent[key]
	return t, ok
}

func (p *Producer) record() (*kgo.Record, error) {
	now := time.Now()
	e := Uploaded(now)
	value, err := contract.Encode(e)
	if err != nil {
		return nil, err
	}
	r := &kgo.Record{Topic: p.topic, Partition: int32(p.next % p.partitions), Key: []byte(e.VideoID), Value: value}
	p.next++
	for _, h := range contract.CloudEventHeaders(e, contract.Meta{ID: contract.NewID(), Source: contract.SourceFor("bench"), Time: now}) {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderSentAt, Value: []byte(strconv.FormatInt(now.UnixNano(), 10))})
	p.mu.Lock()
	p.sent[e.VideoID] = now
	p.mu.Unlock()
	return r, nil
}

// Burst produces n events as fast as the client takes them and returns
// once all are acknowledged.
func (p *Producer) Burst(ctx context.Context, n int) error { return p.produce(ctx, n, 0) }

// Paced produces n events, one every 1/rate seconds on a fixed schedule
// (open loop: a slow consumer does not slow the producer), and returns
// once all are acknowledged.
func (p *Producer) Paced(ctx context.Context, n int, rate float64) error {
	return p.produce(ctx, n, time.Duration(float64(time.Second)/rate))
}

// produce sends n events, the i-th not before start + i·interval (0: no
// pacing), then waits for every acknowledgement.
func (p *Producer) produce(ctx context.Context, n int, interval time.Duration) error {
	start := time.Now()
	var (
		mu   sync.Mutex
		errs []error
	)
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
		}
		r, err := p.record()
		if err != nil {
			return err
		}
		p.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		return fmt.Errorf("produce: %d failed, first: %w", len(errs), errs[0])
	}
	return nil
}

// Seen is one observed record.
type Seen struct {
	Topic string
	Key   string
	// Source is the ce_source header (which service produced it).
	Source string
	// CETime is the ce_time header, zero if absent.
	CETime time.Time
	// At is when the observer received it.
	At time.Time
	// Value is the record's value.
	Value []byte
}

// Observer consumes topics from their start (no consumer group) and keeps
// every record it sees with its arrival time.
type Observer struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	seen   []Seen
	byKey  map[string]map[string]int // topic → key → index of first record
	notify chan struct{}
	err    error
}

// NewObserver starts consuming topics.
func NewObserver(brokers []string, topics ...string) (*Observer, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("vidpipe-bench-observer"),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("observer: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &Observer{cl: cl, cancel: cancel, done: make(chan struct{}), byKey: map[string]map[string]int{}, notify: make(chan struct{})}
	go o.loop(ctx)
	return o, nil
}

func (o *Observer) loop(ctx context.Context) {
	defer close(o.done)
	for {
		fs := o.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		at := time.Now()
		var fetchErr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				fetchErr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		o.mu.Lock()
		if fetchErr != nil {
			o.err = fetchErr
		}
		fs.EachRecord(func(r *kgo.Record) {
			s := Seen{Topic: r.Topic, Key: string(r.Key), At: at, Value: r.Value}
			for _, h := range r.Headers {
				switch h.Key {
				case contract.HeaderSource:
					s.Source = string(h.Value)
				case contract.HeaderTime:
					s.CETime, _ = time.Parse(time.RFC3339Nano, string(h.Value))
				}
			}
			keys := o.byKey[s.Topic]
			if keys == nil {
				keys = map[string]int{}
				o.byKey[s.Topic] = keys
			}
			if _, dup := keys[s.Key]; !dup {
				keys[s.Key] = len(o.seen)
			}
			o.seen = append(o.seen, s)
		})
		close(o.notify)
		o.notify = make(chan struct{})
		o.mu.Unlock()
	}
}

// Close stops consuming.
func (o *Observer) Close() {
	o.cancel()
	<-o.done
	o.cl.Close()
}

// Len is the number of records seen so far.
func (o *Observer) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen)
}

// Since returns the records seen after the first i.
func (o *Observer) Since(i int) []Seen {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Seen(nil), o.seen[min(i, len(o.seen)):]...)
}

// First returns the first record seen on topic with key.
func (o *Observer) First(topic, key string) (Seen, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	i, ok := o.byKey[topic][key]
	if !ok {
		return Seen{}, false
	}
	return o.seen[i], true
}

// WaitFor waits until cond, called with every record seen so far (under
// the observer's lock: it must not call the observer), returns true.
func (o *Observer) WaitFor(ctx context.Context, timeout time.Duration, what string, cond func(seen []Seen) bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		o.mu.Lock()
		ok := cond(o.seen)
		ch, err := o.notify, o.err
		o.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("waiting for %s: %w (observer: %v)", what, ctx.Err(), err)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		}
	}
}

// WaitCount waits until at least n records were seen after the first
// from, and returns those records.
func (o *Observer) WaitCount(ctx context.Context, from, n int, timeout time.Duration) ([]Seen, error) {
	err := o.WaitFor(ctx, timeout, fmt.Sprintf("%d records", n), func(seen []Seen) bool { return len(seen)-from >= n })
	if err != nil {
		return o.Since(from), fmt.Errorf("%w (got %d)", err, o.Len()-from)
	}
	return o.Since(from), nil
}

// LaneChunk is a work item (contract.TranscodeChunk) published to a
// benchmark's own topic instead of contract.TopicTranscodeChunks.
type LaneChunk struct {
	contract.TranscodeChunk
	topic string
}

// Topic is the lane's work-item topic.
func (c LaneChunk) Topic() string { return c.topic }

// WorkItem is the i-th of n video work items of the upload in (run: the
// plan's id, a UUID) for topic.
func WorkItem(in contract.VideoUploaded, run string, i, n int, topic string) LaneChunk {
	return LaneChunk{topic: topic, TranscodeChunk: contract.TranscodeChunk{
		SchemaVersion: contract.SchemaVersion, Video: in.Video, Run: run, Kind: contract.ChunkVideo, Index: i, Chunks: n,
		PlanKey: contract.ChunkWorkPrefix(in.VideoID, run) + "plan.json",
	}}
}

// LaneDone is a work item's completion (contract.TranscodeChunkDone,
// keyed by the video id) published to a benchmark's own topic instead of
// contract.TopicTranscodeChunksDone.
type LaneDone struct {
	contract.TranscodeChunkDone
	topic string
}

// Topic is the lane's completion topic.
func (d LaneDone) Topic() string { return d.topic }

// ChunkDone is the completion of the work item in for topic: one segment,
// complete.
func ChunkDone(in contract.TranscodeChunk, topic string) LaneDone {
	return LaneDone{topic: topic, TranscodeChunkDone: contract.TranscodeChunkDone{SchemaVersion: contract.SchemaVersion, Video: in.Video, Run: in.Run,
		Kind: in.Kind, Index: in.Index, Chunks: in.Chunks, Segments: 1, Complete: true, SegmentsTotal: in.Chunks}}
}

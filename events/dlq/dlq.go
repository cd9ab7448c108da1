// Package dlq inspects and redrives a stage's dead-letter topic.
//
// Redrive re-publishes dead-lettered records to the stage's input topic with
// the original key, value and CloudEvents headers; the dlq.* headers are
// dropped and vidpipe.redrive_count is incremented. Progress is kept in
// Kafka itself, in the offsets of the consumer group "vidpipectl.redrive.<stage>"
// on the DLQ topic: the committed offset of a partition means "every record
// below was redriven", and the commit's metadata lists the redriven offsets
// above it (left behind by a filtered redrive, --id). Each record is
// committed right after its publish is acknowledged, so running a redrive
// twice, or after a crash, never applies a record twice.
package dlq

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/events"
	"github.com/vidpipe/vidpipe/events/topics"
)

// Record is one dead-lettered record.
type Record struct {
	Topic      string
	Partition  int
	Offset     int64
	Key        string
	Value      []byte
	Headers    []events.Header
	Time       time.Time
	DeadLetter events.DeadLetter
	// Redriven is true when a redrive already re-published this record.
	Redriven bool
}

// Group is the consumer group that records redrive progress for stage.
func Group(stage events.Stage) string { return "vidpipectl.redrive." + string(stage) }

// maxMetadata bounds the offsets list kept in commit metadata (Kafka's
// default offset.metadata.max.bytes is 4096).
const maxMetadata = 4000

// progress of one partition: everything below next is done, plus done.
type progress struct {
	next int64
	done map[int64]bool
}

func (p progress) isDone(o int64) bool { return o < p.next || p.done[o] }

// metadata encodes the offsets above next as "redriven:o1,o2".
func (p progress) metadata() string {
	var os []int64
	for o := range p.done {
		if o >= p.next {
			os = append(os, o)
		}
	}
	sort.Slice(os, func(i, j int) bool { return os[i] < os[j] })
	var b strings.Builder
	b.WriteString("redriven:")
	for i, o := range os {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(o, 10))
	}
	return b.String()
}

func parseMetadata(s string) map[int64]bool {
	done := map[int64]bool{}
	s, ok := strings.CutPrefix(s, "redriven:")
	if !ok || s == "" {
		return done
	}
	for _, f := range strings.Split(s, ",") {
		if o, err := strconv.ParseInt(f, 10, 64); err == nil {
			done[o] = true
		}
	}
	return done
}

// Admin reads and redrives DLQs.
type Admin struct {
	Client  *kafka.Client
	Brokers []string
	Writer  *kafka.Writer // acks=all writer used by Redrive
}

// NewAdmin returns an Admin for brokers.
func NewAdmin(brokers []string) *Admin {
	return &Admin{
		Client:  &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second},
		Brokers: brokers,
		Writer: &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Murmur2Balancer{},
			RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond},
	}
}

// Close releases the writer.
func (a *Admin) Close() error { return a.Writer.Close() }

func (a *Admin) progress(ctx context.Context, stage events.Stage, parts []int) (map[int]progress, error) {
	resp, err := a.Client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: Group(stage), Topics: map[string][]int{stage.DLQTopic(): parts}})
	if err != nil {
		return nil, fmt.Errorf("fetch redrive progress: %w", err)
	}
	out := make(map[int]progress, len(parts))
	for _, p := range parts {
		out[p] = progress{next: 0, done: map[int64]bool{}}
	}
	if errors.Is(resp.Error, kafka.GroupIdNotFound) {
		return out, nil // nothing redriven yet
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("fetch redrive progress: %w", resp.Error)
	}
	for _, op := range resp.Topics[stage.DLQTopic()] {
		if op.Error != nil {
			return nil, fmt.Errorf("redrive progress of partition %d: %w", op.Partition, op.Error)
		}
		pr := progress{next: op.CommittedOffset, done: parseMetadata(op.Metadata)}
		if pr.next < 0 {
			pr.next = 0
		}
		out[op.Partition] = pr
	}
	return out, nil
}

// List returns the DLQ records of stage in partition/offset order. Records
// already redriven are included (marked) only when all is true.
func (a *Admin) List(ctx context.Context, stage events.Stage, all bool) ([]Record, error) {
	topic := stage.DLQTopic()
	wm, err := topics.Watermarks(ctx, a.Client, topic)
	if err != nil {
		return nil, err
	}
	parts := make([]int, 0, len(wm))
	for p := range wm {
		parts = append(parts, p)
	}
	sort.Ints(parts)
	prog, err := a.progress(ctx, stage, parts)
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, p := range parts {
		from, to := wm[p][0], wm[p][1]
		if !all && prog[p].next > from {
			from = prog[p].next
		}
		recs, err := a.readRange(ctx, topic, p, from, to)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			r.Redriven = prog[p].isDone(r.Offset)
			if r.Redriven && !all {
				continue
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// readRange reads offsets [from, to) of one partition.
func (a *Admin) readRange(ctx context.Context, topic string, partition int, from, to int64) ([]Record, error) {
	if from >= to {
		return nil, nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: a.Brokers, Topic: topic, Partition: partition, MinBytes: 1, MaxBytes: 8 << 20, MaxWait: time.Second})
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		return nil, err
	}
	var out []Record
	for {
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		m, err := r.ReadMessage(rctx)
		cancel()
		if err != nil {
			return out, fmt.Errorf("read %s/%d at %d: %w", topic, partition, from, err)
		}
		hs := make([]events.Header, len(m.Headers))
		for i, h := range m.Headers {
			hs[i] = events.Header{Key: h.Key, Value: h.Value}
		}
		dl, _ := events.ParseDeadLetter(hs)
		out = append(out, Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: string(m.Key),
			Value: m.Value, Headers: hs, Time: m.Time, DeadLetter: dl})
		if m.Offset >= to-1 {
			return out, nil
		}
	}
}

// RedriveOptions filter a redrive.
type RedriveOptions struct {
	// VideoID, if set, redrives only records with this key.
	VideoID string
	// Limit caps the records redriven; 0 means no limit.
	Limit int
	// DryRun lists what would be redriven without publishing or committing.
	DryRun bool
}

// Redrive re-publishes pending DLQ records of stage to its input topic and
// returns them. See the package doc for the exactly-once bookkeeping.
func (a *Admin) Redrive(ctx context.Context, stage events.Stage, opts RedriveOptions) ([]Record, error) {
	if !stage.Valid() {
		return nil, fmt.Errorf("unknown stage %q", stage)
	}
	pending, err := a.List(ctx, stage, false)
	if err != nil {
		return nil, err
	}
	var selected []Record
	for _, r := range pending {
		if opts.VideoID != "" && r.Key != opts.VideoID {
			continue
		}
		if opts.Limit > 0 && len(selected) >= opts.Limit {
			break
		}
		selected = append(selected, r)
	}
	if opts.DryRun || len(selected) == 0 {
		return selected, nil
	}
	parts := map[int]bool{}
	for _, r := range selected {
		parts[r.Partition] = true
	}
	var ps []int
	for p := range parts {
		ps = append(ps, p)
	}
	prog, err := a.progress(ctx, stage, ps)
	if err != nil {
		return nil, err
	}
	// Offsets of each partition that stay pending (not selected), to advance
	// the committed offset over contiguous done records.
	pendingByPart := map[int][]int64{}
	for _, r := range pending {
		pendingByPart[r.Partition] = append(pendingByPart[r.Partition], r.Offset)
	}
	for i, r := range selected {
		if err := a.publish(ctx, stage, r); err != nil {
			return selected[:i], err
		}
		p := prog[r.Partition]
		p.done[r.Offset] = true
		for _, o := range pendingByPart[r.Partition] { // advance next over done records
			if o < p.next {
				continue
			}
			if !p.done[o] {
				break
			}
			p.next = o + 1
		}
		// Everything below the first pending offset is done, even offsets
		// that List never returned because they were done already.
		prog[r.Partition] = p
		md := p.metadata()
		if len(md) > maxMetadata {
			return selected[:i+1], errors.New("too many records redriven out of order: redrive the rest without --id")
		}
		if err := a.commit(ctx, stage, r.Partition, p.next, md); err != nil {
			return selected[:i+1], fmt.Errorf("record %s/%d@%d was redriven but its progress not saved: %w", r.Topic, r.Partition, r.Offset, err)
		}
	}
	return selected, nil
}

func (a *Admin) publish(ctx context.Context, stage events.Stage, r Record) error {
	hs := events.StripDLQHeaders(r.Headers)
	count := 0
	kept := hs[:0]
	for _, h := range hs {
		if h.Key == events.HeaderRedriveCount {
			count, _ = strconv.Atoi(string(h.Value))
			continue
		}
		kept = append(kept, h)
	}
	kept = append(kept, events.Header{Key: events.HeaderRedriveCount, Value: []byte(strconv.Itoa(count + 1))})
	kh := make([]kafka.Header, len(kept))
	for i, h := range kept {
		kh[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	msg := kafka.Message{Topic: stage.InputTopic(), Key: []byte(r.Key), Value: r.Value, Headers: kh}
	if err := a.Writer.WriteMessages(ctx, msg); err != nil {
		return fmt.Errorf("redrive %s/%d@%d to %s: %w", r.Topic, r.Partition, r.Offset, stage.InputTopic(), err)
	}
	return nil
}

func (a *Admin) commit(ctx context.Context, stage events.Stage, partition int, next int64, metadata string) error {
	resp, err := a.Client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID: Group(stage), GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{stage.DLQTopic(): {{Partition: partition, Offset: next, Metadata: metadata}}},
	})
	if err != nil {
		return err
	}
	for _, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return p.Error
			}
		}
	}
	return nil
}

// Package dlq inspects and redrives a stage's dead-letter topic.
//
// Redrive re-publishes dead-lettered records to the topic they came from
// (dlq.topic: the stage's input, or one of its work topics, such as
// transcode's video.transcode.chunks; see RedriveTopic) with the original
// key, value and CloudEvents headers; the dlq.* headers are dropped, vidpipe.redrive_count is incremented and ce_id becomes
// contract.RedriveEventID(original ce_id, new count): a redrive is a new
// logical event, and the same redrive retried keeps its id. A dead letter
// whose value was moved out of Kafka (dlq.value_ref) gets its value back
// from the reference ("s3://bucket/key" through Admin.Values, or
// "kafka://topic/partition/offset"). The webhooks service's dead letters
// (webhooks.dlq) are handled the same way under the name "webhooks"
// (contract.StageWebhooks); their redrive goes to webhooks.redrive.
//
// Progress is kept in Kafka itself, in the offsets of the consumer group
// "vidpipectl.redrive.<stage>" on the DLQ topic: the committed offset of a
// partition means "every record below was redriven", and the commit's
// metadata lists the redriven offsets above it (left behind by a filtered
// redrive, --id) and the redrives in flight. Before it publishes a record,
// Redrive commits its intent (DLQ offset, input partition and that
// partition's high watermark); after the publish is acknowledged it commits
// the record as done. A record whose intent is found on a later run (the
// done commit failed, or the process died in between) is looked up in the
// input partition from the recorded high watermark by its redrive ce_id,
// and only published if it is not there. So running a redrive twice, after
// a crash or after a failed commit, never applies a record twice (as long
// as two redrives of one stage do not run at the same time).
package dlq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/topics"
)

// Record is one dead-lettered record.
type Record struct {
	Topic     string
	Partition int
	Offset    int64
	Key       string
	// Value is the record's value: empty when DeadLetter.ValueRef is set
	// (the original value is stored there, DeadLetter.ValueBytes long).
	Value      []byte
	Headers    []contract.Header
	Time       time.Time
	DeadLetter contract.DeadLetter
	// Redriven is true when a redrive already re-published this record.
	Redriven bool
}

// Group is the consumer group that records redrive progress for stage.
func Group(stage contract.Stage) string { return "vidpipectl.redrive." + string(stage) }

// maxMetadata bounds the commit metadata (Kafka's default
// offset.metadata.max.bytes is 4096).
const maxMetadata = 4000

// intent is a redrive in flight: the record is being published to input
// partition partition, whose high watermark was from just before.
type intent struct {
	partition int
	from      int64
}

// progress of one DLQ partition: everything below next is done, plus done;
// pending are the redrives begun but not known to be done.
type progress struct {
	next    int64
	done    map[int64]bool
	pending map[int64]intent
}

func (p progress) isDone(o int64) bool { return o < p.next || p.done[o] }

// metadata encodes the offsets above next as "redriven:o1,o2" and, when
// some are in flight, ";pending:o@partition:from,...".
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
	if len(p.pending) > 0 {
		var ps []int64
		for o := range p.pending {
			ps = append(ps, o)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		b.WriteString(";pending:")
		for i, o := range ps {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%d@%d:%d", o, p.pending[o].partition, p.pending[o].from)
		}
	}
	return b.String()
}

func parseMetadata(s string) (map[int64]bool, map[int64]intent) {
	done, pending := map[int64]bool{}, map[int64]intent{}
	red, pend, _ := strings.Cut(s, ";")
	if red, ok := strings.CutPrefix(red, "redriven:"); ok && red != "" {
		for _, f := range strings.Split(red, ",") {
			if o, err := strconv.ParseInt(f, 10, 64); err == nil {
				done[o] = true
			}
		}
	}
	if pend, ok := strings.CutPrefix(pend, "pending:"); ok && pend != "" {
		for _, f := range strings.Split(pend, ",") {
			os, rest, ok1 := strings.Cut(f, "@")
			ps, fs, ok2 := strings.Cut(rest, ":")
			o, err1 := strconv.ParseInt(os, 10, 64)
			part, err2 := strconv.Atoi(ps)
			from, err3 := strconv.ParseInt(fs, 10, 64)
			if ok1 && ok2 && err1 == nil && err2 == nil && err3 == nil {
				pending[o] = intent{partition: part, from: from}
			}
		}
	}
	return done, pending
}

// Admin reads and redrives DLQs.
type Admin struct {
	Client  *kafka.Client
	Brokers []string
	// Values fetches values moved out of Kafka ("s3://bucket/key"), e.g.
	// S3Values. Nil: redriving such a record fails (listing works).
	Values ValueFetcher
}

// NewAdmin returns an Admin for brokers.
func NewAdmin(brokers []string) *Admin {
	return &Admin{
		Client:  &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second},
		Brokers: brokers,
	}
}

// Close releases the Admin's resources.
func (a *Admin) Close() error { return nil }

func (a *Admin) progress(ctx context.Context, stage contract.Stage, parts []int) (map[int]progress, error) {
	resp, err := a.Client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: Group(stage), Topics: map[string][]int{DLQTopic(stage): parts}})
	if err != nil {
		return nil, fmt.Errorf("fetch redrive progress: %w", err)
	}
	out := make(map[int]progress, len(parts))
	for _, p := range parts {
		out[p] = progress{next: 0, done: map[int64]bool{}, pending: map[int64]intent{}}
	}
	if errors.Is(resp.Error, kafka.GroupIdNotFound) {
		return out, nil // nothing redriven yet
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("fetch redrive progress: %w", resp.Error)
	}
	for _, op := range resp.Topics[DLQTopic(stage)] {
		if op.Error != nil {
			return nil, fmt.Errorf("redrive progress of partition %d: %w", op.Partition, op.Error)
		}
		done, pending := parseMetadata(op.Metadata)
		pr := progress{next: op.CommittedOffset, done: done, pending: pending}
		if pr.next < 0 {
			pr.next = 0
		}
		out[op.Partition] = pr
	}
	return out, nil
}

// List returns the DLQ records of stage in partition/offset order. Records
// already redriven are included (marked) only when all is true.
func (a *Admin) List(ctx context.Context, stage contract.Stage, all bool) ([]Record, error) {
	topic := DLQTopic(stage)
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
	var out []Record
	err := a.scan(ctx, topic, partition, from, to, func(m kafka.Message) bool {
		hs := fromKafka(m.Headers)
		dl, _ := contract.ParseDeadLetter(hs)
		out = append(out, Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: string(m.Key),
			Value: m.Value, Headers: hs, Time: m.Time, DeadLetter: dl})
		return true
	})
	return out, err
}

// scan calls fn with each record of offsets [from, to) of one partition, in
// order, until fn returns false.
func (a *Admin) scan(ctx context.Context, topic string, partition int, from, to int64, fn func(kafka.Message) bool) error {
	empty := 0
	for from < to {
		fctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		resp, err := a.Client.Fetch(fctx, &kafka.FetchRequest{Topic: topic, Partition: partition, Offset: from,
			MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 500 * time.Millisecond})
		if err == nil {
			err = resp.Error
		}
		var got []kafka.Message
		if err == nil {
			got, err = topics.Messages(topic, partition, from, resp.Records)
		}
		cancel()
		if err != nil {
			return fmt.Errorf("read %s/%d at %d: %w", topic, partition, from, err)
		}
		if len(got) == 0 {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if resp.HighWatermark <= from {
				return nil
			}
			if empty++; empty >= 3 {
				return fmt.Errorf("read %s/%d at %d: no record below the high watermark %d", topic, partition, from, resp.HighWatermark)
			}
			continue
		}
		empty = 0
		for _, m := range got {
			if m.Offset >= to {
				return nil
			}
			if !fn(m) {
				return nil
			}
			from = m.Offset + 1
		}
	}
	return nil
}

func fromKafka(khs []kafka.Header) []contract.Header {
	hs := make([]contract.Header, len(khs))
	for i, h := range khs {
		hs[i] = contract.Header{Key: h.Key, Value: h.Value}
	}
	return hs
}

// RedriveTopic is the topic a redrive of r publishes to: the topic the
// record was dead-lettered from (its dlq.topic) when that is the stage's
// input or one of the stage's work topics in contract.DefaultPipeline
// (transcode: video.transcode.chunks, video.transcode.chunks-done) or a
// lifecycle topic (video.deleted, video.updated: a stage's lifecycle
// consumer dead-letters to the stage's DLQ), else
// the stage's input (a dead letter without dlq.topic, or from a topic the
// stage no longer reads). Webhook dead letters (contract.StageWebhooks) go
// to webhooks.redrive, from which the webhooks service enqueues the
// delivery again.
func RedriveTopic(stage contract.Stage, r Record) string {
	if stage == contract.StageWebhooks {
		return contract.TopicWebhooksRedrive
	}
	spec, ok := contract.DefaultPipeline().Stage(stage)
	if !ok {
		return stage.InputTopic()
	}
	if slices.ContainsFunc(spec.Work, func(w contract.Step) bool { return w.Topic == r.DeadLetter.Topic }) ||
		contract.IsLifecycleTopic(r.DeadLetter.Topic) {
		return r.DeadLetter.Topic
	}
	return spec.Input
}

// DLQTopic is the dead-letter topic of stage: the stage's DLQ, or for
// contract.StageWebhooks (webhook deliveries, not a pipeline stage)
// webhooks.dlq; "" for an unknown name.
func DLQTopic(stage contract.Stage) string {
	if stage == contract.StageWebhooks {
		return contract.TopicWebhooksDLQ
	}
	return stage.DLQTopic()
}

// OfVideo reports whether the record key names video id: the key is id, or
// "id/<item>" (a work item of the video, e.g. "<id>/v00003").
func OfVideo(key, id string) bool { return key == id || strings.HasPrefix(key, id+"/") }

// RedriveOptions filter a redrive.
type RedriveOptions struct {
	// VideoID, if set, redrives only the records of this video (OfVideo:
	// key VideoID, or "VideoID/<item>" for its work items).
	VideoID string
	// Limit caps the records redriven; 0 means no limit.
	Limit int
	// DryRun lists what would be redriven without publishing or committing.
	DryRun bool
	// Select, if not nil, redrives only the records for which it returns
	// true (after VideoID; e.g. the records of one output generation).
	// Default: every record.
	Select func(Record) bool
}

// Redrive re-publishes pending DLQ records of stage, each to its
// RedriveTopic, and returns them. See the package doc for the exactly-once
// bookkeeping.
func (a *Admin) Redrive(ctx context.Context, stage contract.Stage, opts RedriveOptions) ([]Record, error) {
	if DLQTopic(stage) == "" {
		return nil, fmt.Errorf("unknown stage %q", stage)
	}
	pending, err := a.List(ctx, stage, false)
	if err != nil {
		return nil, err
	}
	var selected []Record
	for _, r := range pending {
		if opts.VideoID != "" && !OfVideo(r.Key, opts.VideoID) {
			continue
		}
		if opts.Select != nil && !opts.Select(r) {
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
	// Partitions of each topic redriven to (the input, work topics).
	inParts := map[string][]int{}
	// Offsets of each partition that stay pending (not selected), to advance
	// the committed offset over contiguous done records.
	pendingByPart := map[int][]int64{}
	for _, r := range pending {
		pendingByPart[r.Partition] = append(pendingByPart[r.Partition], r.Offset)
	}
	for i, r := range selected {
		to := RedriveTopic(stage, r)
		if _, ok := inParts[to]; !ok {
			ps, err := topics.Partitions(ctx, a.Client, to)
			if err != nil {
				return selected[:i], err
			}
			inParts[to] = ps
		}
		msg, err := a.redriveMessage(ctx, stage, r, inParts[to])
		if err != nil {
			return selected[:i], err
		}
		p := prog[r.Partition]
		published := false
		if in, ok := p.pending[r.Offset]; ok {
			// An earlier run began this redrive and did not record its end.
			published, err = a.published(ctx, msg.Topic, in, msg)
			if err != nil {
				return selected[:i], fmt.Errorf("record %s/%d@%d: check whether an earlier redrive published it: %w", r.Topic, r.Partition, r.Offset, err)
			}
			msg.Partition = in.partition
		}
		if !published {
			wm, err := topics.Watermarks(ctx, a.Client, msg.Topic)
			if err != nil {
				return selected[:i], err
			}
			p.pending[r.Offset] = intent{partition: msg.Partition, from: wm[msg.Partition][1]}
			md := p.metadata()
			if len(md) > maxMetadata {
				return selected[:i], errors.New("too many records redriven out of order: redrive the rest without --id")
			}
			if err := a.commit(ctx, stage, r.Partition, p.next, md); err != nil {
				return selected[:i], fmt.Errorf("record %s/%d@%d: record the redrive before publishing it: %w", r.Topic, r.Partition, r.Offset, err)
			}
			if err := a.publish(ctx, msg); err != nil {
				return selected[:i], fmt.Errorf("redrive %s/%d@%d to %s: %w (run the redrive again: it checks whether this record arrived)", r.Topic, r.Partition, r.Offset, msg.Topic, err)
			}
		}
		delete(p.pending, r.Offset)
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
			return selected[:i+1], fmt.Errorf("record %s/%d@%d was redriven but its progress not saved (a later redrive finds it and does not publish it again): %w", r.Topic, r.Partition, r.Offset, err)
		}
	}
	return selected, nil
}

// RedriveID is the ce_id a redrive gives r: contract.RedriveEventID of r's
// ce_id (or, for a record without one, of its DLQ coordinates) and the
// incremented vidpipe.redrive_count.
func RedriveID(r Record) string {
	orig := contract.HeaderValue(r.Headers, contract.HeaderID)
	if orig == "" {
		orig = contract.DeriveID("dlq", r.Topic, strconv.Itoa(r.Partition), strconv.FormatInt(r.Offset, 10))
	}
	return contract.RedriveEventID(orig, redriveCount(r.Headers)+1)
}

func redriveCount(hs []contract.Header) int {
	n, _ := strconv.Atoi(contract.HeaderValue(hs, contract.HeaderRedriveCount))
	return max(n, 0)
}

// redriveMessage is the record a redrive of r publishes to its
// RedriveTopic (whose partitions are inParts), with its value restored and
// its partition chosen as the services' producers do (murmur2 of the key;
// a work topic's producer spreads its records round-robin instead, and any
// partition serves).
func (a *Admin) redriveMessage(ctx context.Context, stage contract.Stage, r Record, inParts []int) (kafka.Message, error) {
	value := r.Value
	if ref := r.DeadLetter.ValueRef; ref != "" {
		v, err := a.fetchValue(ctx, ref)
		if err != nil {
			return kafka.Message{}, fmt.Errorf("record %s/%d@%d: value at %s: %w", r.Topic, r.Partition, r.Offset, ref, err)
		}
		if r.DeadLetter.ValueBytes > 0 && len(v) != r.DeadLetter.ValueBytes {
			return kafka.Message{}, fmt.Errorf("record %s/%d@%d: value at %s has %d bytes, the dead letter says %d", r.Topic, r.Partition, r.Offset, ref, len(v), r.DeadLetter.ValueBytes)
		}
		value = v
	}
	count := redriveCount(r.Headers) + 1
	id := RedriveID(r)
	var kh []kafka.Header
	hasID := false
	for _, h := range contract.StripDLQHeaders(r.Headers) {
		switch h.Key {
		case contract.HeaderRedriveCount:
			continue
		case contract.HeaderID:
			if hasID {
				continue
			}
			h.Value, hasID = []byte(id), true
		}
		kh = append(kh, kafka.Header{Key: h.Key, Value: h.Value})
	}
	if !hasID {
		kh = append(kh, kafka.Header{Key: contract.HeaderID, Value: []byte(id)})
	}
	kh = append(kh, kafka.Header{Key: contract.HeaderRedriveCount, Value: []byte(strconv.Itoa(count))})
	msg := kafka.Message{Topic: RedriveTopic(stage, r), Key: []byte(r.Key), Value: value, Headers: kh}
	if len(inParts) == 0 {
		return kafka.Message{}, fmt.Errorf("topic %s has no partitions", msg.Topic)
	}
	msg.Partition = (&kafka.Murmur2Balancer{}).Balance(msg, inParts...)
	return msg, nil
}

// published reports whether the input partition of in holds, at or above
// in.from, a record with msg's key and ce_id.
func (a *Admin) published(ctx context.Context, topic string, in intent, msg kafka.Message) (bool, error) {
	wm, err := topics.Watermarks(ctx, a.Client, topic)
	if err != nil {
		return false, err
	}
	w, ok := wm[in.partition]
	if !ok {
		return false, fmt.Errorf("topic %s has no partition %d", topic, in.partition)
	}
	id := contract.HeaderValue(fromKafka(msg.Headers), contract.HeaderID)
	found := false
	err = a.scan(ctx, topic, in.partition, max(in.from, w[0]), w[1], func(m kafka.Message) bool {
		found = string(m.Key) == string(msg.Key) && contract.HeaderValue(fromKafka(m.Headers), contract.HeaderID) == id
		return !found
	})
	return found, err
}

// publish writes msg to msg.Topic/msg.Partition and waits for every
// in-sync replica (acks=all).
func (a *Admin) publish(ctx context.Context, msg kafka.Message) error {
	rec := kafka.Record{Time: time.Now(), Key: kafka.NewBytes(msg.Key), Value: kafka.NewBytes(msg.Value), Headers: msg.Headers}
	resp, err := a.Client.Produce(ctx, &kafka.ProduceRequest{Topic: msg.Topic, Partition: msg.Partition,
		RequiredAcks: kafka.RequireAll, Records: kafka.NewRecordReader(rec)})
	if err != nil {
		return err
	}
	if resp.Error != nil {
		return resp.Error
	}
	for _, e := range resp.RecordErrors {
		return e
	}
	return nil
}

func (a *Admin) commit(ctx context.Context, stage contract.Stage, partition int, next int64, metadata string) error {
	resp, err := a.Client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID: Group(stage), GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{DLQTopic(stage): {{Partition: partition, Offset: next, Metadata: metadata}}},
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

package stage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/backoff"
)

// A member is one consumer-group member. It follows the group's
// generations itself (kafka-go's ConsumerGroup), so it always knows which
// partitions it owns:
//
//   - one fetcher per owned partition feeds the member's processor, which
//     handles one record at a time (records of a partition stay in order);
//   - an offset is committed only through the current generation and only
//     for a partition the member owns in it; when a rebalance gives the
//     partition of the record in flight to another member, that record's
//     attempt is cancelled and nothing is committed for it (a late commit
//     would rewind the new owner: kafka-go #1308);
//   - a record in flight survives a rebalance that leaves its partition
//     with this member: it is not restarted, and the partition's fetcher
//     resumes after it;
//   - before each attempt the member commits the record's own offset with
//     the attempt number in the commit metadata, so attempts are counted
//     across processes: a record that kills the worker (an OOM kill, a
//     decoder crash) reaches the dead-letter topic after MaxAttempts
//     crashes instead of being redelivered forever. That commit also
//     commits every finished record before it;
//   - finished records are otherwise committed synchronously by the member
//     itself, every CommitInterval (or at once when it is config.Off,
//     0 once the defaults are set), at the end of
//     a generation and at shutdown, and every failure is counted in
//     vidpipe_stage_commit_errors_total and retried.
type member[In, Out contract.Event] struct {
	r     *runner[In, Out]
	id    int
	log   *slog.Logger
	topic string

	mu    sync.Mutex
	gen   *kafka.Generation // current generation; nil while (re)joining
	owned map[int]bool      // partitions of gen
	genCh chan struct{}     // closed (and replaced) whenever gen changes
	parts map[int]*partState
	cur   *inflight // the record being processed, if any
}

// partState is what the member knows of one partition it owns.
type partState struct {
	// next is the offset after the last record the member finished
	// (published or dead-lettered); -1 when none yet.
	next int64
	// committed is the last offset committed (at assignment: the group's).
	committed int64
	// markOffset and markN: markN attempts were started on the record at
	// markOffset (from the commit metadata; markOffset -1: none).
	markOffset int64
	markN      int
}

// inflight is the record being processed.
type inflight struct {
	partition int
	offset    int64
	cancel    context.CancelCauseFunc
	revoked   atomic.Bool
	done      chan struct{}
}

// errRevoked cancels an attempt whose partition went to another member.
var errRevoked = errors.New("partition revoked: it was assigned to another member")

// errNoGeneration: a commit was asked for while the member is rejoining.
var errNoGeneration = errors.New("no current consumer-group generation")

func (f *inflight) revoke() {
	if f.revoked.CompareAndSwap(false, true) {
		f.cancel(errRevoked)
	}
}

type job struct {
	gen  *kafka.Generation
	msg  kafka.Message
	done chan bool // true: finished; false: not (revoked, stale or shutdown)
}

func newMember[In, Out contract.Event](r *runner[In, Out], id int) *member[In, Out] {
	return &member[In, Out]{
		r: r, id: id, log: r.log.With("member", id), topic: r.opts.InputTopic,
		genCh: make(chan struct{}), parts: map[int]*partState{},
	}
}

// run joins the group and processes records until ctx is cancelled, then
// lets the record in flight finish (within the shutdown grace), commits
// and leaves the group, each step bounded by CloseTimeout.
func (m *member[In, Out]) run(ctx, work context.Context) {
	o := &m.r.opts
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:      o.Group,
		Brokers: o.Kafka.Brokers,
		Dialer:  m.r.dialer,
		Topics:  []string{m.topic},
		// Round robin first: consecutive partitions go to different
		// members, so work items spread over them in turn (see
		// Options.Spread); range stays listed for members of older builds.
		GroupBalancers:         []kafka.GroupBalancer{kafka.RoundRobinGroupBalancer{}, kafka.RangeGroupBalancer{}},
		HeartbeatInterval:      time.Second,
		SessionTimeout:         o.SessionTimeout,
		RebalanceTimeout:       o.RebalanceTimeout,
		JoinGroupBackoff:       time.Second,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 5 * time.Second,
		StartOffset:            kafka.FirstOffset,
		Timeout:                5 * time.Second,
		Logger:                 kafka.LoggerFunc(func(msg string, args ...any) { m.log.Debug(fmt.Sprintf(msg, args...)) }),
		ErrorLogger:            kafka.LoggerFunc(func(msg string, args ...any) { m.log.Warn(fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		m.log.Error("consumer group configuration", "err", err)
		return
	}
	jobs := make(chan *job)
	procDone, commitDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(procDone); m.processLoop(ctx, work, jobs) }()
	go func() { defer close(commitDone); m.commitLoop(ctx) }()
	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			// Next paces its own retries (JoinGroupBackoff).
			m.log.Warn("joining the consumer group", "err", err)
			if !backoff.Sleep(ctx, fetchErrorPause) {
				break
			}
			continue
		}
		m.begin(ctx, gen)
		gen.Start(func(gctx context.Context) {
			<-gctx.Done()
			m.end(gen)
		})
		for _, pa := range gen.Assignments[m.topic] {
			p := pa.ID
			gen.Start(func(gctx context.Context) { m.fetch(gctx, gen, p, jobs) })
		}
	}
	<-procDone
	<-commitDone
	fctx, cancel := context.WithTimeout(context.Background(), o.Runtime.CloseTimeout)
	if err := m.flush(fctx); err != nil && !errors.Is(err, errNoGeneration) {
		m.log.Warn("last commit before leaving the group failed; the records will be redelivered", "err", err)
	}
	cancel()
	if !closeWithin(o.Runtime.CloseTimeout, cg.Close) {
		m.log.Warn("leaving the consumer group timed out; the group will notice after the session timeout",
			"timeout", o.Runtime.CloseTimeout, "session_timeout", o.SessionTimeout)
	}
}

// begin installs a new generation: partitions no longer owned are
// forgotten and the record in flight is cancelled if its partition went
// elsewhere; the attempt counts recorded in the commit metadata are read.
func (m *member[In, Out]) begin(ctx context.Context, gen *kafka.Generation) {
	assigned := map[int]int64{}
	for _, pa := range gen.Assignments[m.topic] {
		assigned[pa.ID] = pa.Offset
	}
	marks := m.readMarks(ctx, gen, assigned)
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := range m.parts {
		if _, ok := assigned[p]; !ok {
			delete(m.parts, p)
		}
	}
	owned := make(map[int]bool, len(assigned))
	ids := make([]int, 0, len(assigned))
	for p, off := range assigned {
		owned[p] = true
		ids = append(ids, p)
		ps := m.parts[p]
		if ps == nil {
			ps = &partState{next: -1}
			m.parts[p] = ps
		}
		ps.committed = off
		ps.markOffset, ps.markN = -1, 0
		if mk, ok := marks[p]; ok {
			ps.markOffset, ps.markN = mk.offset, mk.n
		}
	}
	m.gen, m.owned = gen, owned
	if c := m.cur; c != nil && !owned[c.partition] {
		m.r.metrics.revoked.Inc()
		m.log.Warn("the partition of the record in flight went to another member: cancelling it, nothing is committed for it",
			"partition", c.partition, "offset", c.offset)
		c.revoke()
	}
	close(m.genCh)
	m.genCh = make(chan struct{})
	sort.Ints(ids)
	m.log.Info("joined generation", "generation", gen.ID, "partitions", ids)
}

// end runs when a generation ends: finished records are committed through
// it (a broker accepts that while the rebalance is being prepared).
func (m *member[In, Out]) end(gen *kafka.Generation) {
	owned := map[int]bool{}
	for _, pa := range gen.Assignments[m.topic] {
		owned[pa.ID] = true
	}
	m.mu.Lock()
	if m.gen == gen {
		m.gen = nil
		close(m.genCh)
		m.genCh = make(chan struct{})
	}
	entries := m.pendingLocked(owned)
	m.mu.Unlock()
	if len(entries) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.r.opts.Runtime.CloseTimeout)
	defer cancel()
	if err := m.commitWith(ctx, gen, entries); err != nil {
		m.log.Info("commit at the end of a generation failed; the records may be redelivered", "generation", gen.ID, "err", err)
	}
}

// fetch reads partition p for generation gen and hands its records to the
// processor one at a time, until the generation ends.
func (m *member[In, Out]) fetch(gctx context.Context, gen *kafka.Generation, p int, jobs chan<- *job) {
	if !m.waitIdle(gctx, p) {
		return
	}
	m.mu.Lock()
	ps := m.parts[p]
	var offset int64
	if ps != nil {
		offset = ps.committed // kafka.FirstOffset when the group has none
		if ps.next >= 0 && ps.next > offset {
			offset = ps.next
		}
	}
	m.mu.Unlock()
	if ps == nil {
		<-gctx.Done()
		return
	}
	log := m.log.With("partition", p)
	for failures := 0; ; {
		res, err := m.r.client.Fetch(gctx, &kafka.FetchRequest{
			Topic: m.topic, Partition: p, Offset: offset,
			MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 2 * time.Second, // long poll
		})
		if err == nil && res.Error != nil {
			err = res.Error
		}
		if err != nil {
			if gctx.Err() != nil {
				return
			}
			if errors.Is(err, kafka.OffsetOutOfRange) {
				log.Warn("offset out of range (records deleted by retention?): continuing from the earliest kept record", "offset", offset)
				offset = kafka.FirstOffset
				continue
			}
			failures++
			d := backoff.Cap(failures, 100*time.Millisecond, 2*time.Second)
			log.Warn("fetch failed", "err", err, "retry_in", d)
			if !backoff.Sleep(gctx, d) {
				return
			}
			continue
		}
		failures = 0
		for {
			rec, err := res.Records.ReadRecord()
			if err != nil {
				break // end of this fetch (io.EOF) or a truncated batch: fetch again
			}
			if offset >= 0 && rec.Offset < offset {
				continue
			}
			msg := kafka.Message{
				Topic: m.topic, Partition: p, Offset: rec.Offset, Time: rec.Time,
				Key: readBytes(rec.Key), Value: readBytes(rec.Value), Headers: rec.Headers,
			}
			j := &job{gen: gen, msg: msg, done: make(chan bool, 1)}
			select {
			case jobs <- j:
			case <-gctx.Done():
				return
			}
			var ok bool
			select {
			case ok = <-j.done:
			case <-gctx.Done():
				return // the record may go on being processed: see begin
			}
			if !ok {
				// Shutting down (or the generation is ending): stay in the
				// generation until it ends, so that the last commit can
				// still go through it.
				<-gctx.Done()
				return
			}
			offset = rec.Offset + 1
		}
	}
}

func readBytes(b kafka.Bytes) []byte {
	if b == nil {
		return nil
	}
	v, err := kafka.ReadAll(b)
	if err != nil {
		return nil
	}
	return v
}

// waitIdle waits until no record of partition p is in flight (one from an
// earlier generation may be), or gctx is done (false).
func (m *member[In, Out]) waitIdle(gctx context.Context, p int) bool {
	for {
		m.mu.Lock()
		c := m.cur
		m.mu.Unlock()
		if c == nil || c.partition != p {
			return true
		}
		select {
		case <-c.done:
		case <-gctx.Done():
			return false
		}
	}
}

// processLoop processes the fetchers' records one at a time until ctx is
// cancelled (or a record was abandoned because of shutdown).
func (m *member[In, Out]) processLoop(ctx, work context.Context, jobs <-chan *job) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-jobs:
			if ctx.Err() != nil {
				j.done <- false
				return
			}
			ok := m.process(ctx, work, j)
			j.done <- ok
			if !ok && ctx.Err() != nil {
				return
			}
		}
	}
}

// process handles one record to completion (published output or dead
// letter: true) or gives it up (revoked, stale, shutdown: false).
func (m *member[In, Out]) process(ctx, work context.Context, j *job) bool {
	msg := j.msg
	rctx, cancel := context.WithCancelCause(work)
	defer cancel(nil)
	f := &inflight{partition: msg.Partition, offset: msg.Offset, cancel: cancel, done: make(chan struct{})}
	m.mu.Lock()
	if m.gen != nil && (m.gen != j.gen || !m.owned[msg.Partition]) {
		// Fetched in a generation that has ended; the current one's
		// fetcher delivers it again if the partition is still ours.
		m.mu.Unlock()
		return false
	}
	m.cur = f
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.cur = nil
		m.mu.Unlock()
		close(f.done)
	}()
	m.r.metrics.inFlight.Inc()
	defer m.r.metrics.inFlight.Dec()
	if !m.handle(ctx, rctx, f, msg) {
		if f.revoked.Load() {
			m.log.Info("record given up: its partition is another member's now", "partition", msg.Partition, "offset", msg.Offset)
		}
		return false
	}
	m.finished(msg.Partition, msg.Offset)
	return true
}

// handle runs the attempts of one record and publishes the result or the
// dead letter. It reports whether the record is finished.
func (m *member[In, Out]) handle(ctx, rctx context.Context, f *inflight, msg kafka.Message) bool {
	r := m.r
	o := &r.opts
	p, off := msg.Partition, msg.Offset
	log := m.log.With("key", string(msg.Key), "partition", p, "offset", off)
	in, err := r.decode(msg)
	if err != nil {
		log.Warn("undecodable record", "err", err)
		return r.deadLetter(rctx, msg, err, contract.ErrorClassPermanent, 0)
	}
	trace := contract.HeaderValue(FromKafkaHeaders(msg.Headers), contract.HeaderTraceparent)
	log = log.With("trace_id", contract.TraceID(trace))
	prior := m.priorAttempts(p, off)
	if prior >= o.Runtime.MaxAttempts {
		err := fmt.Errorf("%d attempts were started and none of them finished: the worker stopped during each one "+
			"(a crash, an OOM kill, a kill -9 or a lost partition); the input may be what kills it", prior)
		log.Error("attempts exhausted by interrupted attempts", "attempts", prior)
		return r.deadLetter(rctx, msg, Coded(contract.ErrorCodeCrashLoop, err), contract.ErrorClassExhausted, prior)
	}
	outID := contract.OutputEventID(o.Stage, inputID(msg))
	for attempt := prior + 1; ; attempt++ {
		if ctx.Err() != nil {
			return false // shutting down: no new attempt
		}
		if !m.commitStart(rctx, p, off, attempt) {
			return false
		}
		out, err, dur, dropped := r.fencedAttempt(r.withRecord(rctx, msg, trace), in)
		if f.revoked.Load() {
			return false
		}
		if dropped {
			r.metrics.messages.WithLabelValues(OutcomeDeleted).Inc()
			log.Info("dropped: the video was deleted (its outputs removed, nothing published)", "attempt", attempt)
			return true
		}
		if errors.Is(err, ErrNoOutput) {
			r.metrics.duration.WithLabelValues("ok").Observe(dur.Seconds())
			r.metrics.messages.WithLabelValues(OutcomeOK).Inc()
			log.Info("processed (no output)", "attempt", attempt, "duration", dur.Round(time.Millisecond))
			return true
		}
		if err == nil {
			r.metrics.duration.WithLabelValues("ok").Observe(dur.Seconds())
			next, merr := NewMessageWithID(out, outID, o.Service, trace)
			if merr == nil && out.Key() != in.Key() {
				merr = fmt.Errorf("output key %q differs from input key %q", out.Key(), in.Key())
			}
			if merr != nil {
				err = Coded(contract.ErrorCodeInternal, Permanent(fmt.Errorf("handler returned an invalid event: %w", merr)))
			} else {
				next.Topic = o.OutputTopic
				ok, perr := r.publish(rctx, next, "output")
				if perr != nil {
					log.Warn("output too large for Kafka", "err", perr)
					return r.deadLetter(rctx, msg, Coded(contract.ErrorCodeTooLarge, Permanent(perr)), contract.ErrorClassPermanent, attempt)
				}
				if !ok {
					if !f.revoked.Load() {
						m.undoStart(p, off, attempt-1) // cut by the end of the grace: not the input's fault
					}
					return false
				}
				r.metrics.messages.WithLabelValues(OutcomeOK).Inc()
				log.Info("processed", "attempt", attempt, "duration", dur.Round(time.Millisecond))
				return true
			}
		} else {
			r.metrics.duration.WithLabelValues("error").Observe(dur.Seconds())
		}
		if rctx.Err() != nil {
			// Cut short by the end of the shutdown grace: the attempt does
			// not count (unless its handler had to be abandoned).
			if !errors.Is(err, errAbandoned) {
				m.undoStart(p, off, attempt-1)
			}
			log.Warn("record abandoned at shutdown; it will be redelivered", "attempt", attempt)
			return false
		}
		if IsPermanent(err) {
			log.Warn("permanent failure", "attempt", attempt, "err", err)
			return r.deadLetter(rctx, msg, err, contract.ErrorClassPermanent, attempt)
		}
		if attempt >= o.Runtime.MaxAttempts {
			log.Warn("retries exhausted", "attempt", attempt, "err", err)
			return r.deadLetter(rctx, msg, err, contract.ErrorClassExhausted, attempt)
		}
		r.metrics.messages.WithLabelValues(OutcomeRetried).Inc()
		d := backoff.Jittered(attempt, o.Runtime.BackoffInitial, o.Runtime.BackoffMax, nil)
		log.Warn("attempt failed, retrying", "attempt", attempt, "err", err, "retry_in", d)
		bctx, stop := context.WithCancel(rctx)
		unhook := context.AfterFunc(ctx, stop) // shutdown ends the backoff
		slept := backoff.Sleep(bctx, d)
		unhook()
		stop()
		if !slept {
			return false // shutting down or revoked: leave the record for redelivery
		}
	}
}

// priorAttempts is the number of attempts already started on the record at
// off of partition p, by this process or an earlier one.
func (m *member[In, Out]) priorAttempts(p int, off int64) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ps := m.parts[p]; ps != nil && ps.markOffset == off {
		return ps.markN
	}
	return 0
}

// finished records that the record at off of p is done and commits it now
// when CommitInterval is 0, i.e. config.Off (else the commit loop does).
func (m *member[In, Out]) finished(p int, off int64) {
	m.mu.Lock()
	if ps := m.parts[p]; ps != nil && off+1 > ps.next {
		ps.next = off + 1
	}
	m.mu.Unlock()
	if m.r.opts.Runtime.CommitInterval == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), m.r.opts.Runtime.CloseTimeout)
		defer cancel()
		if err := m.flush(ctx); err != nil && !errors.Is(err, errNoGeneration) {
			m.log.Warn("commit failed; retrying", "err", err)
		}
	}
}

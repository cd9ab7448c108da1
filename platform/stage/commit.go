package stage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/platform/backoff"
)

// Attempt marks: the metadata of an offset commit made before an attempt,
// "vidpipe.attempts:<offset>:<n>" = n attempts were started on the record
// at <offset> (the committed offset itself, so the record is not done).
const markPrefix = "vidpipe.attempts:"

type mark struct {
	offset int64
	n      int
}

func formatMark(offset int64, n int) string {
	if n <= 0 {
		return ""
	}
	return markPrefix + strconv.FormatInt(offset, 10) + ":" + strconv.Itoa(n)
}

func parseMark(s string) (mark, bool) {
	rest, ok := strings.CutPrefix(s, markPrefix)
	if !ok {
		return mark{}, false
	}
	o, n, ok := strings.Cut(rest, ":")
	if !ok {
		return mark{}, false
	}
	off, err1 := strconv.ParseInt(o, 10, 64)
	cnt, err2 := strconv.Atoi(n)
	if err1 != nil || err2 != nil || cnt < 0 {
		return mark{}, false
	}
	return mark{offset: off, n: cnt}, true
}

// commitEntry is one partition's offset (and metadata) to commit.
type commitEntry struct {
	partition int
	offset    int64
	metadata  string
}

// readMarks reads the attempt marks of the assigned partitions from the
// group's committed offsets. A mark counts only when it names the
// committed offset. Errors are logged: without marks, attempts restart at 1.
func (m *member[In, Out]) readMarks(ctx context.Context, gen *kafka.Generation, assigned map[int]int64) map[int]mark {
	if len(assigned) == 0 {
		return nil
	}
	parts := make([]int, 0, len(assigned))
	for p := range assigned {
		parts = append(parts, p)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	resp, err := m.r.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: gen.GroupID, Topics: map[string][]int{m.topic: parts}})
	if err == nil && resp.Error != nil {
		err = resp.Error
	}
	if err != nil {
		m.log.Warn("reading attempt counts from the committed offsets failed; counting from 1", "err", err)
		return nil
	}
	out := map[int]mark{}
	for _, p := range resp.Topics[m.topic] {
		if mk, ok := parseMark(p.Metadata); ok && mk.offset == p.CommittedOffset && p.Error == nil {
			out[p.Partition] = mk
		}
	}
	return out
}

// pendingLocked lists finished but uncommitted offsets of the partitions
// in owned. It requires m.mu.
func (m *member[In, Out]) pendingLocked(owned map[int]bool) []commitEntry {
	var out []commitEntry
	for p := range owned {
		if ps := m.parts[p]; ps != nil && ps.next >= 0 && ps.next > ps.committed {
			out = append(out, commitEntry{partition: p, offset: ps.next})
		}
	}
	return out
}

// commitWith commits entries through generation gen, synchronously. Every
// failure is counted and makes the member stuck until a commit succeeds.
func (m *member[In, Out]) commitWith(ctx context.Context, gen *kafka.Generation, entries []commitEntry) error {
	if len(entries) == 0 {
		return nil
	}
	offs := make([]kafka.OffsetCommit, len(entries))
	for i, e := range entries {
		offs[i] = kafka.OffsetCommit{Partition: e.partition, Offset: e.offset, Metadata: e.metadata}
	}
	resp, err := m.r.client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID: gen.GroupID, GenerationID: int(gen.ID), MemberID: gen.MemberID,
		Topics: map[string][]kafka.OffsetCommit{m.topic: offs},
	})
	if err == nil {
		for _, p := range resp.Topics[m.topic] {
			if p.Error != nil {
				err = errors.Join(err, fmt.Errorf("partition %d: %w", p.Partition, p.Error))
			}
		}
	}
	op := fmt.Sprintf("commit (member %d)", m.id)
	if err != nil {
		m.r.metrics.commitErrors.Inc()
		m.r.stuck.fail(op, err.Error())
		return fmt.Errorf("commit offsets of %s in generation %d: %w", m.topic, gen.ID, err)
	}
	m.r.stuck.ok(op)
	m.mu.Lock()
	for _, e := range entries {
		if ps := m.parts[e.partition]; ps != nil {
			if e.offset >= ps.committed {
				ps.committed = e.offset
			}
			if e.metadata != "" {
				if mk, ok := parseMark(e.metadata); ok {
					ps.markOffset, ps.markN = mk.offset, mk.n
				}
			}
		}
	}
	m.mu.Unlock()
	return nil
}

// commit commits entries through the current generation, leaving out (and
// counting) partitions the member does not own in it.
func (m *member[In, Out]) commit(ctx context.Context, entries []commitEntry) error {
	m.mu.Lock()
	gen := m.gen
	kept := entries[:0:0]
	for _, e := range entries {
		if gen != nil && m.owned[e.partition] {
			kept = append(kept, e)
		} else {
			m.r.metrics.commitsSkipped.Inc()
		}
	}
	m.mu.Unlock()
	if gen == nil {
		return errNoGeneration
	}
	return m.commitWith(ctx, gen, kept)
}

// flush commits every finished, uncommitted record of the owned partitions.
func (m *member[In, Out]) flush(ctx context.Context) error {
	m.mu.Lock()
	gen := m.gen
	var entries []commitEntry
	if gen != nil {
		entries = m.pendingLocked(m.owned)
	}
	m.mu.Unlock()
	if gen == nil {
		return errNoGeneration
	}
	return m.commitWith(ctx, gen, entries)
}

// commitStart records that attempt n of the record at off of partition p
// starts: it commits off (everything before it is finished) with the
// attempt mark, together with the other owned partitions' finished
// records. It waits for a generation while the member rejoins and retries
// failures until ctx is done. It reports false when the attempt must not
// start: ctx is done or the partition is no longer this member's.
func (m *member[In, Out]) commitStart(ctx context.Context, p int, off int64, n int) bool {
	for attempt := 1; ; attempt++ {
		m.mu.Lock()
		gen, owns, changed := m.gen, m.owned[p], m.genCh
		var entries []commitEntry
		if gen != nil {
			for _, e := range m.pendingLocked(m.owned) {
				if e.partition != p {
					entries = append(entries, e)
				}
			}
		}
		m.mu.Unlock()
		if gen == nil {
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return false
			}
		}
		if !owns {
			m.r.metrics.commitsSkipped.Inc()
			return false
		}
		entries = append(entries, commitEntry{partition: p, offset: off, metadata: formatMark(off, n)})
		err := m.commitWith(ctx, gen, entries)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d := backoff.Jittered(attempt, 100*time.Millisecond, 5*time.Second, nil)
		m.log.Warn("recording the attempt failed; retrying before starting it", "partition", p, "offset", off, "attempt", n, "err", err, "retry_in", d)
		select {
		case <-time.After(d):
		case <-changed: // a new generation: try it at once
		case <-ctx.Done():
			return false
		}
	}
}

// undoStart sets the attempt count of the record at off of p back to n
// (an attempt cut short by shutdown is not the input's fault). Best effort.
func (m *member[In, Out]) undoStart(p int, off int64, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), m.r.opts.Runtime.CloseTimeout)
	defer cancel()
	if err := m.commit(ctx, []commitEntry{{partition: p, offset: off, metadata: formatMark(off, n)}}); err != nil {
		m.log.Info("could not take back the interrupted attempt; it stays counted", "partition", p, "offset", off, "err", err)
	}
}

// commitLoop commits finished records every CommitInterval (every second
// when it is 0, to retry failed synchronous commits) until ctx is done.
func (m *member[In, Out]) commitLoop(ctx context.Context) {
	every := m.r.opts.Runtime.CommitInterval
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cctx, cancel := context.WithTimeout(ctx, m.r.opts.Runtime.CloseTimeout)
			if err := m.flush(cctx); err != nil && !errors.Is(err, errNoGeneration) && ctx.Err() == nil {
				m.log.Warn("commit failed; retrying", "err", err)
			}
			cancel()
		}
	}
}

package projection

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// OwnerSubscription receives the changes of every video of one owner (see
// SubscribeOwner). Changes are coalesced per video: a reader that falls
// behind gets each changed video's latest state once, never a state older
// than one it already took.
type OwnerSubscription struct {
	owner string
	since time.Time
	ready chan struct{}
	done  chan struct{}

	mu      sync.Mutex
	pending map[string]State // by video id: the latest state not taken yet
	order   []string         // ids of pending, in the order they first changed
	last    map[string]int64 // by video id: the Version last offered
	closed  bool
}

// Ready is signalled (it holds at most one signal) when states are
// pending: call Take.
func (o *OwnerSubscription) Ready() <-chan struct{} { return o.ready }

// Done is closed when the subscription ended (its context is done or it
// was cancelled).
func (o *OwnerSubscription) Done() <-chan struct{} { return o.done }

// Take returns the pending states, one per changed video (its latest), in
// the order the videos first changed since the last Take, and forgets
// them.
func (o *OwnerSubscription) Take() []State {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]State, 0, len(o.order))
	for _, id := range o.order {
		out = append(out, o.pending[id])
	}
	o.order = o.order[:0]
	clear(o.pending)
	return out
}

// offer queues st unless its Version was already offered.
func (o *OwnerSubscription) offer(st State) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || st.Version <= o.last[st.VideoID] {
		return
	}
	o.last[st.VideoID] = st.Version
	if _, ok := o.pending[st.VideoID]; !ok {
		o.order = append(o.order, st.VideoID)
	}
	o.pending[st.VideoID] = st
	select {
	case o.ready <- struct{}{}:
	default:
	}
}

// SubscribeOwner watches every video of owner: each state change (any
// status, a failure, an edit, a delete: State.Deleted) of any of owner's
// videos is offered to the subscription after it happens, whether this
// process or another replica on the same database made it (through the
// same LISTEN connection as Subscribe; while an owner-wide subscription
// is open, the listener reads every notified video to learn its owner).
// It does not send the current states: list them first (List). After the
// listener reconnects, the owner's videos changed since the connection
// was lost (or since the subscription, if later) are offered again, so a
// change made meanwhile is not missed.
//
// The subscription ends when ctx is done or the returned cancel is called
// (idempotent, safe to call concurrently); Done is then closed.
func (s *Store) SubscribeOwner(ctx context.Context, owner string) (*OwnerSubscription, func()) {
	o := &OwnerSubscription{owner: owner, since: time.Now(), ready: make(chan struct{}, 1), done: make(chan struct{}),
		pending: map[string]State{}, last: map[string]int64{}}
	h := s.hub
	h.mu.Lock()
	if h.owners[owner] == nil {
		h.owners[owner] = map[*OwnerSubscription]struct{}{}
	}
	h.owners[owner][o] = struct{}{}
	h.started()
	h.mu.Unlock()
	var once sync.Once
	remove := func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			delete(h.owners[owner], o)
			if len(h.owners[owner]) == 0 {
				delete(h.owners, owner)
			}
			o.mu.Lock()
			o.closed = true
			o.mu.Unlock()
			close(o.done)
			h.stopped()
		})
	}
	stop := context.AfterFunc(ctx, remove)
	return o, func() { stop(); remove() }
}

// maxCatchUp bounds the videos one owner's catch-up re-reads after a
// reconnect (the most recently changed first).
const maxCatchUp = 1000

// catchUpOwners re-reads, on the listener's connection, the videos of
// every owner with an owner-wide subscriber that changed since the
// listener lost its connection (or since the owner's earliest
// subscription, if later), and offers them.
func (h *hub) catchUpOwners(ctx context.Context, conn *pgx.Conn) error {
	h.mu.Lock()
	floors := make(map[string]time.Time, len(h.owners))
	for owner, subs := range h.owners {
		var f time.Time
		for o := range subs {
			if f.IsZero() || o.since.Before(f) {
				f = o.since
			}
		}
		if h.lostAt.After(f) {
			f = h.lostAt
		}
		floors[owner] = f.Add(-5 * time.Second) // clocks of other replicas
	}
	h.mu.Unlock()
	for owner, floor := range floors {
		rows, err := conn.Query(ctx, selectState+` WHERE owner = $1 AND updated_at >= $2 ORDER BY updated_at DESC LIMIT $3`,
			owner, floor, maxCatchUp)
		if err != nil {
			return fmt.Errorf("catch up on %s's videos: %w", owner, err)
		}
		var states []State
		for rows.Next() {
			st, err := scanState(rows, h.s.pipe)
			if err != nil {
				rows.Close()
				return fmt.Errorf("catch up on %s's videos: %w", owner, err)
			}
			states = append(states, st)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("catch up on %s's videos: %w", owner, err)
		}
		for i := len(states) - 1; i >= 0; i-- {
			h.publish(states[i])
		}
	}
	return nil
}

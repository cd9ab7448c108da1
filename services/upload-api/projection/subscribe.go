package projection

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vidpipe/vidpipe/platform/backoff"
)

// Subscribe watches video id. The channel first receives the current state
// (when the video exists), then the state after each change, in Version
// order and never the same Version twice. It holds one pending state: a
// reader that falls behind skips intermediate states and gets the latest.
//
// Changes made by this process arrive directly from Apply; changes made by
// other processes on the same database (other API replicas) arrive through
// PostgreSQL LISTEN vidpipe_video_status on a connection of its own, opened
// while this Store has at least one subscriber and re-opened with backoff
// after a failure; after each (re)connect the subscribed videos are
// re-read, so a change made while the listener was down is not lost.
//
// Subscribe does not check the owner: call Get first. The channel is closed
// when ctx is done or the returned cancel is called (idempotent, safe to
// call concurrently).
func (s *Store) Subscribe(ctx context.Context, id string) (<-chan State, func()) {
	sub := &subscriber{id: id, ch: make(chan State, 1)}
	s.hub.add(sub)
	var once sync.Once
	remove := func() { once.Do(func() { s.hub.remove(sub) }) }
	stop := context.AfterFunc(ctx, remove)
	if st, err := s.load(ctx, id); err == nil {
		s.hub.publish(st)
	} else if !errors.Is(err, ErrNotFound) && ctx.Err() == nil {
		s.log.Warn("projection: subscribe: read current state", "video_id", id, "err", err)
	}
	return sub.ch, func() { stop(); remove() }
}

type subscriber struct {
	id     string
	ch     chan State
	last   int64 // Version last delivered
	closed bool
}

// hub fans state changes out to this process's subscribers.
type hub struct {
	s *Store

	mu   sync.Mutex
	subs map[string]map[*subscriber]struct{}
	// owners are the owner-wide subscribers (SubscribeOwner), by owner.
	owners     map[string]map[*OwnerSubscription]struct{}
	n          int
	stopListen context.CancelFunc
	// lostAt is when the listener's connection last failed (zero before
	// the first failure): owner-wide subscribers catch up from then.
	lostAt time.Time
}

func newHub(s *Store) *hub {
	return &hub{s: s, subs: map[string]map[*subscriber]struct{}{}, owners: map[string]map[*OwnerSubscription]struct{}{}}
}

// started counts a new subscriber (per video or per owner) and starts the
// listener at the first; h.mu is held.
func (h *hub) started() {
	h.n++
	if h.n == 1 {
		ctx, cancel := context.WithCancel(context.Background())
		h.stopListen = cancel
		go h.listen(ctx)
	}
}

// stopped counts a subscriber gone and stops the listener after the
// last; h.mu is held.
func (h *hub) stopped() {
	h.n--
	if h.n == 0 && h.stopListen != nil {
		h.stopListen()
		h.stopListen = nil
	}
}

func (h *hub) add(sub *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[sub.id] == nil {
		h.subs[sub.id] = map[*subscriber]struct{}{}
	}
	h.subs[sub.id][sub] = struct{}{}
	h.started()
}

func (h *hub) remove(sub *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.subs[sub.id]
	if _, ok := set[sub]; !ok {
		return
	}
	delete(set, sub)
	if len(set) == 0 {
		delete(h.subs, sub.id)
	}
	sub.closed = true
	close(sub.ch)
	h.stopped()
}

// publish delivers st to the subscribers of its video that have not seen
// this Version or a later one.
func (h *hub) publish(st State) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs[st.VideoID] {
		if sub.closed || st.Version <= sub.last {
			continue
		}
		sub.last = st.Version
		select {
		case sub.ch <- st:
		default:
			// Full: replace the pending state with the newer one. Only
			// publish sends, under h.mu, so the second send cannot block.
			select {
			case <-sub.ch:
			default:
			}
			sub.ch <- st
		}
	}
	for sub := range h.owners[st.Owner] {
		sub.offer(st)
	}
}

func (h *hub) subscribed() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]string, 0, len(h.subs))
	for id := range h.subs {
		ids = append(ids, id)
	}
	return ids
}

// has reports whether a change of video id may interest a subscriber: one
// of the video, or any owner-wide one (the notification names the video,
// not its owner, so the row is read to find out).
func (h *hub) has(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[id]) > 0 || len(h.owners) > 0
}

// refresh re-reads id on the listener's connection and publishes it. An
// error means the connection is unusable: the listener reconnects and
// re-reads every subscribed video.
func (h *hub) refresh(ctx context.Context, conn *pgx.Conn, id string) error {
	st, err := loadState(ctx, conn, h.s.pipe, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	h.publish(st)
	return nil
}

// reconnect paces the listener's reconnections: 100ms doubling to 5s,
// equal jitter.
var reconnect = backoff.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, EqualJitter: true}

// listen runs LISTEN until ctx is done, reconnecting with backoff.
func (h *hub) listen(ctx context.Context) {
	failures := 0
	for {
		err := h.listenOnce(ctx, func() { failures = 0 })
		if ctx.Err() != nil {
			return
		}
		failures++
		h.mu.Lock()
		h.lostAt = time.Now()
		h.mu.Unlock()
		d := reconnect.Delay(failures)
		h.s.log.Warn("projection: listener failed, reconnecting", "err", err, "in", d)
		if !backoff.Sleep(ctx, d) {
			return
		}
	}
}

func (h *hub) listenOnce(ctx context.Context, connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, h.s.pool.Config().ConnConfig)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	connected()
	// Catch up on changes made before LISTEN took effect.
	for _, id := range h.subscribed() {
		if err := h.refresh(ctx, conn, id); err != nil {
			return err
		}
	}
	if err := h.catchUpOwners(ctx, conn); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if h.has(n.Payload) {
			if err := h.refresh(ctx, conn, n.Payload); err != nil {
				return err
			}
		}
	}
}

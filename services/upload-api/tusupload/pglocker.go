package tusupload

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/vidpipe/vidpipe/platform/backoff"
	"github.com/vidpipe/vidpipe/services/upload-api/apierror"
)

// The shared tus lock: a PostgreSQL session-level advisory lock.
//
// Key space: hashtextextended('vidpipe-tus-lock:' || upload id, 0), the
// same convention as the quota's per-owner lock (projection/quota.go,
// "vidpipe-quota:"): a 64-bit hash of a prefixed string, so a collision
// with the quota's keys or another application's is practically
// impossible (and would only make two requests wait for each other).
//
// Release requests and "lock freed" wake-ups travel on the channel
// vidpipe_tus_lock: payload "r:<id> <token>" asks the holder of id
// (whichever process) to release it on behalf of the lock request
// <token> (random per request, so that a request that got the lock
// ignores its own earlier asks, delivered late); "f:<id>" tells waiters
// that id was unlocked.
const (
	lockKeySeed   = "vidpipe-tus-lock:"
	lockChannel   = "vidpipe_tus_lock"
	notifyRelease = "r:"
	notifyFreed   = "f:"
)

// Defaults of PGLockerOptions.
const (
	DefaultLockConns     = 32
	DefaultLockHeartbeat = 2 * time.Second
	DefaultLockPoll      = time.Second
)

// errLockLost is Unlock's answer when the lock's session had died before:
// the lock was gone already (PostgreSQL frees it with the session).
var errLockLost = errors.New("tus lock: the lock's database session was lost while it was held")

// PGLockerOptions tune a [PGLocker]; zero fields take the defaults.
type PGLockerOptions struct {
	// MaxConns bounds the locker's own connection pool: each lock held
	// keeps one connection (its session holds the advisory lock), and an
	// attempt to take a lock borrows one for a round trip. A request that
	// finds every connection busy waits for one while its lock wait lasts
	// (tusd: 20s), then gets 503 database_unavailable. The pool is not the
	// projection's, so a lock wait never takes a connection from status
	// reads. Default: 32 (DefaultLockConns).
	MaxConns int
	// Heartbeat is how often a holder's connection is pinged (a
	// connection closed by the server is seen at once, without it); the
	// ping itself may take as long, at least 1s. Default: 2s.
	Heartbeat time.Duration
	// Poll is how often a waiter tries again when no "freed" notification
	// arrives (one that was missed, the listener reconnecting). Default: 1s.
	Poll time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// PGLocker is tusd's handler.Locker on PostgreSQL, shared by every API
// replica on the same database: an upload's lock is a session-level
// advisory lock held by a connection of the locker's own pool for as long
// as the lock is held.
//
// Lock tries pg_try_advisory_lock; while another session holds the key it
// sends NOTIFY vidpipe_tus_lock "r:<id> <token>" (the holder's process
// calls the holder's requestRelease: tusd then ends the holding request, a
// PATCH stores what it received) and waits for "f:<id>" (sent by Unlock)
// or the poll interval, until ctx is done (handler.ErrLockTimeout). Every
// process listens on one connection of its own, reconnecting with backoff;
// while it reconnects, waiters still poll, but holders in that process do
// not hear release requests from other processes (the waiter then waits
// for the holder to finish, or for its own timeout).
//
// Losing the session loses the lock: PostgreSQL frees a session's advisory
// locks when the session ends (server restart, pg_terminate_backend, a
// broken connection the server notices). A holder's connection is watched
// while the lock is held: a read is kept pending on it, so a connection
// the server closes is noticed at once, and it is pinged after Heartbeat
// without traffic, so a connection that silently stopped answering (a
// network partition) is given up after Heartbeat plus a ping timeout
// (Heartbeat, at least 1s). Either way the holding request's write fence
// is revoked (fence.go: its store's S3 writes fail from then on) and its
// requestRelease is called: the request stops reading its body and ends,
// and Unlock then reports the loss. To keep the server from freeing the lock of a
// partitioned holder before that holder gives up, the lock sessions set
// short TCP keepalives (tcp_keepalives_idle 10s, _interval 5s, _count 3:
// the server drops a silent client after about 25s, longer than the
// holder's own check).
//
// Not covered: an S3 write already sent when the loss is noticed still
// completes, and a silent connection is noticed only after Heartbeat plus
// the ping, while the server may end the session sooner (a restart, a
// killed backend: the lock is free at once; a closed connection is
// noticed at once, so only writes in flight remain). A request on the
// same upload that takes the lock in that moment can write alongside
// them; both write the same bytes at the same offsets, but the S3 store's
// part numbering could then go wrong. S3 has no conditional writes for
// parts to fence that completely.
type PGLocker struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	opts PGLockerOptions

	mu      sync.Mutex
	held    map[string]*pgLock
	waiters map[string]map[chan struct{}]struct{}

	stop     context.CancelFunc
	listened chan struct{}

	heldGauge prometheus.Gauge
	asked     prometheus.Counter
	lost      prometheus.Counter
}

var _ handler.Locker = (*PGLocker)(nil)

// NewPGLocker opens the locker's pool on the database at url (connections
// are opened on demand) and starts its listener. Close it after the HTTP
// server has drained.
func NewPGLocker(ctx context.Context, url string, o PGLockerOptions) (*PGLocker, error) {
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultLockConns
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultLockHeartbeat
	}
	if o.Poll <= 0 {
		o.Poll = DefaultLockPoll
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.New("tus lock: cannot parse the postgres url") // it may hold a password
	}
	pc.MaxConns = int32(o.MaxConns)
	pc.MinConns = 0
	pc.MaxConnIdleTime = time.Minute
	rp := pc.ConnConfig.RuntimeParams
	if rp["application_name"] == "" {
		rp["application_name"] = "vidpipe-tus-lock"
	}
	rp["tcp_keepalives_idle"] = "10"
	rp["tcp_keepalives_interval"] = "5"
	rp["tcp_keepalives_count"] = "3"
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("tus lock: %w", err)
	}
	lctx, stop := context.WithCancel(context.Background())
	l := &PGLocker{
		pool: pool, log: o.Logger, opts: o,
		held: map[string]*pgLock{}, waiters: map[string]map[chan struct{}]struct{}{},
		stop: stop, listened: make(chan struct{}),
		heldGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vidpipe_api_tus_locks_held",
			Help: "tus upload locks (PostgreSQL advisory locks) held by this process.",
		}),
		asked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vidpipe_api_tus_lock_release_requests_total",
			Help: "Requests, from this or another replica, that asked a tus request of this process to give up its upload's lock.",
		}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vidpipe_api_tus_locks_lost_total",
			Help: "tus upload locks lost while held because their database session died (the holding request was stopped).",
		}),
	}
	go func() {
		defer close(l.listened)
		l.listen(lctx)
	}()
	return l, nil
}

// closeWait bounds how long Close waits for locks still held.
const closeWait = 10 * time.Second

// Close stops the listener and closes the pool. It waits up to 10s for
// locks still held to be unlocked; the sessions of those left end with
// the process.
func (l *PGLocker) Close() {
	l.stop()
	<-l.listened
	closed := make(chan struct{})
	go func() {
		l.pool.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(closeWait):
		l.log.Warn("tus lock: closing with locks still held; they are freed when the process exits")
	}
}

// RegisterMetrics registers the locker's metrics on reg:
// vidpipe_api_tus_locks_held, vidpipe_api_tus_lock_release_requests_total
// and vidpipe_api_tus_locks_lost_total. [New] calls it with
// Config.Registry.
func (l *PGLocker) RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{l.heldGauge, l.asked, l.lost} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("tus lock: register metrics: %w", err)
		}
	}
	return nil
}

// UseIn makes composer use l.
func (l *PGLocker) UseIn(composer *handler.StoreComposer) { composer.UseLocker(l) }

// NewLock returns an unlocked lock of upload id.
func (l *PGLocker) NewLock(id string) (handler.Lock, error) {
	var tok [8]byte
	_, _ = rand.Read(tok[:])
	return &pgLock{l: l, id: id, seed: lockKeySeed + id, token: hex.EncodeToString(tok[:])}, nil
}

// pgLock is one request's lock of one upload.
type pgLock struct {
	l    *PGLocker
	id   string
	seed string // hashed by PostgreSQL into the advisory key
	// token names this lock request in its release requests.
	token string

	conn           *pgxpool.Conn // holds the session while locked
	fence          *writeFence   // revoked when the lock is lost
	requestRelease func()
	stopWatch      context.CancelFunc
	watched        chan struct{}
	lost           atomic.Bool
}

// Lock takes the lock, waiting (and asking its holder to release it)
// until ctx is done: then handler.ErrLockTimeout. A database that cannot
// be reached, or no free connection in the pool before ctx is done, is a
// 503 (database_unavailable).
func (k *pgLock) Lock(ctx context.Context, requestRelease func()) error {
	l := k.l
	wake := l.addWaiter(k.id)
	defer l.removeWaiter(k.id, wake)
	poll := time.NewTimer(l.opts.Poll)
	defer poll.Stop()
	for {
		got, err := k.try(ctx)
		if err != nil {
			return err
		}
		if got {
			k.hold(fenceFrom(ctx), requestRelease)
			return nil
		}
		poll.Reset(l.opts.Poll) // no stale tick survives Reset (Go 1.23 timers)
		select {
		case <-ctx.Done():
			return handler.ErrLockTimeout
		case <-wake:
		case <-poll.C:
		}
	}
}

// try makes one attempt: it borrows a connection and runs
// pg_try_advisory_lock on it, keeping the connection when it got the lock;
// otherwise it asks the holder to release it.
func (k *pgLock) try(ctx context.Context) (bool, error) {
	l := k.l
	c, err := l.pool.Acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return false, tusError(apierror.Unavailable(apierror.CodeDatabaseUnavailable,
				"no upload lock connection became free in time (api.tus_lock_conns); try again", err))
		}
		return false, tusError(apierror.Unavailable(apierror.CodeDatabaseUnavailable,
			"the upload lock is unavailable; try again later", fmt.Errorf("tus lock %s: %w", k.id, err)))
	}
	var got bool
	if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, k.seed).Scan(&got); err != nil {
		// The lock may have been granted before the answer was lost:
		// ending the session makes sure it is not left on a pooled
		// connection.
		discard(c)
		if ctx.Err() != nil {
			return false, handler.ErrLockTimeout
		}
		return false, tusError(apierror.Unavailable(apierror.CodeDatabaseUnavailable,
			"the upload lock is unavailable; try again later", fmt.Errorf("tus lock %s: %w", k.id, err)))
	}
	if got {
		k.conn = c
		return true, nil
	}
	// Held elsewhere: ask the holder, in this process directly, in any
	// process through NOTIFY.
	if h := l.holder(k.id); h != nil {
		h.ask()
	}
	if _, err := c.Exec(ctx, `SELECT pg_notify($1, $2)`, lockChannel, notifyRelease+k.id+" "+k.token); err != nil && ctx.Err() == nil {
		l.log.WarnContext(ctx, "tus lock: request release", "video_id", k.id, "err", err)
	}
	c.Release()
	return false, nil
}

// ask passes on another request's wish for the lock to the holder.
func (k *pgLock) ask() {
	k.l.asked.Inc()
	k.requestRelease()
}

// hold records k as the holder and starts watching its session; fence
// (nil: none) is the holding request's write fence.
func (k *pgLock) hold(fence *writeFence, requestRelease func()) {
	k.fence = fence
	k.requestRelease = requestRelease
	wctx, stop := context.WithCancel(context.Background())
	k.stopWatch = stop
	k.watched = make(chan struct{})
	k.l.mu.Lock()
	k.l.held[k.id] = k
	k.l.mu.Unlock()
	k.l.heldGauge.Inc()
	go func() {
		defer close(k.watched)
		k.watch(wctx)
	}()
}

// watch keeps a read pending on the holder's connection (a connection the
// server closes fails it at once) and pings after each Heartbeat without
// traffic, until ctx is done (Unlock). On failure the lock is lost: the
// holder is asked to release.
func (k *pgLock) watch(ctx context.Context) {
	pg := k.conn.Conn().PgConn()
	hb := k.l.opts.Heartbeat
	pingTimeout := max(hb, time.Second)
	for {
		wctx, cancel := context.WithTimeout(ctx, hb)
		err := pg.WaitForNotification(wctx)
		timedOut := errors.Is(wctx.Err(), context.DeadlineExceeded)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			continue // a notification on this connection: none is expected
		}
		if timedOut && !pg.IsClosed() {
			// Not cut short by Unlock: a ping cancelled mid-way would close
			// the connection that Unlock is about to use.
			pctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
			err = pg.Ping(pctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				continue
			}
		}
		k.lost.Store(true)
		if k.fence != nil {
			k.fence.revoked.Store(true) // before anything else: no more writes
		}
		k.l.lost.Inc()
		k.l.log.Error("tus lock: lost the database session holding an upload's lock; stopping the request that holds it",
			"video_id", k.id, "err", err)
		k.requestRelease()
		return
	}
}

// Unlock releases the lock and wakes its waiters. It returns errLockLost
// when the session had died while the lock was held.
func (k *pgLock) Unlock() error {
	l := k.l
	if k.conn == nil {
		return nil
	}
	k.stopWatch()
	<-k.watched
	l.mu.Lock()
	if l.held[k.id] == k {
		delete(l.held, k.id)
	}
	l.mu.Unlock()
	l.heldGauge.Dec()
	c := k.conn
	k.conn = nil
	if k.lost.Load() {
		discard(c)
		return errLockLost
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var unlocked bool
	err := c.QueryRow(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0)) FROM (SELECT pg_notify($2, $3)) AS n`,
		k.seed, lockChannel, notifyFreed+k.id).Scan(&unlocked)
	if err != nil || !unlocked {
		// Whether the lock is still held is unknown: ending the session
		// frees it for sure.
		discard(c)
		if err == nil {
			return errLockLost
		}
		return fmt.Errorf("tus lock %s: unlock: %w (session closed)", k.id, err)
	}
	c.Release()
	l.wake(k.id, false) // this process's waiters need not wait for the notification
	return nil
}

// discard ends c's session (and with it any advisory lock it holds) and
// gives it back to the pool, which drops a closed connection.
func discard(c *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Conn().Close(ctx)
	c.Release()
}

// holder returns this process's holder of id, nil if none.
func (l *PGLocker) holder(id string) *pgLock {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[id]
}

func (l *PGLocker) addWaiter(id string) chan struct{} {
	ch := make(chan struct{}, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiters[id] == nil {
		l.waiters[id] = map[chan struct{}]struct{}{}
	}
	l.waiters[id][ch] = struct{}{}
	return ch
}

func (l *PGLocker) removeWaiter(id string, ch chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.waiters[id], ch)
	if len(l.waiters[id]) == 0 {
		delete(l.waiters, id)
	}
}

// wake wakes the waiters of id, or of every upload when all is true.
func (l *PGLocker) wake(id string, all bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for wid, set := range l.waiters {
		if !all && wid != id {
			continue
		}
		for ch := range set {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// relisten paces the listener's reconnections: 100ms doubling to 5s.
var relisten = backoff.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, EqualJitter: true}

// listen runs LISTEN vidpipe_tus_lock until ctx is done, reconnecting
// with backoff.
func (l *PGLocker) listen(ctx context.Context) {
	failures := 0
	for {
		err := l.listenOnce(ctx, func() { failures = 0 })
		if ctx.Err() != nil {
			return
		}
		failures++
		d := relisten.Delay(failures)
		l.log.Warn("tus lock: listener failed, reconnecting (release requests from other replicas wait for it)", "err", err, "in", d)
		if !backoff.Sleep(ctx, d) {
			return
		}
	}
}

func (l *PGLocker) listenOnce(ctx context.Context, connected func()) error {
	cfg := l.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "vidpipe-tus-lock-listener"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+lockChannel); err != nil {
		return err
	}
	connected()
	// What was sent while not listening is lost: waiters try again now.
	l.wake("", true)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(n.Payload, notifyRelease):
			id, from, _ := strings.Cut(strings.TrimPrefix(n.Payload, notifyRelease), " ")
			if h := l.holder(id); h != nil && h.token != from {
				h.ask()
			}
		case strings.HasPrefix(n.Payload, notifyFreed):
			l.wake(strings.TrimPrefix(n.Payload, notifyFreed), false)
		}
	}
}

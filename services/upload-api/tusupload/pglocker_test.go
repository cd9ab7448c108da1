package tusupload

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// mustLocker opens a PGLocker (a pool of its own, like one API replica)
// on the database at url.
func mustLocker(tb testing.TB, dbURL string, o PGLockerOptions) *PGLocker {
	tb.Helper()
	o.Logger = slog.New(slog.NewTextHandler(tLog{tb}, nil))
	l, err := NewPGLocker(context.Background(), dbURL, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(l.Close)
	return l
}

// tLog writes log lines to the test log.
type tLog struct{ tb testing.TB }

func (w tLog) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// twoReplicas returns two lockers on one fresh database, as two API
// processes would have.
func twoReplicas(tb testing.TB) (handler.Locker, handler.Locker, string) {
	tb.Helper()
	dbURL := harness.MustDatabase(tb, harness.SharedPostgres(tb))
	o := PGLockerOptions{Poll: 200 * time.Millisecond, Heartbeat: 500 * time.Millisecond}
	return mustLocker(tb, dbURL, o), mustLocker(tb, dbURL, o), dbURL
}

func mustLock(tb testing.TB, l handler.Locker, id string, timeout time.Duration, requestRelease func()) handler.Lock {
	tb.Helper()
	lk, err := l.NewLock(id)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := lk.Lock(ctx, requestRelease); err != nil {
		tb.Fatalf("lock %s: %v", id, err)
	}
	return lk
}

// Requests on two replicas never hold one upload's lock together.
func TestPGLockerMutualExclusion(t *testing.T) {
	a, b, _ := twoReplicas(t)
	id := contract.NewID()
	var inside, maxInside, acquired atomic.Int32
	var wg sync.WaitGroup
	for g := range 6 {
		l := a
		if g%2 == 1 {
			l = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				lk, _ := l.NewLock(id)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				err := lk.Lock(ctx, func() {})
				cancel()
				if err != nil {
					t.Errorf("lock: %v", err)
					return
				}
				n := inside.Add(1)
				for {
					m := maxInside.Load()
					if n <= m || maxInside.CompareAndSwap(m, n) {
						break
					}
				}
				acquired.Add(1)
				time.Sleep(2 * time.Millisecond) // widen the window a second holder would need
				inside.Add(-1)
				if err := lk.Unlock(); err != nil {
					t.Errorf("unlock: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if got := maxInside.Load(); got != 1 {
		t.Errorf("%d holders of one upload's lock at once, want 1", got)
	}
	if got := acquired.Load(); got != 60 {
		t.Errorf("acquired %d times, want 60", got)
	}
	for _, l := range []handler.Locker{a, b} {
		if n := testutil.ToFloat64(l.(*PGLocker).heldGauge); n != 0 {
			t.Errorf("vidpipe_api_tus_locks_held %v after every unlock, want 0", n)
		}
	}
	// Different uploads do not exclude each other.
	x := mustLock(t, a, contract.NewID(), 10*time.Second, func() {})
	y := mustLock(t, b, contract.NewID(), 10*time.Second, func() {})
	_ = x.Unlock()
	_ = y.Unlock()
}

// A request on replica B that wants the lock held on replica A makes A's
// holder release it (tusd: the holding PATCH ends), and gets it after.
func TestPGLockerRequestsReleaseAcrossReplicas(t *testing.T) {
	a, b, _ := twoReplicas(t)
	id := contract.NewID()
	var released atomic.Bool
	asked := make(chan struct{})
	var once sync.Once
	var held handler.Lock
	held = mustLock(t, a, id, 10*time.Second, func() {
		once.Do(func() {
			close(asked)
			go func() {
				released.Store(true)
				if err := held.Unlock(); err != nil {
					t.Errorf("unlock on A: %v", err)
				}
			}()
		})
	})
	lk := mustLock(t, b, id, 30*time.Second, func() {})
	defer lk.Unlock()
	select {
	case <-asked:
	default:
		t.Fatal("B got the lock without A's holder being asked to release it")
	}
	if !released.Load() {
		t.Fatal("B got the lock before A released it")
	}
	if n := testutil.ToFloat64(a.(*PGLocker).asked); n < 1 {
		t.Errorf("vidpipe_api_tus_lock_release_requests_total on A: %v, want at least 1", n)
	}
}

// A holder that does not release keeps the lock; the waiter gets tusd's
// lock timeout when its context ends, and the lock once it is free.
func TestPGLockerWaitEndsWithContext(t *testing.T) {
	a, b, _ := twoReplicas(t)
	id := contract.NewID()
	var asks atomic.Int32
	held := mustLock(t, a, id, 10*time.Second, func() { asks.Add(1) })
	lk, _ := b.NewLock(id)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	err := lk.Lock(ctx, func() {})
	cancel()
	if !errors.Is(err, handler.ErrLockTimeout) {
		t.Fatalf("lock of a held upload: %v, want ErrLockTimeout", err)
	}
	if asks.Load() == 0 {
		t.Error("the holder was never asked to release")
	}
	if err := held.Unlock(); err != nil {
		t.Fatal(err)
	}
	mustLock(t, b, id, 30*time.Second, func() {}).Unlock()
}

// When the holder's session dies, PostgreSQL frees the lock: the holder
// is told (requestRelease: it stops writing), Unlock reports the loss,
// and another replica gets the lock.
func TestPGLockerSessionLoss(t *testing.T) {
	a, b, dbURL := twoReplicas(t)
	id := contract.NewID()
	lost := make(chan struct{})
	var once sync.Once
	held, err := a.NewLock(id)
	if err != nil {
		t.Fatal(err)
	}
	fctx := withFence(context.Background()) // the holding request's
	if err := held.Lock(fctx, func() { once.Do(func() { close(lost) }) }); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1
		AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)`, lockKeySeed+id).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d sessions holding the lock, want 1", killed)
	}
	select {
	case <-lost:
	case <-ctx.Done():
		t.Fatal("the holder was not told that its session died")
	}
	if !fenceFrom(fctx).revoked.Load() {
		t.Error("the holding request's write fence was not revoked")
	}
	lk := mustLock(t, b, id, 30*time.Second, func() {})
	if err := held.Unlock(); !errors.Is(err, errLockLost) {
		t.Errorf("unlock after the session died: %v, want errLockLost", err)
	}
	if n := testutil.ToFloat64(a.(*PGLocker).lost); n != 1 {
		t.Errorf("vidpipe_api_tus_locks_lost_total %v, want 1", n)
	}
	// The lost holder's unlock did not free B's lock.
	c, _ := a.NewLock(id)
	cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
	defer ccancel()
	if err := c.Lock(cctx, func() {}); !errors.Is(err, handler.ErrLockTimeout) {
		t.Errorf("lock on A while B holds: %v, want ErrLockTimeout", err)
	}
	if err := lk.Unlock(); err != nil {
		t.Error(err)
	}
}

// The lock pool is bounded: with every connection holding a lock, another
// upload's lock is a 503 once its wait ends, and the pool is the locker's
// own (the caller's other pools are not touched).
func TestPGLockerPoolBounded(t *testing.T) {
	dbURL := harness.MustDatabase(t, harness.SharedPostgres(t))
	l := mustLocker(t, dbURL, PGLockerOptions{MaxConns: 1})
	held := mustLock(t, l, contract.NewID(), 10*time.Second, func() {})
	lk, _ := l.NewLock(contract.NewID())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	err := lk.Lock(ctx, func() {})
	cancel()
	var he handler.Error
	if !errors.As(err, &he) || he.HTTPResponse.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("lock with the pool exhausted: %v, want a 503", err)
	}
	if err := held.Unlock(); err != nil {
		t.Fatal(err)
	}
	mustLock(t, l, contract.NewID(), 10*time.Second, func() {}).Unlock()
}

// A waiter's own release request, delivered after it got the lock, does
// not interrupt it: only other requests' do.
func TestPGLockerIgnoresOwnReleaseRequest(t *testing.T) {
	dbURL := harness.MustDatabase(t, harness.SharedPostgres(t))
	l := mustLocker(t, dbURL, PGLockerOptions{Poll: 50 * time.Millisecond})
	var selfInterrupts atomic.Int32
	var holders []handler.Lock
	for range 20 {
		id := contract.NewID()
		var first handler.Lock
		var once sync.Once
		first = mustLock(t, l, id, 10*time.Second, func() {
			once.Do(func() { go first.Unlock() })
		})
		second := mustLock(t, l, id, 10*time.Second, func() { selfInterrupts.Add(1) })
		holders = append(holders, second)
	}
	// Notifications reach a listener in commit order, and the listener
	// handles them one by one: once it has handled a marker sent now, it
	// has handled every release request sent before.
	marker := contract.NewID()
	wake := l.addWaiter(marker)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := l.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, lockChannel, notifyFreed+marker); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
	case <-ctx.Done():
		t.Fatal("the listener did not deliver the marker")
	}
	if n := selfInterrupts.Load(); n != 0 {
		t.Errorf("%d of 20 holders were asked to release by their own earlier request", n)
	}
	for _, h := range holders {
		if err := h.Unlock(); err != nil {
			t.Error(err)
		}
	}
}

// A PostgreSQL restart ends every lock session: the holder is told, the
// lock can be taken again once the server is back, and release requests
// between replicas work again (the listeners reconnect).
func TestPGLockerPostgresRestart(t *testing.T) {
	pg := harness.StartPostgres(t)
	dbURL := harness.MustDatabase(t, pg)
	o := PGLockerOptions{Poll: 200 * time.Millisecond, Heartbeat: 500 * time.Millisecond}
	a, b := mustLocker(t, dbURL, o), mustLocker(t, dbURL, o)
	id := contract.NewID()
	lost := make(chan struct{})
	var once sync.Once
	held := mustLock(t, a, id, 10*time.Second, func() { once.Do(func() { close(lost) }) })

	pg.Restart(t)
	select {
	case <-lost:
	case <-time.After(time.Minute):
		t.Fatal("the holder was not told that the server restarted")
	}
	if err := held.Unlock(); !errors.Is(err, errLockLost) {
		t.Errorf("unlock after the restart: %v, want errLockLost", err)
	}
	// B takes the lock and gives it up when A asks: A's request reaches
	// B's listener, reconnected after the restart.
	var onB handler.Lock
	var released atomic.Bool
	var bOnce sync.Once
	onB = mustLock(t, b, id, time.Minute, func() {
		bOnce.Do(func() {
			released.Store(true)
			go onB.Unlock()
		})
	})
	mustLock(t, a, id, time.Minute, func() {}).Unlock()
	if !released.Load() {
		t.Error("A got the lock without B's holder releasing it")
	}
}

// gateProxy forwards TCP connections to target until frozen: then it
// stops forwarding in both directions (a network partition, where no
// connection is closed), until thawed.
type gateProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	gate   chan struct{} // closed while traffic flows
}

func startGateProxy(tb testing.TB, target string) *gateProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &gateProxy{ln: ln, target: target, gate: make(chan struct{})}
	close(p.gate)
	tb.Cleanup(func() { p.thaw(); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go p.pipe(c, s)
			go p.pipe(s, c)
		}
	}()
	return p
}

func (p *gateProxy) pipe(from, to net.Conn) {
	defer from.Close()
	defer to.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			p.mu.Lock()
			gate := p.gate
			p.mu.Unlock()
			<-gate
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *gateProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gate = make(chan struct{})
}

func (p *gateProxy) thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// A holder whose connection silently stops answering (a network
// partition: nothing is closed) gives up after its heartbeat and ping:
// it is told to stop, and Unlock reports the loss.
func TestPGLockerSilentConnection(t *testing.T) {
	pg := harness.SharedPostgres(t)
	u, err := url.Parse(harness.MustDatabase(t, pg))
	if err != nil {
		t.Fatal(err)
	}
	proxy := startGateProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	l := mustLocker(t, u.String(), PGLockerOptions{Heartbeat: 300 * time.Millisecond})
	lost := make(chan struct{})
	var once sync.Once
	held := mustLock(t, l, contract.NewID(), 10*time.Second, func() { once.Do(func() { close(lost) }) })
	proxy.freeze()
	select {
	case <-lost:
	case <-time.After(time.Minute):
		t.Fatal("the holder was not told that its connection stopped answering")
	}
	proxy.thaw()
	if err := held.Unlock(); !errors.Is(err, errLockLost) {
		t.Errorf("unlock after the connection went silent: %v, want errLockLost", err)
	}
}

package projection

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestQuotaReserve: reservations are checked against the quota together
// with the user's projected videos; a projected video's reservation stops
// counting; a reservation renews, shrinks, expires and is released; a
// flexible reservation takes what is left.
func TestQuotaReserve(t *testing.T) {
	ctx := context.Background()
	s := MustStore(t, MustNewDatabase(t))
	const ttl = time.Hour
	c := newChain(t, "alice") // a 1234-byte source
	mustApply(t, s, eventRecord(t, c.up))
	mustApply(t, s, eventRecord(t, c.tr))
	mustApply(t, s, eventRecord(t, newChain(t, "bob").up)) // someone else's

	u, err := s.Usage(ctx, "alice", ttl)
	if err != nil || u.StoredBytes != 1234 || u.ReservedBytes != 0 {
		t.Fatalf("usage = %+v, %v; want 1234 stored", u, err)
	}
	a, b := newID(t), newID(t)
	if got, _, err := s.Reserve(ctx, "alice", a, 500, 500, 2000, ttl); err != nil || got != 500 {
		t.Fatalf("reserve 500 of 2000 (1234 used) = %d, %v", got, err)
	}
	_, u, err = s.Reserve(ctx, "alice", b, 300, 300, 2000, ttl)
	var qe *QuotaError
	if !errors.As(err, &qe) || !errors.Is(err, ErrQuotaExceeded) || qe.Usage.Total() != 1734 || qe.Want != 300 || u.Total() != 1734 {
		t.Fatalf("reserve 300 more = %v (usage %+v), want a quota error at 1734 used", err, u)
	}
	// A flexible reservation gets what is left.
	if got, _, err := s.Reserve(ctx, "alice", b, 1, 10_000, 2000, ttl); err != nil || got != 266 {
		t.Fatalf("reserve 1..10000 = %d, %v; want the 266 left", got, err)
	}
	// Reserving again for the same id replaces (here: shrinks) it.
	if got, _, err := s.Reserve(ctx, "alice", a, 100, 100, 2000, ttl); err != nil || got != 100 {
		t.Fatalf("re-reserve 100 = %d, %v", got, err)
	}
	if u, _ := s.Usage(ctx, "alice", ttl); u.StoredBytes != 1234 || u.ReservedBytes != 366 {
		t.Fatalf("usage = %+v, want 1234 stored, 366 reserved", u)
	}
	// A reservation of a video the projection now knows no longer counts
	// (its size is in StoredBytes).
	c2 := newChain(t, "alice")
	if _, _, err := s.Reserve(ctx, "alice", c2.up.VideoID, 0, 0, 0, ttl); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Reserve(ctx, "alice", c2.up.VideoID, 1234, 1234, 0, ttl); err != nil {
		t.Fatalf("no quota: %v", err)
	}
	mustApply(t, s, eventRecord(t, c2.up))
	if u, _ := s.Usage(ctx, "alice", ttl); u.StoredBytes != 2468 || u.ReservedBytes != 366 {
		t.Fatalf("usage after projecting = %+v, want 2468 stored, 366 reserved", u)
	}
	if err := s.Release(ctx, b); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.Usage(ctx, "alice", ttl); u.ReservedBytes != 100 {
		t.Fatalf("usage after release = %+v, want 100 reserved", u)
	}
	// Expired reservations stop counting.
	time.Sleep(50 * time.Millisecond)
	if u, _ := s.Usage(ctx, "alice", 10*time.Millisecond); u.ReservedBytes != 0 {
		t.Fatalf("usage with expired reservations = %+v, want 0 reserved", u)
	}
	if u, _ := s.Usage(ctx, "bob", ttl); u.StoredBytes != 1234 || u.ReservedBytes != 0 {
		t.Fatalf("bob's usage = %+v", u)
	}
}

// TestQuotaReserveConcurrent: reservations racing on two stores (two API
// replicas on one database) never exceed the quota together.
func TestQuotaReserveConcurrent(t *testing.T) {
	url := MustNewDatabase(t)
	stores := []*Store{MustStore(t, url), MustStore(t, url)}
	const quota, each, n = 1000, 100, 40
	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, _, err := stores[i%2].Reserve(context.Background(), "carol", newID(t), each, each, quota, time.Hour)
			switch {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, ErrQuotaExceeded):
				t.Errorf("reserve: %v", err)
			}
		}(i)
	}
	wg.Wait()
	if ok.Load() != quota/each {
		t.Fatalf("%d reservations of %d bytes granted under a %d-byte quota, want %d", ok.Load(), each, quota, quota/each)
	}
	if u, _ := stores[0].Usage(context.Background(), "carol", time.Hour); u.Total() != quota {
		t.Fatalf("usage = %+v, want %d", u, quota)
	}
}

package transcode

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The source cache downloads a source once however many chunks ask for it
// at the same time, does not keep a failed download, evicts the least
// recently used unused entries past its size, never one in use, and
// expires idle ones.
func TestSourceCache(t *testing.T) {
	c, err := newSourceCache(t.TempDir(), 10, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	var fetches atomic.Int32
	fetch := func(n int) func(ctx context.Context, path string) error {
		return func(ctx context.Context, path string) error {
			fetches.Add(1)
			time.Sleep(20 * time.Millisecond)
			return os.WriteFile(path, make([]byte, n), 0o644)
		}
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, release, err := c.get(context.Background(), "a", fetch(6))
			if err != nil {
				t.Error(err)
				return
			}
			defer release()
			if fi, err := os.Stat(p); err != nil || fi.Size() != 6 {
				t.Errorf("cached file: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d downloads for 5 concurrent gets, want 1", n)
	}
	if _, _, err := c.get(context.Background(), "bad", func(context.Context, string) error { return errors.New("boom") }); err == nil {
		t.Fatal("failed download returned no error")
	}
	if _, ok := c.entries["bad"]; ok {
		t.Fatal("failed download cached")
	}
	// b (6 bytes) pushes the total past 10: a (unused) is evicted, b in use is not.
	pb, releaseB, err := c.get(context.Background(), "b", fetch(6))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.entries["a"]; ok {
		t.Error("least recently used entry not evicted past the size")
	}
	_, releaseC, err := c.get(context.Background(), "c", fetch(6))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pb); err != nil {
		t.Error("an entry in use was evicted")
	}
	releaseB()
	releaseC()
	c.expire(0)
	if len(c.entries) != 0 {
		t.Errorf("%d entries left after expiry", len(c.entries))
	}
	left, _ := os.ReadDir(c.dir)
	if len(left) != 0 {
		t.Errorf("%d files left in the cache directory", len(left))
	}
}

package transcode

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// SourceCacheDirPrefix starts the name of a worker's source cache
// directory under Settings.TempDir (platform/workdir.Sweep removes those
// left by killed workers, like the work directories).
const SourceCacheDirPrefix = WorkDirPrefix + "sources-"

// sourceCacheIdle is how long a source nobody used stays in the cache: a
// video's chunks are encoded within minutes of each other.
const sourceCacheIdle = 10 * time.Minute

// sourceCache keeps downloaded sources on local disk so that the chunks of
// one video that land on this worker download it once (ffmpeg runs in a
// sandbox without network and reads local files only). Entries are keyed
// by video id; the least recently used entries that are not in use are
// removed once the total passes max, and any left unused for
// sourceCacheIdle (see expire). It is safe for concurrent use; a
// source is downloaded once even when several chunks ask for it together.
type sourceCache struct {
	dir string
	max int64
	log *slog.Logger

	mu      sync.Mutex
	entries map[string]*cacheEntry
	total   int64
}

type cacheEntry struct {
	path  string
	size  int64
	refs  int
	used  time.Time
	ready chan struct{} // closed when the download ended
	err   error
}

func newSourceCache(parent string, max int64, log *slog.Logger) (*sourceCache, error) {
	dir, err := os.MkdirTemp(parent, SourceCacheDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("source cache: %w", err)
	}
	return &sourceCache{dir: dir, max: max, log: log, entries: map[string]*cacheEntry{}}, nil
}

// get returns the local path of the source identified by key, calling
// fetch(ctx, path) to download it if it is not cached. release must be
// called when the caller no longer reads the file. A failed download is
// not cached.
func (c *sourceCache) get(ctx context.Context, key string, fetch func(ctx context.Context, path string) error) (path string, release func(), err error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	if !ok {
		e = &cacheEntry{path: filepath.Join(c.dir, sanitize(key)), ready: make(chan struct{})}
		c.entries[key] = e
		e.refs++
		c.mu.Unlock()
		e.err = fetch(ctx, e.path)
		c.mu.Lock()
		if e.err == nil {
			if fi, serr := os.Stat(e.path); serr == nil {
				e.size = fi.Size()
				c.total += e.size
			}
		} else {
			delete(c.entries, key)
			os.Remove(e.path)
		}
		close(e.ready)
	} else {
		e.refs++
		c.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			c.mu.Lock()
			e.refs--
			c.mu.Unlock()
			return "", nil, ctx.Err()
		}
		c.mu.Lock()
	}
	if e.err != nil {
		e.refs--
		err := e.err
		c.mu.Unlock()
		return "", nil, err
	}
	e.used = time.Now()
	c.evictLocked()
	c.mu.Unlock()
	var once sync.Once
	return e.path, func() {
		once.Do(func() {
			c.mu.Lock()
			e.refs--
			e.used = time.Now()
			c.evictLocked()
			c.mu.Unlock()
		})
	}, nil
}

// forget removes key's entry once nobody uses it (the video is complete).
func (c *sourceCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok && e.refs == 0 && isClosed(e.ready) {
		c.removeLocked(key, e)
	}
}

// expire removes the entries nobody has used for idle.
func (c *sourceCache) expire(idle time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for k, e := range c.entries {
		if e.refs == 0 && isClosed(e.ready) && now.Sub(e.used) > idle {
			c.removeLocked(k, e)
		}
	}
}

// evictLocked removes unused entries, least recently used first, while
// the total is over max.
func (c *sourceCache) evictLocked() {
	for c.total > c.max {
		var oldKey string
		var old *cacheEntry
		for k, e := range c.entries {
			if e.refs > 0 || !isClosed(e.ready) {
				continue
			}
			if old == nil || e.used.Before(old.used) {
				oldKey, old = k, e
			}
		}
		if old == nil {
			return
		}
		c.removeLocked(oldKey, old)
	}
}

func (c *sourceCache) removeLocked(key string, e *cacheEntry) {
	delete(c.entries, key)
	c.total -= e.size
	if err := os.Remove(e.path); err != nil && !os.IsNotExist(err) {
		c.log.Warn("source cache: remove", "path", e.path, "err", err)
	}
}

// close removes the cache directory.
func (c *sourceCache) close() error { return os.RemoveAll(c.dir) }

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// sanitize keeps a cache key's characters that are safe in a file name.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

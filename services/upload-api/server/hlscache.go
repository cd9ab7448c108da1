package server

import (
	"bytes"
	"container/list"
	"sync"
	"time"
)

// playlistCache keeps rewritten playlists per (video, path, expiry) until
// their expiry, least recently used first out when more than max bytes
// are held (max <= 0: no cache). Every presigned URL in a cached playlist
// is valid until the expiry of its key, so a cached copy is as good as a
// fresh one for every request signed with that expiry.
type playlistCache struct {
	mu    sync.Mutex
	max   int64
	size  int64
	order *list.List // front: most recently used
	byKey map[string]*list.Element
}

type playlistEntry struct {
	key     string
	body    []byte
	expires time.Time
}

func newPlaylistCache(max int64) *playlistCache {
	return &playlistCache{max: max, order: list.New(), byKey: map[string]*list.Element{}}
}

func playlistKey(id, path string, expires time.Time) string {
	return id + "\x00" + path + "\x00" + expires.UTC().Format(time.RFC3339)
}

// get returns the cached playlist of key, if any and not expired.
func (c *playlistCache) get(key string, now time.Time) ([]byte, bool) {
	if c == nil || c.max <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*playlistEntry)
	if !now.Before(e.expires) {
		c.remove(el)
		return nil, false
	}
	c.order.MoveToFront(el)
	return e.body, true
}

// put caches body under key until expires; a body larger than the whole
// cache is not kept.
func (c *playlistCache) put(key string, body []byte, expires time.Time, now time.Time) {
	if c == nil || c.max <= 0 || int64(len(body)) > c.max || !now.Before(expires) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.remove(el)
	}
	for c.size+int64(len(body)) > c.max {
		c.remove(c.order.Back())
	}
	c.byKey[key] = c.order.PushFront(&playlistEntry{key: key, body: body, expires: expires})
	c.size += int64(len(body))
}

func (c *playlistCache) remove(el *list.Element) {
	e := el.Value.(*playlistEntry)
	c.order.Remove(el)
	delete(c.byKey, e.key)
	c.size -= int64(len(e.body))
}

// stats returns the entries and bytes held.
func (c *playlistCache) stats() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byKey), c.size
}

// playlistFinal reports whether a playlist no longer changes: a media
// playlist with #EXT-X-ENDLIST or a master playlist. A growing media
// playlist (a video still being packaged) is never cached.
func playlistFinal(b []byte) bool {
	return bytes.Contains(b, []byte("#EXT-X-ENDLIST")) || bytes.Contains(b, []byte("#EXT-X-STREAM-INF"))
}

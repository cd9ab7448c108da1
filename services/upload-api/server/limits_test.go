package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// slowConn is a request whose body the client sends only when told to.
type slowConn struct {
	conn net.Conn
	resp chan *http.Response
}

// startRequest writes the request head and the first body bytes on a new
// connection and reads the answer in the background.
func (e *env) startRequest(tb testing.TB, head string, first []byte) *slowConn {
	tb.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, head); err != nil {
		tb.Fatal(err)
	}
	if _, err := conn.Write(first); err != nil {
		tb.Fatal(err)
	}
	s := &slowConn{conn: conn, resp: make(chan *http.Response, 1)}
	go func() {
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			close(s.resp)
			return
		}
		s.resp <- resp
	}()
	return s
}

// answer waits for the response and returns its status and error code.
func (s *slowConn) answer(tb testing.TB) (int, string, http.Header) {
	tb.Helper()
	select {
	case resp, ok := <-s.resp:
		if !ok {
			tb.Fatal("the connection closed without an answer")
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var eb errorBody
		_ = json.Unmarshal(b, &eb)
		return resp.StatusCode, eb.Error.Code, resp.Header
	case <-time.After(time.Minute):
		tb.Fatal("no answer within a minute")
	}
	return 0, "", nil
}

func multipartHead(token string, contentLength int) string {
	cl := "Transfer-Encoding: chunked\r\n"
	if contentLength >= 0 {
		cl = fmt.Sprintf("Content-Length: %d\r\n", contentLength)
	}
	return "POST /v1/videos HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer " + token + "\r\n" +
		"Content-Type: multipart/form-data; boundary=vidpipe-test-boundary\r\n" + cl + "\r\n"
}

func patchHead(token, id string, offset int64, contentLength int) string {
	return fmt.Sprintf("PATCH /v1/uploads/%s HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Upload-Offset: %d\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n", id, token, offset, contentLength)
}

func (e *env) usage(tb testing.TB, token string) usageResponse {
	tb.Helper()
	resp, body := e.do(tb, http.MethodGet, "/v1/usage", token, nil, nil)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET /v1/usage: %d %s", resp.StatusCode, body)
	}
	var u usageResponse
	if err := json.Unmarshal(body, &u); err != nil {
		tb.Fatalf("usage body %s: %v", body, err)
	}
	return u
}

func mustTooMany(tb testing.TB, what string, status int, code string, h http.Header, wantCode string) {
	tb.Helper()
	if status != http.StatusTooManyRequests || code != wantCode || h.Get("Retry-After") == "" {
		tb.Fatalf("%s: %d %q (Retry-After %q), want 429 %s with Retry-After", what, status, code, h.Get("Retry-After"), wantCode)
	}
}

// TestUploadConcurrencyCaps: uploads in progress (multipart and tus PATCH)
// are capped per user and per process with 429 and Retry-After; event
// streams likewise; a finished request gives its slot back.
func TestUploadConcurrencyCaps(t *testing.T) {
	e := mustEnv(t, withLimits(func(l *LimitOptions) {
		l.MaxUploads, l.MaxUploadsPerUser, l.MinUploadRate = 3, 2, -1
		l.MaxStreams, l.MaxStreamsPerUser = 2, 1
	}))
	clip := mustClip(t)
	_, body := multipartBody(t, formPart{name: "file", filename: "c.mp4", data: clip})
	inUse := func(want int) {
		t.Helper()
		mustEventually(t, "caps", 30*time.Second, func() error {
			if n, _ := e.Limits.uploads.inUse(""); n != want {
				return fmt.Errorf("%d uploads in progress, want %d", n, want)
			}
			return nil
		})
	}
	// Alice: one multipart and one tus PATCH in progress (her cap).
	a1 := e.startRequest(t, multipartHead(aliceToken, len(body)), body[:100])
	inUse(1)
	tusID := e.tusCreate(t, aliceToken, len(clip), nil)
	a2 := e.startRequest(t, patchHead(aliceToken, tusID, 0, len(clip)), clip[:100])
	inUse(2)
	if u := e.usage(t, aliceToken); u.UploadsInProgress != 2 || u.MaxConcurrentUploads == nil || *u.MaxConcurrentUploads != 2 {
		t.Fatalf("usage = %+v, want 2 uploads in progress of 2", u)
	}
	resp, b := e.upload(t, aliceToken, formPart{name: "file", filename: "c.mp4", data: clip})
	mustErrorCode(t, resp, b, http.StatusTooManyRequests, codeTooManyUploads)
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	resp, b = e.do(t, http.MethodPost, "/v1/uploads/", aliceToken, nil, map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "10"})
	mustTooMany(t, "tus create over alice's cap", resp.StatusCode, errCode(b), resp.Header, codeTooManyUploads)
	// Bob takes the last slot of the process; then even he is refused.
	b1 := e.startRequest(t, multipartHead(bobToken, len(body)), body[:100])
	inUse(3)
	resp, b = e.upload(t, bobToken, formPart{name: "file", filename: "c.mp4", data: clip})
	mustErrorCode(t, resp, b, http.StatusTooManyRequests, codeTooManyUploads)
	if !strings.Contains(errMessage(b), "server") {
		t.Errorf("process cap message %q does not name the server", errMessage(b))
	}
	// Finishing the bodies frees the slots.
	for _, s := range []struct {
		c    *slowConn
		rest []byte
		want int
	}{{a1, body[100:], http.StatusAccepted}, {a2, clip[100:], http.StatusNoContent}, {b1, body[100:], http.StatusAccepted}} {
		if _, err := s.c.conn.Write(s.rest); err != nil {
			t.Fatal(err)
		}
		if status, code, _ := s.c.answer(t); status != s.want {
			t.Fatalf("finished upload: %d %s, want %d", status, code, s.want)
		}
	}
	inUse(0)
	if resp, b := e.upload(t, aliceToken, formPart{name: "file", filename: "c.mp4", data: clip}); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload: %d %s", resp.StatusCode, b)
	}

	// Event streams: one per user, two in all.
	up := e.mustUploadedEvent(t, aliceToken, "streamed")
	e.apply(t, contract.TopicUploaded, 0, up)
	bobUp := e.mustUploadedEvent(t, bobToken, "streamed too")
	e.apply(t, contract.TopicUploaded, 1, bobUp)
	stream := func(token, id string) (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+"/v1/videos/"+id+"/events", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp, cancel
	}
	s1, c1 := stream(aliceToken, up.VideoID)
	defer c1()
	if s1.StatusCode != http.StatusOK {
		t.Fatalf("first stream: %d", s1.StatusCode)
	}
	s2, c2 := stream(aliceToken, up.VideoID)
	b, _ = io.ReadAll(s2.Body)
	c2()
	mustTooMany(t, "alice's second stream", s2.StatusCode, errCode(b), s2.Header, codeTooManyStreams)
	s3, c3 := stream(bobToken, bobUp.VideoID)
	defer c3()
	if s3.StatusCode != http.StatusOK {
		t.Fatalf("bob's stream: %d", s3.StatusCode)
	}
	c1()
	s1.Body.Close()
	mustEventually(t, "caps", 30*time.Second, func() error {
		if n, _ := e.Limits.streams.inUse(""); n != 1 {
			return fmt.Errorf("%d streams open, want 1", n)
		}
		return nil
	})
	s4, c4 := stream(aliceToken, up.VideoID)
	defer c4()
	if s4.StatusCode != http.StatusOK {
		t.Fatalf("alice's stream after closing the first: %d", s4.StatusCode)
	}
}

func errCode(b []byte) string {
	var eb errorBody
	_ = json.Unmarshal(b, &eb)
	return eb.Error.Code
}

func errMessage(b []byte) string {
	var eb errorBody
	_ = json.Unmarshal(b, &eb)
	return eb.Error.Message
}

// TestUploadQuota: the storage quota is checked from Content-Length and
// Upload-Length before any byte is stored, bounds a body without a length
// as it arrives, counts finished uploads until the projection has them and
// then their projected size, is released by termination, and is shown by
// GET /v1/usage.
func TestUploadQuota(t *testing.T) {
	clip := mustClip(t)
	size := int64(len(clip))
	quota := 2*size + size/2 // two clips fit, a third does not
	e := mustEnv(t, withLimits(func(l *LimitOptions) { l.QuotaBytes = quota }))

	u := e.usage(t, aliceToken)
	if u.UsedBytes != 0 || u.QuotaBytes == nil || *u.QuotaBytes != quota || u.AvailableBytes == nil || *u.AvailableBytes != quota {
		t.Fatalf("fresh usage = %+v", u)
	}
	resp, b := e.upload(t, aliceToken, formPart{name: "file", filename: "c.mp4", data: clip})
	first := mustAccepted(t, resp, b)
	// The API records an accepted upload in the projection at once; its
	// reservation then no longer counts (the size is counted once).
	u = e.usage(t, aliceToken)
	if u.UsedBytes != size || *u.AvailableBytes != quota-size {
		t.Fatalf("usage after one upload = %+v, want %d used", u, size)
	}
	up := e.mustUploadedEvent(t, bobToken, "bob's") // bob's usage is his own
	if bu := e.usage(t, bobToken); bu.UsedBytes != up.Source.Size {
		t.Fatalf("bob's usage = %+v", bu)
	}

	// tus: Upload-Length over what is left: 413 before anything exists.
	resp, b = e.do(t, http.MethodPost, "/v1/uploads/", aliceToken, nil, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": strconv.FormatInt(quota, 10)})
	if resp.StatusCode != http.StatusRequestEntityTooLarge || errCode(b) != codeQuotaExceeded {
		t.Fatalf("tus create over quota: %d %s", resp.StatusCode, b)
	}
	// A tus upload that fits reserves its length; terminating it releases it.
	id := e.tusCreate(t, aliceToken, int(size), nil)
	if u := e.usage(t, aliceToken); u.ReservedBytes != size {
		t.Fatalf("usage with a tus upload created = %+v, want %d reserved", u, size)
	}
	// Now a multipart upload of the clip no longer fits (Content-Length).
	resp, b = e.upload(t, aliceToken, formPart{name: "file", filename: "c.mp4", data: clip})
	mustErrorCode(t, resp, b, http.StatusRequestEntityTooLarge, codeQuotaExceeded)
	if resp, _ := e.do(t, http.MethodDelete, "/v1/uploads/"+id, aliceToken, nil, map[string]string{"Tus-Resumable": "1.0.0"}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("terminate: %d", resp.StatusCode)
	}
	if u := e.usage(t, aliceToken); u.ReservedBytes != 0 {
		t.Fatalf("usage after termination = %+v, want nothing reserved", u)
	}
	// A multipart body without a length is cut at what is left of the
	// quota, and nothing of it stays.
	_, big := multipartBody(t, formPart{name: "file", filename: "c.mp4", data: append(append(append([]byte{}, clip...), clip...), clip...)})
	var chunked bytes.Buffer
	fmt.Fprintf(&chunked, "%x\r\n%s\r\n0\r\n\r\n", len(big), big)
	c := e.startRequest(t, multipartHead(aliceToken, -1), chunked.Bytes())
	if status, code, _ := c.answer(t); status != http.StatusRequestEntityTooLarge || code != codeQuotaExceeded {
		t.Fatalf("chunked upload over quota: %d %s", status, code)
	}
	// A tus upload of the clip fits and completes.
	id = e.tusCreate(t, aliceToken, int(size), nil)
	if resp, b := e.tusPatch(t, aliceToken, id, 0, clip); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("tus PATCH: %d %s", resp.StatusCode, b)
	}
	mustEventually(t, "caps", 30*time.Second, func() error {
		keys := e.keys(t)
		for _, k := range keys {
			if strings.HasPrefix(k, "uploads/") && !strings.HasPrefix(k, contract.SourceKey(first.ID)) && !strings.HasPrefix(k, contract.SourceKey(id)) &&
				!strings.HasPrefix(k, contract.SourceKey(up.VideoID)) && !strings.Contains(k, ".info") && !strings.Contains(k, ".submitted") {
				return fmt.Errorf("left in the bucket: %s (all: %v)", k, keys)
			}
		}
		return nil
	})
	if u := e.usage(t, aliceToken); u.UsedBytes != 2*size || *u.AvailableBytes != quota-2*size {
		t.Fatalf("final usage = %+v, want %d", u, 2*size)
	}
}

// TestUploadMinimumRate: a body slower on average than the minimum rate
// after the grace period is dropped with 408 upload_too_slow (multipart and
// tus), even though it never stalls long enough for the idle timeout; and
// an event stream ends after its lifetime.
func TestUploadMinimumRate(t *testing.T) {
	e := mustEnv(t, withLimits(func(l *LimitOptions) {
		l.MinUploadRate, l.MinUploadRateGrace = 64<<10, 300*time.Millisecond
		l.StreamLifetime = 500 * time.Millisecond
	}))
	clip := mustClip(t)
	_, body := multipartBody(t, formPart{name: "file", filename: "c.mp4", data: clip})
	trickle := func(c *slowConn, rest []byte) {
		go func() {
			for i := 0; i < len(rest); i += 16 {
				if _, err := c.conn.Write(rest[i:min(i+16, len(rest))]); err != nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	c := e.startRequest(t, multipartHead(aliceToken, len(body)), body[:64])
	trickle(c, body[64:])
	if status, code, _ := c.answer(t); status != http.StatusRequestTimeout || code != codeUploadTooSlow {
		t.Fatalf("slow multipart upload: %d %s, want 408 %s", status, code, codeUploadTooSlow)
	}
	id := e.tusCreate(t, aliceToken, len(clip), nil)
	c = e.startRequest(t, patchHead(aliceToken, id, 0, len(clip)), clip[:64])
	trickle(c, clip[64:])
	if status, code, h := c.answer(t); status != http.StatusRequestTimeout || code != codeUploadTooSlow || h.Get("Tus-Resumable") == "" {
		t.Fatalf("slow tus PATCH: %d %s, want 408 %s", status, code, codeUploadTooSlow)
	}
	// A fast upload is fine.
	if resp, b := e.upload(t, aliceToken, formPart{name: "file", filename: "c.mp4", data: clip}); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload: %d %s", resp.StatusCode, b)
	}

	// Stream lifetime.
	up := e.mustUploadedEvent(t, aliceToken, "short stream")
	e.apply(t, contract.TopicUploaded, 0, up)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+"/v1/videos/"+up.VideoID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
	if el := time.Since(start); el > 30*time.Second {
		t.Fatalf("the stream lasted %s, past its 500ms lifetime", el)
	}
}

// TestHLSPlaylistCacheAndCap: a rewritten playlist is served from the cache
// for the same (video, path, expiry), and a playlist over the size cap is
// refused.
func TestHLSPlaylistCacheAndCap(t *testing.T) {
	e := mustEnv(t, withLimits(func(l *LimitOptions) { l.MaxPlaylistBytes = 1 << 10 }))
	f := e.mustReady(t, e.mustUploadedEvent(t, aliceToken, "cached"))
	resp, b := e.do(t, http.MethodGet, "/v1/videos/"+f.id, aliceToken, nil, nil)
	var v videoView
	if err := json.Unmarshal(b, &v); err != nil || resp.StatusCode != http.StatusOK || v.HLS == nil {
		t.Fatalf("video: %d %s", resp.StatusCode, b)
	}
	code, master := getURL(t, e.URL+v.HLS.MasterURL)
	if code != http.StatusOK {
		t.Fatalf("master: %d %s", code, master)
	}
	// The stored master changes (or goes away): the same signed URL still
	// gets the cached rewrite.
	e.put(t, contract.HLSMasterKey(f.id), []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nother/index.m3u8\n"), "application/vnd.apple.mpegurl")
	if code, again := getURL(t, e.URL+v.HLS.MasterURL); code != http.StatusOK || !bytes.Equal(again, master) {
		t.Fatalf("master again: %d %s, want the cached %s", code, again, master)
	}
	if n, _ := e.Limits.playlists.stats(); n != 1 {
		t.Fatalf("%d cached playlists, want 1", n)
	}
	// Over the size cap.
	big := "#EXTM3U\n#EXT-X-TARGETDURATION:2\n" + strings.Repeat("#EXTINF:2.000,\nseg_00000.ts\n", 64) + "#EXT-X-ENDLIST\n"
	e.put(t, contract.HLSPrefix(f.id)+"360p/index.m3u8", []byte(big), "application/vnd.apple.mpegurl")
	resp, b = e.do(t, http.MethodGet, hlsPath(f.id, "360p/index.m3u8"), aliceToken, nil, nil)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("playlist over the cap: %d %s, want 500", resp.StatusCode, b)
	}
}

// TestPlaylistCacheEviction: the cache holds at most its byte budget,
// least recently used out first, and never serves an expired entry.
func TestPlaylistCacheEviction(t *testing.T) {
	c := newPlaylistCache(10)
	now := time.Now()
	later := now.Add(time.Hour)
	c.put("a", []byte("aaaa"), later, now)
	c.put("b", []byte("bbbb"), later, now)
	if _, ok := c.get("a", now); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	c.put("c", []byte("cccc"), later, now) // evicts b
	if _, ok := c.get("b", now); ok {
		t.Fatal("b should have been evicted")
	}
	if n, size := c.stats(); n != 2 || size != 8 {
		t.Fatalf("stats %d entries %d bytes, want 2 and 8", n, size)
	}
	if _, ok := c.get("a", later); ok {
		t.Fatal("expired entry served")
	}
	c.put("huge", make([]byte, 11), later, now)
	if _, ok := c.get("huge", now); ok {
		t.Fatal("an entry larger than the cache was kept")
	}
}

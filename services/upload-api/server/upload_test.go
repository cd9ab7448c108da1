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
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

func TestUploadMultipart(t *testing.T) {
	e := mustEnv(t)
	clip := mustClip(t)
	resp, body := e.upload(t, aliceToken,
		formPart{name: "description", data: []byte("A test pattern.\nWith a tone.")},
		formPart{name: "tags", data: []byte(" test, pattern ,,Test, tone ")},
		formPart{name: "file", filename: "../../etc/My Clip.final.mp4", data: clip},
	)
	acc := mustAccepted(t, resp, body)
	if got, want := resp.Header.Get("Location"), "/v1/videos/"+acc.ID; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if acc.Links["self"] != "/v1/videos/"+acc.ID || acc.Links["events"] != "/v1/videos/"+acc.ID+"/events" {
		t.Errorf("links = %v", acc.Links)
	}

	// The object holds exactly the uploaded bytes, under a key built from the id only.
	got, info := e.object(t, contract.SourceKey(acc.ID))
	if !bytes.Equal(got, clip) {
		t.Fatalf("stored %d bytes, uploaded %d (or content differs)", len(got), len(clip))
	}
	if info.ContentType != "video/mp4" {
		t.Errorf("content type %q, want video/mp4", info.ContentType)
	}
	if keys := e.keys(t); len(keys) != 1 {
		t.Errorf("bucket holds %v, want only the source", keys)
	}

	// Exactly one video.uploaded record, key = id, CloudEvents headers.
	msgs := e.Kafka.ReadAll(t, contract.TopicUploaded, 1, 10*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d video.uploaded records, want 1", len(msgs))
	}
	m := msgs[0]
	if string(m.Key) != acc.ID {
		t.Errorf("key %q, want %q", m.Key, acc.ID)
	}
	for k, want := range map[string]string{
		contract.HeaderSpecVersion: "1.0",
		contract.HeaderType:        contract.TypeUploaded,
		contract.HeaderSource:      "/vidpipe/upload-api",
		contract.HeaderSubject:     acc.ID,
		contract.HeaderContentType: "application/json",
		contract.HeaderDataSchema:  contract.DataSchema(contract.TopicUploaded),
	} {
		if got := header(m, k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{contract.HeaderID, contract.HeaderTime, contract.HeaderTraceparent} {
		if header(m, k) == "" {
			t.Errorf("header %s missing", k)
		}
	}
	ev, err := contract.Decode[contract.VideoUploaded](m.Value)
	if err != nil {
		t.Fatalf("decode value: %v", err)
	}
	want := contract.Video{
		VideoID: acc.ID, Owner: "alice", Title: "My Clip.final", Description: "A test pattern.\nWith a tone.",
		Tags:   []string{"test", "pattern", "tone"},
		Source: contract.SourceObject{Bucket: e.Bucket, Key: contract.SourceKey(acc.ID), Size: int64(len(clip)), ContentType: "video/mp4", Filename: "My Clip.final.mp4"},
	}
	ev.UploadedAt = time.Time{}
	if fmt.Sprint(ev.Video) != fmt.Sprint(want) {
		t.Errorf("event video =\n%+v\nwant\n%+v", ev.Video, want)
	}

	// The status is readable at once, by its owner.
	resp, body = e.do(t, http.MethodGet, "/v1/videos/"+acc.ID, aliceToken, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET status %d: %s", resp.StatusCode, body)
	}
	var v videoView
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if v.Status != "uploaded" || v.Title != "My Clip.final" || v.Size != int64(len(clip)) {
		t.Errorf("GET = %s", body)
	}
}

func TestUploadFieldsAfterFileAndUnicode(t *testing.T) {
	e := mustEnv(t)
	clip := mustClip(t)
	title := "Katzen 🐈 — 猫の動画"
	resp, body := e.upload(t, bobToken,
		formPart{name: "file", filename: "x.mov", data: clip},
		formPart{name: "title", data: []byte("  " + title + "  ")},
	)
	acc := mustAccepted(t, resp, body)
	msgs := e.Kafka.ReadAll(t, contract.TopicUploaded, 1, 10*time.Second)
	ev, err := contract.Decode[contract.VideoUploaded](msgs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if ev.VideoID != acc.ID || ev.Title != title || ev.Owner != "bob" {
		t.Errorf("event: id %s title %q owner %q", ev.VideoID, ev.Title, ev.Owner)
	}
}

func TestUploadDefaultTitle(t *testing.T) {
	tests := map[string]struct{ filename, want string }{
		"extension stripped": {"holiday.mp4", "holiday"},
		"only extension":     {".mp4", "Untitled"},
		"no filename":        {"", "Untitled"},
		"path removed":       {`C:\Users\x\clip.webm`, "clip"},
		"control chars":      {"a\x01b.mkv", "ab"},
		"dots kept":          {"a.b.c.avi", "a.b.c"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := defaultTitle(cleanFilename(tc.filename)); got != tc.want {
				t.Errorf("defaultTitle(cleanFilename(%q)) = %q, want %q", tc.filename, got, tc.want)
			}
		})
	}
}

func TestParseTags(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    []string
		wantErr bool
	}{
		"empty":               {"", nil, false},
		"trimmed and deduped": {" a , b,A,, b ", []string{"a", "b"}, false},
		"unicode":             {"猫, chat", []string{"猫", "chat"}, false},
		"control char":        {"a\x07b", nil, true},
		"too long":            {strings.Repeat("x", contract.MaxTagLen+1), nil, true},
		"too many":            {strings.Repeat("t,", 0) + manyTags(contract.MaxTags+1), nil, true},
		"max tags":            {manyTags(contract.MaxTags), nil, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseTags(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseTags(%q) error = %v", tc.in, err)
			}
			if tc.want != nil && fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("parseTags(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func manyTags(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "t%d,", i)
	}
	return b.String()
}

func TestUploadRejected(t *testing.T) {
	e := mustEnv(t)
	clip := mustClip(t)
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 100)...)
	zip := append([]byte("PK\x03\x04\x14\x00\x00\x00"), make([]byte, 100)...)
	elf := append([]byte("\x7fELF\x02\x01\x01\x00"), make([]byte, 100)...)
	ct, good := multipartBody(t, formPart{name: "file", filename: "a.mp4", data: clip})

	tests := map[string]struct {
		token  string
		ctype  string
		body   []byte
		status int
		code   string
	}{
		"png renamed mp4":           {aliceToken, "", mp(t, formPart{name: "file", filename: "a.mp4", data: png}), 415, codeUnsupportedMedia},
		"zip renamed mp4":           {aliceToken, "", mp(t, formPart{name: "file", filename: "a.mp4", data: zip}), 415, codeUnsupportedMedia},
		"elf renamed mp4":           {aliceToken, "", mp(t, formPart{name: "file", filename: "a.mp4", data: elf}), 415, codeUnsupportedMedia},
		"missing file":              {aliceToken, "", mp(t, formPart{name: "title", data: []byte("t")}), 400, codeMissingFile},
		"empty file":                {aliceToken, "", mp(t, formPart{name: "file", filename: "a.mp4"}), 400, codeEmptyFile},
		"empty body":                {aliceToken, ct, nil, 400, codeMalformedMultipart},
		"truncated multipart":       {aliceToken, ct, good[:len(good)-200], 400, codeMalformedMultipart},
		"no boundary":               {aliceToken, "multipart/form-data", good, 400, codeMalformedMultipart},
		"wrong content type":        {aliceToken, "application/json", []byte(`{"file":"x"}`), 415, codeUnsupportedContent},
		"garbage multipart":         {aliceToken, ct, []byte("this is not multipart at all"), 400, codeMalformedMultipart},
		"unknown field":             {aliceToken, "", mp(t, formPart{name: "owner", data: []byte("bob")}, formPart{name: "file", filename: "a.mp4", data: clip}), 400, codeUnknownField},
		"duplicate title":           {aliceToken, "", mp(t, formPart{name: "title", data: []byte("a")}, formPart{name: "title", data: []byte("b")}), 400, codeInvalidField},
		"two files":                 {aliceToken, "", mp(t, formPart{name: "file", filename: "a.mp4", data: clip}, formPart{name: "file", filename: "b.mp4", data: clip}), 400, codeMalformedMultipart},
		"huge field":                {aliceToken, "", mp(t, formPart{name: "description", data: bytes.Repeat([]byte("x"), 40<<10)}, formPart{name: "file", filename: "a.mp4", data: clip}), 413, codeFieldTooLarge},
		"title after file too long": {aliceToken, "", mp(t, formPart{name: "file", filename: "a.mp4", data: clip}, formPart{name: "title", data: bytes.Repeat([]byte("x"), contract.MaxTitleLen+1)}), 400, codeInvalidField},
		"control char title":        {aliceToken, "", mp(t, formPart{name: "title", data: []byte("bad\x1b[31mtitle")}, formPart{name: "file", filename: "a.mp4", data: clip}), 400, codeInvalidField},
		"invalid utf8 title":        {aliceToken, "", mp(t, formPart{name: "title", data: []byte("bad\xff")}, formPart{name: "file", filename: "a.mp4", data: clip}), 400, codeInvalidField},
		"missing token":             {"", ct, good, 401, codeUnauthorized},
		"wrong token":               {"dev-mallory", ct, good, 401, codeUnauthorized},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctype := tc.ctype
			if ctype == "" {
				ctype = ct
			}
			resp, body := e.do(t, http.MethodPost, "/v1/videos", tc.token, bytes.NewReader(tc.body), map[string]string{"Content-Type": ctype})
			mustErrorCode(t, resp, body, tc.status, tc.code)
			if tc.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge: %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	// Nothing stored, nothing published: after one good upload, the topic
	// holds exactly its record.
	e.mustEmptyBucket(t)
	resp, body := e.upload(t, aliceToken, formPart{name: "file", filename: "a.mp4", data: clip})
	acc := mustAccepted(t, resp, body)
	msgs := e.Kafka.ReadAll(t, contract.TopicUploaded, 1, 10*time.Second)
	if len(msgs) != 1 || string(msgs[0].Key) != acc.ID {
		t.Fatalf("video.uploaded holds %d records, want only %s", len(msgs), acc.ID)
	}
}

// mp builds a multipart body (see multipartBody).
func mp(tb testing.TB, parts ...formPart) []byte {
	tb.Helper()
	_, body := multipartBody(tb, parts...)
	return body
}

func TestUploadTooLarge(t *testing.T) {
	// A limit above the part size, so the partial object is a real S3
	// multipart upload that must be aborted.
	const limit = 6 << 20
	e := mustEnv(t, withPartSize(5<<20), withOptions(func(o *Options) { o.MaxUploadBytes = limit }))
	clip := mustClip(t)
	big := append(append([]byte{}, clip...), make([]byte, 12<<20)...)

	t.Run("streamed body", func(t *testing.T) {
		ct, body := multipartBody(t, formPart{name: "file", filename: "big.mp4", data: big})
		// No Content-Length: the limit must trip while streaming.
		pr, pw := io.Pipe()
		go func() { _, _ = pw.Write(body); pw.Close() }()
		resp, rb := e.do(t, http.MethodPost, "/v1/videos", aliceToken, pr, map[string]string{"Content-Type": ct})
		mustErrorCode(t, resp, rb, 413, codeFileTooLarge)
	})
	t.Run("declared length", func(t *testing.T) {
		ct, body := multipartBody(t, formPart{name: "file", filename: "big.mp4", data: big})
		resp, rb := e.do(t, http.MethodPost, "/v1/videos", aliceToken, bytes.NewReader(body), map[string]string{"Content-Type": ct})
		mustErrorCode(t, resp, rb, 413, codeBodyTooLarge)
	})
	t.Run("just over the limit", func(t *testing.T) {
		over := append(append([]byte{}, clip...), make([]byte, limit+1-len(clip))...)
		ct, body := multipartBody(t, formPart{name: "file", filename: "over.mp4", data: over})
		resp, rb := e.do(t, http.MethodPost, "/v1/videos", aliceToken, bytes.NewReader(body), map[string]string{"Content-Type": ct})
		mustErrorCode(t, resp, rb, 413, codeFileTooLarge)
	})
	e.mustEmptyBucket(t)
	t.Run("at the limit", func(t *testing.T) {
		at := append(append([]byte{}, clip...), make([]byte, limit-len(clip))...)
		resp, rb := e.upload(t, aliceToken, formPart{name: "file", filename: "at.mp4", data: at})
		acc := mustAccepted(t, resp, rb)
		got, _ := e.object(t, contract.SourceKey(acc.ID))
		if !bytes.Equal(got, at) {
			t.Fatalf("stored %d bytes, want %d", len(got), len(at))
		}
	})
}

func TestUploadBrokerDown(t *testing.T) {
	e := mustEnv(t)
	clip := mustClip(t)
	e.Kafka.Stop(t)
	resp, body := e.upload(t, aliceToken, formPart{name: "file", filename: "a.mp4", data: clip})
	mustErrorCode(t, resp, body, http.StatusServiceUnavailable, codeBrokerUnavailable)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	e.mustEmptyBucket(t)
}

// TestUploadSlowHeaders checks that a client dribbling its headers is cut
// off by ReadHeaderTimeout (slow loris).
func TestUploadSlowHeaders(t *testing.T) {
	e := mustEnv(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /v1/videos HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	// Never finish the headers; the server (ReadHeaderTimeout 5s in tests)
	// must close the connection. Bounded by a generous read deadline.
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	buf := make([]byte, 1024)
	for {
		_, err := conn.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("server kept a connection with unfinished headers open for 60s")
		}
		return // closed by the server
	}
}

// TestUploadConcurrent runs many small uploads at once (bounded) and
// checks each got its own id and record.
func TestUploadConcurrent(t *testing.T) {
	const n = 24
	e := mustEnv(t, withLimits(func(l *LimitOptions) { l.MaxUploadsPerUser = n }))
	clip := mustClip(t)
	ids := make(chan string, n)
	errs := make(chan error, n)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := 0; i < n; i++ {
		go func() {
			ct, body := multipartBody(t, formPart{name: "file", filename: fmt.Sprintf("c%d.mp4", i), data: clip})
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.URL+"/v1/videos", bytes.NewReader(body))
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Authorization", "Bearer "+aliceToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var acc uploadResponse
			if resp.StatusCode != http.StatusAccepted || json.NewDecoder(resp.Body).Decode(&acc) != nil {
				errs <- fmt.Errorf("status %d", resp.StatusCode)
				return
			}
			ids <- acc.ID
		}()
	}
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		select {
		case id := <-ids:
			seen[id] = true
		case err := <-errs:
			t.Fatal(err)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct ids for %d uploads", len(seen), n)
	}
	msgs := e.Kafka.ReadAll(t, contract.TopicUploaded, n, 30*time.Second)
	if len(msgs) != n {
		t.Fatalf("%d records, want %d", len(msgs), n)
	}
	for _, m := range msgs {
		if !seen[string(m.Key)] {
			t.Errorf("record for unknown id %s", m.Key)
		}
	}
}

// rawRequest writes head and body on a fresh connection, then closes the
// write side after optional stall (a client that stops sending) and
// returns the status line the server answers with ("" if it just closed).
func (e *env) rawRequest(tb testing.TB, head string, body []byte, closeWrite bool) string {
	tb.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head); err != nil {
		tb.Fatal(err)
	}
	if _, err := conn.Write(body); err != nil {
		tb.Fatal(err)
	}
	if closeWrite {
		_ = conn.(*net.TCPConn).CloseWrite()
	}
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		tb.Fatal("no answer within 60s")
	}
	return strings.TrimSpace(line)
}

func TestUploadLyingOrStalledBody(t *testing.T) {
	e := mustEnv(t, withOptions(func(o *Options) { o.BodyIdleTimeout = 500 * time.Millisecond }))
	clip := mustClip(t)
	ct, body := multipartBody(t, formPart{name: "file", filename: "a.mp4", data: clip})
	head := func(length int) string {
		return fmt.Sprintf("POST /v1/videos HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
			aliceToken, ct, length)
	}
	tests := map[string]struct {
		head       string
		body       []byte
		closeWrite bool
		want       string
	}{
		// Declares more than it sends, then hangs up: truncated body.
		"content-length too large": {head(len(body) + 1000), body, true, "400"},
		// Declares less than it sends: the server reads only the declared
		// bytes, which end inside the file part.
		"content-length too small": {head(len(body) - 500), body, false, "400"},
		// Sends half and stalls without closing: the idle deadline fires.
		"stalled body": {head(len(body)), body[:len(body)/2], false, "408"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			line := e.rawRequest(t, tc.head, tc.body, tc.closeWrite)
			if line != "" && !strings.Contains(line, " "+tc.want+" ") {
				t.Fatalf("answer %q, want %s (or a closed connection)", line, tc.want)
			}
		})
	}
	e.mustEmptyBucket(t)
}

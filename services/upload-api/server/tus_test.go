package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
)

// tusMeta encodes an Upload-Metadata header.
func tusMeta(kv map[string]string) string {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(kv))
	for _, k := range keys {
		parts = append(parts, k+" "+base64.StdEncoding.EncodeToString([]byte(kv[k])))
	}
	return strings.Join(parts, ",")
}

// tusCreate creates an upload of length bytes and returns its id.
func (e *env) tusCreate(tb testing.TB, token string, length int, meta map[string]string) string {
	tb.Helper()
	resp, body := e.do(tb, http.MethodPost, "/v1/uploads/", token, nil, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": strconv.Itoa(length), "Upload-Metadata": tusMeta(meta),
	})
	if resp.StatusCode != http.StatusCreated {
		tb.Fatalf("tus create: status %d: %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || path.Dir(loc.Path) != "/v1/uploads" {
		tb.Fatalf("tus create: Location %q", resp.Header.Get("Location"))
	}
	id := path.Base(loc.Path)
	if !contract.IsUUID(id) {
		tb.Fatalf("tus upload id %q is not a video id", id)
	}
	return id
}

func (e *env) tusHead(tb testing.TB, token, id string) (*http.Response, int64) {
	tb.Helper()
	resp, _ := e.do(tb, http.MethodHead, "/v1/uploads/"+id, token, nil, map[string]string{"Tus-Resumable": "1.0.0"})
	off, _ := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	return resp, off
}

func (e *env) tusPatch(tb testing.TB, token, id string, offset int64, chunk []byte) (*http.Response, []byte) {
	tb.Helper()
	return e.do(tb, http.MethodPatch, "/v1/uploads/"+id, token, bytes.NewReader(chunk), map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Offset": strconv.FormatInt(offset, 10), "Content-Type": "application/offset+octet-stream",
	})
}

// interruptedPatch sends a PATCH announcing the rest of the file but
// closes the connection after sent bytes.
func (e *env) interruptedPatch(tb testing.TB, token, id string, offset int64, rest []byte, sent int) {
	tb.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		tb.Fatal(err)
	}
	fmt.Fprintf(conn, "PATCH /v1/uploads/%s HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Upload-Offset: %d\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n", id, token, offset, len(rest))
	if _, err := conn.Write(rest[:sent]); err != nil {
		tb.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the server read what was sent (not an assertion)
	conn.Close()
}

func TestTusResumeAfterInterruptedPatch(t *testing.T) {
	e := mustEnv(t)
	clip := mustClip(t)
	id := e.tusCreate(t, aliceToken, len(clip), map[string]string{
		"filename": "resumed.mp4", "title": "Resumed", "tags": "a,b,a", "filetype": "text/html", "owner": "bob",
	})

	resp, off := e.tusHead(t, aliceToken, id)
	if resp.StatusCode != http.StatusOK || off != 0 || resp.Header.Get("Upload-Length") != strconv.Itoa(len(clip)) {
		t.Fatalf("HEAD: status %d offset %d length %q", resp.StatusCode, off, resp.Header.Get("Upload-Length"))
	}
	// Someone else's upload is a 404, like a missing one.
	if resp, _ := e.tusHead(t, bobToken, id); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("bob HEAD alice's upload: status %d, want 404", resp.StatusCode)
	}
	if resp, _ := e.tusPatch(t, bobToken, id, 0, clip[:10]); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("bob PATCH alice's upload: status %d, want 404", resp.StatusCode)
	}

	resp, body := e.tusPatch(t, aliceToken, id, 0, clip[:1000])
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-Offset") != "1000" {
		t.Fatalf("PATCH: status %d offset %q: %s", resp.StatusCode, resp.Header.Get("Upload-Offset"), body)
	}

	// Interrupted PATCH: 3000 of the remaining bytes arrive, then the
	// connection drops. The server keeps what it got.
	e.interruptedPatch(t, aliceToken, id, 1000, clip[1000:], 3000)
	resp, off = e.tusHead(t, aliceToken, id)
	if resp.StatusCode != http.StatusOK || off < 1000 || off > 4000 {
		t.Fatalf("HEAD after interruption: status %d offset %d, want 1000..4000", resp.StatusCode, off)
	}
	t.Logf("resuming at offset %d", off)
	resp, body = e.tusPatch(t, aliceToken, id, off, clip[off:])
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(clip)) {
		t.Fatalf("final PATCH: status %d offset %q: %s", resp.StatusCode, resp.Header.Get("Upload-Offset"), body)
	}
	if got := resp.Header.Get("Location"); got != "/v1/videos/"+id {
		t.Errorf("final PATCH Location %q", got)
	}

	// The source is at the video's key with the uploaded bytes.
	got, info := e.object(t, contract.SourceKey(id))
	if !bytes.Equal(got, clip) {
		t.Fatalf("stored %d bytes, uploaded %d (or content differs)", len(got), len(clip))
	}
	_ = info
	// More HEADs and a repeated final PATCH publish nothing more.
	for i := 0; i < 2; i++ {
		if resp, off := e.tusHead(t, aliceToken, id); resp.StatusCode != http.StatusOK || off != int64(len(clip)) {
			t.Fatalf("HEAD after completion: status %d offset %d", resp.StatusCode, off)
		}
	}
	if resp, _ := e.tusPatch(t, aliceToken, id, int64(len(clip)), nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("repeated final PATCH: status %d", resp.StatusCode)
	}
	// A finished upload cannot be terminated: it is the video's source.
	resp, body = e.do(t, http.MethodDelete, "/v1/uploads/"+id, aliceToken, nil, map[string]string{"Tus-Resumable": "1.0.0"})
	mustErrorCode(t, resp, body, http.StatusConflict, codeConflict)

	// Exactly one video.uploaded for the upload: after a sentinel upload,
	// the topic holds two records.
	resp, body = e.upload(t, aliceToken, formPart{name: "file", filename: "s.mp4", data: clip})
	sentinel := mustAccepted(t, resp, body)
	msgs := e.Kafka.ReadAll(t, contract.TopicUploaded, 2, 10*time.Second)
	if len(msgs) != 2 {
		t.Fatalf("%d video.uploaded records, want 2 (tus + sentinel)", len(msgs))
	}
	var ev contract.VideoUploaded
	for _, m := range msgs {
		switch string(m.Key) {
		case id:
			var err error
			if ev, err = contract.Decode[contract.VideoUploaded](m.Value); err != nil {
				t.Fatal(err)
			}
			if header(m, contract.HeaderType) != contract.TypeUploaded || header(m, contract.HeaderTraceparent) == "" {
				t.Errorf("tus record headers %v", m.Headers)
			}
		case sentinel.ID:
		default:
			t.Fatalf("unexpected record key %s", m.Key)
		}
	}
	if ev.Owner != "alice" || ev.Title != "Resumed" || ev.Source.Filename != "resumed.mp4" ||
		ev.Source.ContentType != "video/mp4" || ev.Source.Size != int64(len(clip)) || fmt.Sprint(ev.Tags) != "[a b]" {
		t.Errorf("tus event %+v", ev.Video)
	}
	// The status is there at once.
	if resp, body := e.do(t, http.MethodGet, "/v1/videos/"+id, aliceToken, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET video: %d %s", resp.StatusCode, body)
	}
}

func TestTusTermination(t *testing.T) {
	e := mustEnv(t)
	clip := mustClip(t)
	id := e.tusCreate(t, aliceToken, len(clip), map[string]string{"filename": "x.mp4"})
	if resp, body := e.tusPatch(t, aliceToken, id, 0, clip[:2000]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	resp, body := e.do(t, http.MethodDelete, "/v1/uploads/"+id, bobToken, nil, map[string]string{"Tus-Resumable": "1.0.0"})
	mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)
	resp, body = e.do(t, http.MethodDelete, "/v1/uploads/"+id, aliceToken, nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.tusHead(t, aliceToken, id); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("HEAD after termination: %d, want 404", resp.StatusCode)
	}
	e.mustEmptyBucket(t)
}

func TestTusRejected(t *testing.T) {
	e := mustEnv(t, withOptions(func(o *Options) { o.MaxUploadBytes = 1 << 20 }))
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 6000)...)

	t.Run("not a video", func(t *testing.T) {
		id := e.tusCreate(t, aliceToken, len(png), map[string]string{"filename": "a.mp4"})
		resp, body := e.tusPatch(t, aliceToken, id, 0, png)
		mustErrorCode(t, resp, body, http.StatusUnsupportedMediaType, codeUnsupportedMedia)
		if resp, _ := e.tusHead(t, aliceToken, id); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("HEAD of a rejected upload: %d, want 404", resp.StatusCode)
		}
	})
	t.Run("not a video, creation with upload", func(t *testing.T) {
		resp, body := e.do(t, http.MethodPost, "/v1/uploads/", aliceToken, bytes.NewReader(png), map[string]string{
			"Tus-Resumable": "1.0.0", "Upload-Length": strconv.Itoa(len(png)), "Content-Type": "application/offset+octet-stream",
		})
		mustErrorCode(t, resp, body, http.StatusUnsupportedMediaType, codeUnsupportedMedia)
	})
	t.Run("too large", func(t *testing.T) {
		resp, _ := e.do(t, http.MethodPost, "/v1/uploads/", aliceToken, nil, map[string]string{
			"Tus-Resumable": "1.0.0", "Upload-Length": strconv.Itoa(2 << 20),
		})
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", resp.StatusCode)
		}
	})
	t.Run("bad metadata", func(t *testing.T) {
		resp, body := e.do(t, http.MethodPost, "/v1/uploads/", aliceToken, nil, map[string]string{
			"Tus-Resumable": "1.0.0", "Upload-Length": "100", "Upload-Metadata": tusMeta(map[string]string{"title": "a\x00b"}),
		})
		mustErrorCode(t, resp, body, http.StatusBadRequest, codeInvalidField)
	})
	t.Run("no token", func(t *testing.T) {
		resp, body := e.do(t, http.MethodPost, "/v1/uploads/", "", nil, map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "100"})
		mustErrorCode(t, resp, body, http.StatusUnauthorized, codeUnauthorized)
	})
	t.Run("unknown upload", func(t *testing.T) {
		resp, body := e.tusPatch(t, aliceToken, newVideoID(), 0, []byte("x"))
		mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)
		resp, body = e.tusPatch(t, aliceToken, "../../etc", 0, []byte("x"))
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("traversal id: %d %s", resp.StatusCode, body)
		}
	})
	e.mustEmptyBucket(t)
	// Kafka down: see TestTusBrokerDownKeepsUploadAndRecovers.
}

// TestTusJSClient uploads with the tus-js-client npm package under Node,
// unmodified, in several chunks.
func TestTusJSClient(t *testing.T) {
	node := harness.MustTool(t, "node")
	dir := mustTusJS(t)
	e := mustEnv(t)
	// Over two S3 parts (5 MiB minimum), sent in 2 MiB chunks.
	clip := mustClip(t)
	data := append(append([]byte{}, clip...), bytes.Repeat([]byte{0xAB}, 11<<20)...)
	file := filepath.Join(t.TempDir(), "from node.mp4")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(dir, "upload.js"), e.URL+"/v1/uploads/", aliceToken, file, strconv.Itoa(2<<20))
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node upload.js: %v\n%s", err, stderr.String())
	}
	u, err := url.Parse(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("upload URL %q: %v", out, err)
	}
	id := path.Base(u.Path)
	if !contract.IsUUID(id) || path.Dir(u.Path) != "/v1/uploads" {
		t.Fatalf("upload URL %q", out)
	}
	got, _ := e.object(t, contract.SourceKey(id))
	if !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes, uploaded %d (or content differs)", len(got), len(data))
	}
	msgs := e.Kafka.ReadAll(t, contract.TopicUploaded, 1, 10*time.Second)
	if len(msgs) != 1 || string(msgs[0].Key) != id {
		t.Fatalf("want one video.uploaded for %s, got %d records", id, len(msgs))
	}
	ev, err := contract.Decode[contract.VideoUploaded](msgs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Title != "tus-js-client upload" || ev.Source.Filename != "from node.mp4" || fmt.Sprint(ev.Tags) != "[tus node]" {
		t.Errorf("event %+v", ev.Video)
	}
}

// mustTusJS returns a directory holding testdata/tusjs with its
// node_modules installed by `npm ci` from the checked-in lockfile. The
// install is cached in the user cache dir, keyed by the lockfile's hash.
func mustTusJS(tb testing.TB) string {
	tb.Helper()
	npm := harness.MustTool(tb, "npm")
	src := filepath.Join("testdata", "tusjs")
	lock, err := os.ReadFile(filepath.Join(src, "package-lock.json"))
	if err != nil {
		tb.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(src, "upload.js"))
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(append(lock, script...))
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "vidpipe", "tusjs-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "tus-js-client", "package.json")); err == nil {
		return dir
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		tb.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "tusjs-install-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	for _, f := range []string{"package.json", "package-lock.json", "upload.js"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, f), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("npm ci of tus-js-client failed (this test needs Node and the npm registry; "+
			"check `npm ping` and proxy settings, or install by hand: cd %s && npm ci): %v\n%s", src, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "node_modules")); serr != nil {
			tb.Fatalf("install tus-js-client into %s: %v", dir, err)
		}
		// Another test process installed it first.
	}
	return dir
}

// TestTusRecoversUnpublishedUpload simulates a crash between the last
// byte and the publication: the upload is finished in storage without
// tusd's finish hook. The client's next HEAD publishes video.uploaded,
// once.
func TestTusRecoversUnpublishedUpload(t *testing.T) {
	e := mustEnv(t)
	clip := mustClip(t)
	id := e.tusCreate(t, aliceToken, len(clip), map[string]string{"title": "Recovered"})
	ctx := context.Background()
	up, err := e.Tus.Upload(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := up.WriteChunk(ctx, 0, bytes.NewReader(clip)); err != nil || n != int64(len(clip)) {
		t.Fatalf("WriteChunk: %d, %v", n, err)
	}
	if err := up.FinishUpload(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if resp, off := e.tusHead(t, aliceToken, id); resp.StatusCode != http.StatusOK || off != int64(len(clip)) {
			t.Fatalf("HEAD %d: status %d offset %d", i, resp.StatusCode, off)
		}
	}
	resp, body := e.upload(t, aliceToken, formPart{name: "file", filename: "s.mp4", data: clip})
	sentinel := mustAccepted(t, resp, body)
	msgs := e.Kafka.ReadAll(t, contract.TopicUploaded, 2, 10*time.Second)
	keys := map[string]int{}
	for _, m := range msgs {
		keys[string(m.Key)]++
	}
	if len(msgs) != 2 || keys[id] != 1 || keys[sentinel.ID] != 1 {
		t.Fatalf("records by key %v, want one for %s", keys, id)
	}
}

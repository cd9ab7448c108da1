package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/services/upload-api/tusupload"
)

// tinyMP4 is about the smallest body the API takes as a video: an ftyp
// box (sniffed as MP4) and an empty free box. The API does not decode
// media; the transcode stage rejects it later.
var tinyMP4 = []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2\x00\x00\x00\x08free")

// mustEventually polls check until it returns nil, failing the test with
// its last error after timeout (a bound, not a speed requirement).
func mustEventually(tb testing.TB, what string, timeout time.Duration, check func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: still not true after %v: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dirEntries lists the names in dir.
func dirEntries(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

func emptyDir(dir string) error {
	names, err := dirEntries(dir)
	if err != nil {
		return err
	}
	if len(names) > 0 {
		return fmt.Errorf("%s holds %v", dir, names)
	}
	return nil
}

// bucketEmpty is mustEmptyBucket as an error, for polling.
func (e *env) bucketEmpty(tb testing.TB) error {
	if keys := e.keys(tb); len(keys) != 0 {
		return fmt.Errorf("bucket holds %v", keys)
	}
	for up := range e.MinIO.Client(tb).ListIncompleteUploads(tb.Context(), e.Bucket, "", true) {
		if up.Err != nil {
			return up.Err
		}
		return fmt.Errorf("unfinished multipart upload of %s", up.Key)
	}
	return nil
}

// TestUploadThousandConcurrent sends 1 000 small uploads, at most 50 at a
// time. Each answer is a 202 or a 503 with Retry-After (nothing else is
// right for a valid upload); each 202 has exactly one video.uploaded
// record and one source object, and nothing else is left in the bucket
// or on the topic; the server then still serves.
func TestUploadThousandConcurrent(t *testing.T) {
	const total, inFlight = 1000, 50
	e := mustEnv(t, withLimits(func(l *LimitOptions) { l.MaxUploadsPerUser = inFlight }))
	ct, body := multipartBody(t, formPart{name: "title", data: []byte("burst")}, formPart{name: "file", filename: "tiny.mp4", data: tinyMP4})
	transport := &http.Transport{MaxIdleConnsPerHost: inFlight, MaxConnsPerHost: inFlight}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 2 * time.Minute}

	type answer struct {
		status     int
		id, code   string
		retryAfter string
		err        error
	}
	post := func() answer {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.URL+"/v1/videos", bytes.NewReader(body))
		if err != nil {
			return answer{err: err}
		}
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		resp, err := client.Do(req)
		if err != nil {
			return answer{err: err}
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return answer{err: err}
		}
		a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
		if resp.StatusCode == http.StatusAccepted {
			var acc uploadResponse
			a.err = json.Unmarshal(b, &acc)
			a.id = acc.ID
		} else {
			var eb errorBody
			a.err = json.Unmarshal(b, &eb)
			a.code = eb.Error.Code
		}
		if a.err != nil {
			a.err = fmt.Errorf("status %d with body %q: %w", resp.StatusCode, b, a.err)
		}
		return a
	}
	answers := make([]answer, total)
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	for i := range total {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			answers[i] = post()
		})
	}
	wg.Wait()

	accepted := map[string]bool{}
	byStatus := map[string]int{}
	for i, a := range answers {
		byStatus[fmt.Sprintf("%d %s", a.status, a.code)]++
		switch {
		case a.err != nil:
			t.Errorf("upload %d: %v", i, a.err)
		case a.status == http.StatusAccepted:
			if !contract.IsUUID(a.id) || accepted[a.id] {
				t.Errorf("upload %d: bad or repeated id %q", i, a.id)
			}
			accepted[a.id] = true
		case a.status == http.StatusServiceUnavailable && a.retryAfter != "" &&
			(a.code == codeBrokerUnavailable || a.code == codeStorageUnavailable):
		default:
			t.Errorf("upload %d: status %d code %q (Retry-After %q): want 202 or 503 with Retry-After", i, a.status, a.code, a.retryAfter)
		}
	}
	t.Logf("answers: %v", byStatus)
	if len(accepted) == 0 {
		t.Fatal("no upload accepted")
	}
	if t.Failed() {
		t.FailNow()
	}

	perKey := map[string]int{}
	for _, m := range e.Kafka.ReadAll(t, contract.TopicUploaded, len(accepted), 2*time.Minute) {
		perKey[string(m.Key)]++
	}
	for id := range accepted {
		if perKey[id] != 1 {
			t.Errorf("accepted video %s has %d video.uploaded records, want 1", id, perKey[id])
		}
	}
	for k, n := range perKey {
		if !accepted[k] {
			t.Errorf("%d video.uploaded records for %q, which was not accepted", n, k)
		}
	}

	var want []string
	for id := range accepted {
		want = append(want, contract.SourceKey(id))
	}
	sort.Strings(want)
	if got := e.keys(t); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("bucket holds %d objects, want the %d accepted sources", len(got), len(want))
	}
	for up := range e.MinIO.Client(t).ListIncompleteUploads(t.Context(), e.Bucket, "", true) {
		t.Errorf("unfinished multipart upload left: %s (%v)", up.Key, up.Err)
	}

	// Still serving.
	if resp, b := e.do(t, http.MethodGet, "/healthz", "", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz after the burst: %d %s", resp.StatusCode, b)
	}
	resp, b := e.upload(t, bobToken, formPart{name: "file", filename: "after.mp4", data: tinyMP4})
	mustAccepted(t, resp, b)
}

// rawConn opens a connection to the API and writes head.
func (e *env) rawConn(tb testing.TB, head string) net.Conn {
	tb.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, head); err != nil {
		tb.Fatal(err)
	}
	return conn
}

// tusDelete terminates upload id, retrying while an aborted PATCH still
// holds its lock.
func (e *env) tusDelete(tb testing.TB, token, id string) {
	tb.Helper()
	mustEventually(tb, "DELETE "+id, time.Minute, func() error {
		resp, body := e.do(tb, http.MethodDelete, "/v1/uploads/"+id, token, nil, map[string]string{"Tus-Resumable": "1.0.0"})
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		return nil
	})
}

// TestHostileUploadsLeaveNothingBehind sends uploads that fail in the
// middle through both protocols, with the process temp dir (TMPDIR) and
// the tus part buffer dir watched: afterwards both are empty, and the
// bucket holds no object and no unfinished multipart upload.
func TestHostileUploadsLeaveNothingBehind(t *testing.T) {
	const part = 5 << 20 // the S3 minimum, so 12 MiB bodies span parts
	e := mustEnv(t, withPartSize(part), withOptions(func(o *Options) {
		o.MaxUploadBytes = 20 << 20
		o.BodyIdleTimeout = 3 * time.Second
	}))
	clip := mustClip(t) // before TMPDIR moves: it is generated under the OS temp dir
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	big := func(head []byte) []byte {
		b := make([]byte, 12<<20)
		copy(b, head)
		return b
	}
	mp4 := big(clip)
	png := big([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	multipartHead := func(ct string, length int) string {
		return fmt.Sprintf("POST /v1/videos HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
			aliceToken, ct, length)
	}
	patchHead := func(id string, length int) string {
		return fmt.Sprintf("PATCH /v1/uploads/%s HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"+
			"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n", id, aliceToken, length)
	}

	t.Run("multipart client gone mid-file", func(t *testing.T) {
		ct, body := multipartBody(t, formPart{name: "file", filename: "gone.mp4", data: mp4})
		conn := e.rawConn(t, multipartHead(ct, len(body)))
		if _, err := conn.Write(body[:8<<20]); err != nil {
			t.Fatal(err)
		}
		conn.Close()
	})
	t.Run("multipart stalled mid-file", func(t *testing.T) {
		ct, body := multipartBody(t, formPart{name: "file", filename: "stalled.mp4", data: mp4})
		conn := e.rawConn(t, multipartHead(ct, len(body)))
		if _, err := conn.Write(body[:7<<20]); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
		line, _ := readStatusLine(conn)
		if line != "" && !strings.Contains(line, " 408 ") {
			t.Fatalf("answer %q, want 408 (or a closed connection)", line)
		}
	})
	t.Run("multipart over the limit", func(t *testing.T) {
		over := append(append([]byte{}, mp4...), make([]byte, 9<<20)...)
		ct, body := multipartBody(t, formPart{name: "file", filename: "over.mp4", data: over})
		pr, pw := io.Pipe()
		go func() { _, _ = pw.Write(body); pw.Close() }()
		resp, rb := e.do(t, http.MethodPost, "/v1/videos", aliceToken, pr, map[string]string{"Content-Type": ct})
		mustErrorCode(t, resp, rb, http.StatusRequestEntityTooLarge, codeFileTooLarge)
	})
	t.Run("tus stalled PATCH buffers on disk, then cleans up", func(t *testing.T) {
		id := e.tusCreate(t, aliceToken, len(mp4), map[string]string{"filename": "stalled.mp4"})
		conn := e.rawConn(t, patchHead(id, len(mp4)))
		if _, err := conn.Write(mp4[:part+(1<<20)]); err != nil {
			t.Fatal(err)
		}
		// While the PATCH stalls, tus buffers the open part in its temp
		// dir: the checks below watch a directory that is really used.
		mustEventually(t, "a part buffer in the tus temp dir", 30*time.Second, func() error {
			names, err := dirEntries(e.TusTempDir)
			if err != nil || len(names) == 0 {
				return fmt.Errorf("no file yet (%v)", err)
			}
			// tusupload.SweepTemp finds tusd's leftovers by this prefix.
			for _, n := range names {
				if !strings.HasPrefix(n, tusupload.TempPrefix) {
					t.Errorf("tus temp dir holds %q, want the prefix %q (tusupload.SweepTemp would miss it)", n, tusupload.TempPrefix)
				}
			}
			return nil
		})
		conn.Close()
		e.tusDelete(t, aliceToken, id)
	})
	t.Run("tus client gone mid-PATCH", func(t *testing.T) {
		id := e.tusCreate(t, aliceToken, len(mp4), nil)
		e.interruptedPatch(t, aliceToken, id, 0, mp4, 7<<20)
		e.tusDelete(t, aliceToken, id)
	})
	t.Run("tus not a video", func(t *testing.T) {
		id := e.tusCreate(t, aliceToken, len(png), map[string]string{"filename": "a.mp4"})
		resp, body := e.tusPatch(t, aliceToken, id, 0, png)
		mustErrorCode(t, resp, body, http.StatusUnsupportedMediaType, codeUnsupportedMedia)
	})

	mustEventually(t, "bucket empty", time.Minute, func() error { return e.bucketEmpty(t) })
	mustEventually(t, "TMPDIR empty", time.Minute, func() error { return emptyDir(tmp) })
	mustEventually(t, "tus temp dir empty", time.Minute, func() error { return emptyDir(e.TusTempDir) })
	if resp, body := e.upload(t, aliceToken, formPart{name: "file", filename: "ok.mp4", data: clip}); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("an ordinary upload after the hostile ones: %d %s", resp.StatusCode, body)
	}
}

// readStatusLine reads the first line of an HTTP answer ("" when the
// server closed the connection first).
func readStatusLine(conn net.Conn) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for {
		n, err := conn.Read(one)
		if n == 1 {
			if one[0] == '\n' {
				return strings.TrimSpace(string(b)), nil
			}
			b = append(b, one[0])
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return "", err
			}
			return strings.TrimSpace(string(b)), nil
		}
	}
}

// TestProtectedRoutesRefuseBadCredentials sends every route that needs a
// token a set of bad Authorization headers: each answer is a 401 with a
// Bearer challenge (and the JSON error body, except for HEAD).
func TestProtectedRoutesRefuseBadCredentials(t *testing.T) {
	e := mustEnv(t)
	upload := e.tusCreate(t, aliceToken, 100, nil)
	video := newVideoID()
	tusHeaders := map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "100", "Upload-Offset": "0",
		"Content-Type": "application/offset+octet-stream"}
	routes := map[string]struct {
		method, path string
		header       map[string]string
	}{
		"upload":        {http.MethodPost, "/v1/videos", map[string]string{"Content-Type": "multipart/form-data; boundary=x"}},
		"search":        {http.MethodGet, "/v1/videos?q=x", nil},
		"status":        {http.MethodGet, "/v1/videos/" + video, nil},
		"event stream":  {http.MethodGet, "/v1/videos/" + video + "/events", nil},
		"playlist":      {http.MethodGet, hlsPath(video, "master.m3u8"), nil},
		"tus create":    {http.MethodPost, "/v1/uploads/", tusHeaders},
		"tus head":      {http.MethodHead, "/v1/uploads/" + upload, tusHeaders},
		"tus patch":     {http.MethodPatch, "/v1/uploads/" + upload, tusHeaders},
		"tus terminate": {http.MethodDelete, "/v1/uploads/" + upload, tusHeaders},
	}
	credentials := map[string]string{
		"missing":                  "",
		"bearer without token":     "Bearer",
		"bearer with blank token":  "Bearer   ",
		"wrong token, same length": "Bearer dev-alicf",
		"prefix of a token":        "Bearer dev-ali",
		"token plus a suffix":      "Bearer dev-alice2",
		"two tokens":               "Bearer dev-alice dev-bob",
		"user name as token":       "Bearer alice",
		"no scheme":                aliceToken,
		"basic scheme":             "Basic ZGV2LWFsaWNlOg==",
		"other scheme":             "Token " + aliceToken,
	}
	for route, r := range routes {
		for name, cred := range credentials {
			t.Run(route+"/"+name, func(t *testing.T) {
				req, err := http.NewRequest(r.method, e.URL+r.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range r.header {
					req.Header.Set(k, v)
				}
				if cred != "" {
					req.Header.Set("Authorization", cred)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("no Bearer challenge: %q", resp.Header.Get("WWW-Authenticate"))
				}
				if r.method == http.MethodHead {
					if resp.StatusCode != http.StatusUnauthorized {
						t.Fatalf("status %d, want 401", resp.StatusCode)
					}
					return
				}
				mustErrorCode(t, resp, body, http.StatusUnauthorized, codeUnauthorized)
			})
		}
	}
	// The upload survived every attempt.
	if resp, _ := e.tusHead(t, aliceToken, upload); resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD of the upload by its owner: %d", resp.StatusCode)
	}
}

// TestTusUploadOfAnotherUser checks that another user's token reaches
// nothing of an upload: HEAD, PATCH and DELETE answer 404 as for an
// unknown upload, and the upload is unharmed.
func TestTusUploadOfAnotherUser(t *testing.T) {
	e := mustEnv(t)
	clip := mustClip(t)
	id := e.tusCreate(t, aliceToken, len(clip), nil)
	if resp, _ := e.tusPatch(t, aliceToken, id, 0, clip[:1000]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("alice's first PATCH: %d", resp.StatusCode)
	}
	_, unknown := e.do(t, http.MethodDelete, "/v1/uploads/"+newVideoID(), bobToken, nil, map[string]string{"Tus-Resumable": "1.0.0"})
	if resp, _ := e.tusHead(t, bobToken, id); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob's HEAD: %d, want 404", resp.StatusCode)
	}
	resp, body := e.tusPatch(t, bobToken, id, 1000, clip[1000:])
	mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)
	resp, body = e.do(t, http.MethodDelete, "/v1/uploads/"+id, bobToken, nil, map[string]string{"Tus-Resumable": "1.0.0"})
	mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)
	if !bytes.Equal(body, unknown) {
		t.Errorf("bob's DELETE of alice's upload answers %q, of an unknown one %q", body, unknown)
	}
	resp, off := e.tusHead(t, aliceToken, id)
	if resp.StatusCode != http.StatusOK || off != 1000 {
		t.Fatalf("alice's HEAD: %d at offset %d, want 200 at 1000", resp.StatusCode, off)
	}
	if resp, body := e.tusPatch(t, aliceToken, id, 1000, clip[1000:]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("alice's last PATCH: %d %s", resp.StatusCode, body)
	}
	msgs := e.Kafka.ReadAll(t, contract.TopicUploaded, 1, 30*time.Second)
	if len(msgs) != 1 || string(msgs[0].Key) != id {
		t.Fatalf("video.uploaded holds %d records, want one for %s", len(msgs), id)
	}
}

// hasControl reports whether s holds a control character.
func hasControl(s string) bool { return strings.IndexFunc(s, unicode.IsControl) >= 0 }

// TestControlCharactersInNamesAndFields checks each text a client sends:
// control characters in a title, description or tag are refused with 400
// invalid_field (multipart and tus); in a file name (display only) they
// are removed, whatever the encoding (RFC 2231 filename*, tus base64).
func TestControlCharactersInNamesAndFields(t *testing.T) {
	e := mustEnv(t)
	clip := mustClip(t)

	refused := map[string]formPart{
		"escape in title":       {name: "title", data: []byte("a\x1b]0;pwned\x07b")},
		"NUL in title":          {name: "title", data: []byte("a\x00b")},
		"C1 control in title":   {name: "title", data: []byte("a\u0085\u009bb")},
		"DEL in tag":            {name: "tags", data: []byte("ok, a\x7fb")},
		"NUL in description":    {name: "description", data: []byte("line\x00")},
		"escape in description": {name: "description", data: []byte("line\n\x1b[2J")},
	}
	for name, p := range refused {
		t.Run("multipart "+name, func(t *testing.T) {
			resp, body := e.upload(t, aliceToken, p, formPart{name: "file", filename: "a.mp4", data: clip})
			mustErrorCode(t, resp, body, http.StatusBadRequest, codeInvalidField)
		})
		t.Run("tus "+name, func(t *testing.T) {
			resp, body := e.do(t, http.MethodPost, "/v1/uploads/", aliceToken, nil, map[string]string{
				"Tus-Resumable": "1.0.0", "Upload-Length": strconv.Itoa(len(clip)),
				"Upload-Metadata": tusMeta(map[string]string{p.name: string(p.data)}),
			})
			mustErrorCode(t, resp, body, http.StatusBadRequest, codeInvalidField)
		})
	}
	e.mustEmptyBucket(t)

	// File names: multipart with an RFC 2231 encoded name, tus in base64.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename*=UTF-8''..%2F..%2Fevil%0D%0AX-Injected%3A%201%1B%5B31m%00.mp4`)
	w, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(clip)
	_ = mw.Close()
	resp, body := e.do(t, http.MethodPost, "/v1/videos", aliceToken, &mp, map[string]string{"Content-Type": mw.FormDataContentType()})
	multipartID := mustAccepted(t, resp, body).ID

	id := e.tusCreate(t, aliceToken, len(clip), map[string]string{"filename": "..\\..\\tus\r\nname\x1b[0m\x00.mov"})
	if resp, body := e.tusPatch(t, aliceToken, id, 0, clip); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("tus PATCH: %d %s", resp.StatusCode, body)
	}

	want := map[string]string{multipartID: "evilX-Injected: 1[31m.mp4", id: "tusname[0m.mov"}
	for _, m := range e.Kafka.ReadAll(t, contract.TopicUploaded, 2, 30*time.Second) {
		ev, err := contract.Decode[contract.VideoUploaded](m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Source.Filename != want[ev.VideoID] {
			t.Errorf("video %s: filename %q, want %q", ev.VideoID, ev.Source.Filename, want[ev.VideoID])
		}
		if hasControl(ev.Title) || hasControl(ev.Source.Filename) {
			t.Errorf("video %s: control character in title %q or filename %q", ev.VideoID, ev.Title, ev.Source.Filename)
		}
		resp, body := e.do(t, http.MethodGet, "/v1/videos/"+ev.VideoID, aliceToken, nil, nil)
		var v videoView
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &v) != nil || v.Filename != want[ev.VideoID] {
			t.Errorf("GET %s: %d %s", ev.VideoID, resp.StatusCode, body)
		}
	}
}

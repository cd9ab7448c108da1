package server

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"strings"
	"testing"
	"time"
)

// abortPart is the part size of the abort tests: the smallest S3 takes,
// so that a few parts are on their way when the upload fails.
const abortPart = 5 << 20

// multipartFraming returns the start of a multipart body whose file part
// begins with head: the framing before the file's bytes, the closing
// framing, and the content type.
func multipartFraming(tb testing.TB, head []byte) (start, end []byte, contentType string) {
	tb.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("title", "Abort"); err != nil {
		tb.Fatal(err)
	}
	if _, err := mw.CreateFormFile("file", "abort.mp4"); err != nil {
		tb.Fatal(err)
	}
	buf.Write(head)
	start = bytes.Clone(buf.Bytes())
	buf.Reset()
	if err := mw.Close(); err != nil {
		tb.Fatal(err)
	}
	return start, bytes.Clone(buf.Bytes()), mw.FormDataContentType()
}

// uploadsInProgress is the upload cap's count, for polling.
func (e *env) uploadsInProgress() error {
	if n, _ := e.Limits.uploads.inUse(""); n != 0 {
		return fmt.Errorf("%d uploads in progress", n)
	}
	return nil
}

// TestUploadFailingMidStreamLeavesNothing fails multipart uploads after
// several S3 parts were sent (or were on their way): the client hangs up,
// the body ends before its declared length, the file outgrows the size
// limit or the quota. Each time nothing stays in the bucket: no object and
// no unfinished S3 multipart upload, also when the client's going away
// cancelled the request's context (the abort must not use it).
func TestUploadFailingMidStreamLeavesNothing(t *testing.T) {
	const fileBytes = 3*abortPart - 10_000 // under the size limit
	e := mustEnv(t, withPartSize(abortPart),
		withOptions(func(o *Options) { o.MaxUploadBytes = 3 * abortPart }),
		withLimits(func(l *LimitOptions) { l.QuotaBytes = 100 << 20 }))
	start, end, ct := multipartFraming(t, mustClip(t)[:4096])
	filler := bytes.Repeat([]byte("vidpipe!"), 64<<10) // 512 KiB
	tests := map[string]struct {
		// declared is the Content-Length; sent is how many file bytes go
		// out before the client closes (hangUp) or half-closes.
		declared int64
		sent     int64
		hangUp   bool
		want     string // status in the answer; "" = the connection is gone
		setup    func(t *testing.T)
	}{
		"client hangs up":      {declared: int64(len(start)) + fileBytes + int64(len(end)), sent: 2*abortPart + 100, hangUp: true},
		"body shorter":         {declared: int64(len(start)) + fileBytes + int64(len(end)), sent: 2*abortPart + 100, want: "400"},
		"file over size limit": {declared: -1, sent: 3*abortPart + 1, want: "413"},
		"file over quota": {declared: -1, sent: 2*abortPart + 1, want: "413", setup: func(t *testing.T) {
			// Another upload in progress holds 95 MiB of bob's 100 MiB.
			if _, err := e.Limits.reserve(t.Context(), "bob", "00000000-0000-4000-8000-000000000001", 95<<20, 95<<20); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			token := aliceToken
			if tt.setup != nil {
				tt.setup(t)
				token = bobToken
			}
			conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			head := fmt.Sprintf("POST /v1/videos HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\n", token, ct)
			if tt.declared >= 0 {
				head += fmt.Sprintf("Content-Length: %d\r\n\r\n", tt.declared)
			} else {
				head += "Transfer-Encoding: chunked\r\n\r\n"
			}
			w := io.Writer(conn)
			var chunked *chunkWriter
			if tt.declared < 0 {
				chunked = &chunkWriter{w: conn}
				w = chunked
			}
			if _, err := io.WriteString(conn, head); err != nil {
				t.Fatal(err)
			}
			writeErr := func() error {
				if _, err := w.Write(start); err != nil {
					return err
				}
				for left := tt.sent - 4096; left > 0; {
					n := min(left, int64(len(filler)))
					if _, err := w.Write(filler[:n]); err != nil {
						return err
					}
					left -= n
				}
				return nil
			}()
			if tt.hangUp {
				// Let the server read what was sent and start its parts.
				mustEventually(t, "the parts reach storage", time.Minute, func() error {
					for up := range e.MinIO.Client(t).ListIncompleteUploads(t.Context(), e.Bucket, "", true) {
						if up.Err == nil {
							return nil
						}
					}
					return fmt.Errorf("no multipart upload started yet")
				})
				_ = conn.(*net.TCPConn).SetLinger(0) // a reset, like a killed client
				_ = conn.Close()
			} else if tt.want != "" {
				if writeErr == nil && tt.declared >= 0 {
					_ = conn.(*net.TCPConn).CloseWrite()
				}
				_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
				b := make([]byte, 64)
				n, _ := io.ReadAtLeast(conn, b, 12)
				if line := string(b[:n]); !strings.HasPrefix(line, "HTTP/1.1 "+tt.want) {
					t.Errorf("answer %q, want %s (write error: %v)", line, tt.want, writeErr)
				}
			}
			mustEventually(t, "the upload ends", time.Minute, e.uploadsInProgress)
			e.mustEmptyBucket(t)
		})
	}
}

// chunkWriter writes HTTP/1.1 chunks.
type chunkWriter struct{ w io.Writer }

func (c *chunkWriter) Write(p []byte) (int, error) {
	if _, err := fmt.Fprintf(c.w, "%x\r\n", len(p)); err != nil {
		return 0, err
	}
	if _, err := c.w.Write(p); err != nil {
		return 0, err
	}
	_, err := io.WriteString(c.w, "\r\n")
	return len(p), err
}

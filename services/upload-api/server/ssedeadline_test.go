package server

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// A client that stops reading its event stream is dropped once a write
// cannot finish within api.sse_write_timeout, and its stream slot is freed
// (it would otherwise hold the slot until the stream's maximum lifetime).
// The heartbeat runs every millisecond and both socket buffers are small,
// so that they fill within seconds.
func TestSSEStalledReaderIsDropped(t *testing.T) {
	e := mustEnv(t, withOptions(func(o *Options) { o.SSEHeartbeat = time.Millisecond }), withSendBuffer(4096),
		withLimits(func(l *LimitOptions) {
			l.MaxStreamsPerUser = 1
			l.StreamWriteTimeout = 200 * time.Millisecond
			l.StreamLifetime = time.Hour
		}))
	up := e.mustUploadedEvent(t, aliceToken, "stalled reader")
	e.apply(t, contract.TopicUploaded, 0, up)

	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
		})
		return errors.Join(err, serr)
	}}
	host := strings.TrimPrefix(e.URL, "http://")
	conn, err := d.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The request, then never a read.
	if _, err := fmt.Fprintf(conn, "GET /v1/videos/%s/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n",
		up.VideoID, host, aliceToken); err != nil {
		t.Fatal(err)
	}
	mustEventually(t, "stream open", 30*time.Second, func() error {
		if n, _ := e.Limits.streams.inUse(""); n != 1 {
			return fmt.Errorf("%d streams open, want 1", n)
		}
		return nil
	})
	mustEventually(t, "stalled stream dropped", 90*time.Second, func() error {
		if n, _ := e.Limits.streams.inUse(""); n != 0 {
			return fmt.Errorf("%d streams still open, want 0 (the stalled reader keeps its slot)", n)
		}
		return nil
	})
}

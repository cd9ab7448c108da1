package harness

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// LoopbackListener accepts TCP connections on 127.0.0.1 and counts them
// (closing each at once); it is closed when the test ends.
func LoopbackListener(tb testing.TB) (addr string, conns *atomic.Int32) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), conns
}

// AssertLoopbackUnreachable checks that a sandboxed ffmpeg cannot reach the
// worker's loopback: run must start ffmpeg reading url (an http URL of a
// [LoopbackListener]) and return its error, which must say the network is
// unreachable, with no connection made.
func AssertLoopbackUnreachable(tb testing.TB, run func(ctx context.Context, url string) error) {
	tb.Helper()
	addr, conns := LoopbackListener(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, "http://"+addr+"/source.mp4")
	if err == nil {
		tb.Fatal("ffmpeg read from a listener that sends nothing")
	}
	time.Sleep(100 * time.Millisecond)
	if n := conns.Load(); n != 0 {
		tb.Fatalf("ffmpeg opened %d connection(s) to the worker's loopback (%v)", n, err)
	}
	if !strings.Contains(err.Error(), "unreachable") {
		tb.Errorf("error = %v, want network unreachable", err)
	}
}

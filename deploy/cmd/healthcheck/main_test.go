package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "kafka: not reachable", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/healthz", http.StatusFound)
	})
	release := make(chan struct{})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	tests := map[string]struct {
		args    []string
		wantErr string // "" means success
	}{
		"2xx is healthy":        {args: []string{srv.URL + "/healthz"}},
		"503 is unhealthy":      {args: []string{srv.URL + "/readyz"}, wantErr: "503 Service Unavailable: kafka: not reachable"},
		"404 is unhealthy":      {args: []string{srv.URL + "/nope"}, wantErr: "404"},
		"redirect not followed": {args: []string{srv.URL + "/moved"}, wantErr: "302"},
		"timeout":               {args: []string{"--timeout", "50ms", srv.URL + "/slow"}, wantErr: "deadline exceeded"},
		"refused":               {args: []string{"http://" + MustClosedAddr(t) + "/healthz"}, wantErr: "connection refused"},
		"no url":                {args: nil, wantErr: "want exactly one URL"},
		"two urls":              {args: []string{srv.URL, srv.URL}, wantErr: "want exactly one URL"},
		"not http":              {args: []string{"ftp://x/healthz"}, wantErr: "not an http(s) URL"},
		"bad timeout":           {args: []string{"--timeout", "0s", srv.URL}, wantErr: "--timeout must be positive"},
		"help":                  {args: []string{"-h"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out bytes.Buffer
			err := run(ctx, tt.args, nil, &out)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("run(%q) = %v, want nil", tt.args, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
}

// MustClosedAddr returns a 127.0.0.1 address nothing listens on.
func MustClosedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatalf("close: %v", err)
	}
	return addr
}

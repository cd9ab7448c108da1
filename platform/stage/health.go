package stage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// health tracks readiness: every check passing and the members started.
type health struct {
	// live, if not nil, is /healthz: an error makes it answer 503.
	live   func() error
	checks []Check
	gauge  prometheus.Gauge
	log    *slog.Logger

	mu      sync.Mutex
	results map[string]string // check name → "ok" or the error
	started bool
}

func newHealth(checks []Check, gauge prometheus.Gauge, log *slog.Logger) *health {
	h := &health{checks: checks, gauge: gauge, log: log, results: map[string]string{}}
	for _, c := range checks {
		h.results[c.Name] = "not checked yet"
	}
	return h
}

// checkAll runs every check (each bounded by 3 s) and reports whether all passed.
func (h *health) checkAll(ctx context.Context) bool {
	res := make(map[string]string, len(h.checks))
	ok := true
	for _, c := range h.checks {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := c.Fn(cctx)
		cancel()
		if err != nil {
			ok = false
			res[c.Name] = err.Error()
		} else {
			res[c.Name] = "ok"
		}
	}
	h.mu.Lock()
	for k, v := range res {
		if prev := h.results[k]; prev != v && (prev == "ok" || v == "ok") {
			h.log.Info("dependency check changed", "check", k, "result", v)
		}
		h.results[k] = v
	}
	h.updateGauge()
	h.mu.Unlock()
	return ok && ctx.Err() == nil
}

// loop re-runs the checks every interval until ctx is done or stop is called.
func (h *health) loop(ctx context.Context, interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				h.checkAll(ctx)
			}
		}
	}()
	return func() { cancel(); <-done }
}

func (h *health) setStarted(v bool) {
	h.mu.Lock()
	h.started = v
	h.updateGauge()
	h.mu.Unlock()
}

// updateGauge requires h.mu.
func (h *health) updateGauge() {
	if h.readyLocked() {
		h.gauge.Set(1)
	} else {
		h.gauge.Set(0)
	}
}

func (h *health) readyLocked() bool {
	if !h.started {
		return false
	}
	for _, v := range h.results {
		if v != "ok" {
			return false
		}
	}
	return true
}

func (h *health) failing() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]string{}
	for k, v := range h.results {
		if v != "ok" {
			out[k] = v
		}
	}
	return out
}

type readyBody struct {
	Ready    bool              `json:"ready"`
	Consumer string            `json:"consumer"`
	Checks   map[string]string `json:"checks"`
}

func (h *health) readyz(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	body := readyBody{Ready: h.readyLocked(), Consumer: "stopped", Checks: make(map[string]string, len(h.results))}
	if h.started {
		body.Consumer = "running"
	}
	for k, v := range h.results {
		body.Checks[k] = v
	}
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !body.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(body)
}

// serveHTTP starts /healthz, /readyz and /metrics on addr.
func serveHTTP(addr string, h *health, reg *prometheus.Registry, log *slog.Logger) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if h.live != nil {
			if err := h.live(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("unhealthy: " + err.Error() + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("stage: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Addr: ln.Addr().String(), Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	log.Info("http listening", "addr", srv.Addr)
	return srv, nil
}

func shutdownHTTP(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

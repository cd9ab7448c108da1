package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// checkTimeout bounds one readiness check.
const checkTimeout = 3 * time.Second

// handleHealthz serves GET /healthz: the process is up.
func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleReadyz serves GET /readyz: 200 when every check passes, else 503.
// The body names each check and says "ok" or "unavailable"; the details
// of a failure are logged, not shown.
func handleReadyz(log *slog.Logger, checks []Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		results := make(map[string]string, len(checks))
		var mu sync.Mutex
		var wg sync.WaitGroup
		ok := true
		for _, c := range checks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
				defer cancel()
				err := c.Fn(ctx)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					ok = false
					results[c.Name] = "unavailable"
					log.WarnContext(ctx, "readiness check failed", "check", c.Name, "err", err)
					return
				}
				results[c.Name] = "ok"
			}()
		}
		wg.Wait()
		status, code := "ok", http.StatusOK
		if !ok {
			status, code = "unavailable", http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]any{"status": status, "checks": results})
	})
}

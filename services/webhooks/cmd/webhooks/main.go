// Command webhooks runs the vidpipe webhooks service: it consumes the
// pipeline's events (group "webhooks"), records them per owner and
// delivers them to the owners' endpoints in the Standard Webhooks format,
// with retries, dead letters (webhooks.dlq) and an SSRF guard. upload-api
// serves the /v1/webhooks API on the same tables. Run with -h for the
// configuration keys.
//
// "webhooks listen" is a small receiver for trying it out: it verifies
// each delivery with the Standard Webhooks reference library and prints it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vidpipe/vidpipe/platform/backoff"
	"github.com/vidpipe/vidpipe/platform/catalog"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/topics"
	"github.com/vidpipe/vidpipe/services/webhooks"
	"github.com/vidpipe/vidpipe/services/webhooks/dispatch"
	"github.com/vidpipe/vidpipe/services/webhooks/endpoints"
	"github.com/vidpipe/vidpipe/services/webhooks/ssrf"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "webhooks:", err)
		os.Exit(1)
	}
}

// run loads the configuration, waits for PostgreSQL (applying the
// migrations) and Kafka, serves /healthz, /readyz and /metrics on
// webhooks.ops_addr, and runs the consumer and the deliverer until ctx is
// cancelled. Logs go to stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "listen" {
		return listen(ctx, args[1:], stdout)
	}
	var cfg webhooks.Config
	if err := config.Load(webhooks.Service, args, getenv, &cfg); err != nil {
		if errors.Is(err, config.ErrHelp) {
			return nil
		}
		return err
	}
	log := config.NewLogger(cfg.Log, stdout, webhooks.Service)
	log.Info("starting", "config", config.Redacted(cfg))
	if cfg.Webhooks.AllowPrivate {
		log.Warn("webhooks.allow_private is on: endpoints may be http and reach internal addresses (development only)")
	}

	ln, err := net.Listen("tcp", cfg.Webhooks.OpsAddr)
	if err != nil {
		return fmt.Errorf("webhooks.ops_addr: %w", err)
	}
	log.Info("operations listener", "addr", ln.Addr().String())
	metrics := dispatch.NewMetrics()
	var consumer *dispatch.Consumer
	var store *endpoints.Store
	var mu sync.Mutex
	srv := &http.Server{Handler: opsHandler(metrics, func(ctx context.Context) error {
		mu.Lock()
		s, c := store, consumer
		mu.Unlock()
		if s == nil {
			return errors.New("starting: database not ready")
		}
		if err := s.Ping(ctx); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		if !c.Ready() {
			return errors.New("kafka: consumer has not joined its group yet")
		}
		return nil
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	pool, err := catalog.Connect(ctx, cfg.Postgres)
	if err != nil {
		return err
	}
	defer pool.Close()
	if cfg.Webhooks.Migrate {
		if err := migrate(ctx, pool, cfg.Webhooks.MigrateWait, log); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	if err := waitForTopics(ctx, cfg, log); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	dlw, err := dispatch.NewDeadLetterWriter(cfg.Kafka)
	if err != nil {
		return err
	}
	defer dlw.Close()

	s := endpoints.NewStore(pool)
	c := dispatch.NewConsumer(cfg.Kafka, s, metrics, log)
	mu.Lock()
	store, consumer = s, c
	mu.Unlock()
	w := cfg.Webhooks
	d := dispatch.NewDeliverer(s, dispatch.Options{
		Workers: w.Workers, PerEndpoint: w.MaxInFlightPerEndpoint, Poll: w.PollInterval,
		AttemptTimeout:   w.AttemptTimeout,
		Retry:            backoff.Policy{Initial: w.BackoffInitial, Max: w.BackoffMax, EqualJitter: true},
		Horizon:          w.RetryHorizon,
		Disable:          endpoints.DisablePolicy{FailingFor: w.DisableAfter, Exhausted: w.DisableAfterExhausted},
		MaxResponseBytes: w.MaxResponseBytes, Retention: w.EventRetention,
		Guard:       ssrf.Guard{AllowPrivate: w.AllowPrivate},
		DeadLetters: dlw, Metrics: metrics, Logger: log,
	})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs <- c.Run(ctx) }()
	go func() { defer wg.Done(); errs <- d.Run(ctx) }()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	log.Info("stopped")
	return nil
}

// opsHandler serves /healthz, /readyz (ready) and /metrics.
func opsHandler(m *dispatch.Metrics, ready func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", m.Handler())
	return mux
}

// migrate applies the webhook tables' migrations, retrying while
// PostgreSQL is unreachable, for at most wait.
func migrate(ctx context.Context, pool *pgxpool.Pool, wait time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	pace := backoff.Policy{Initial: 250 * time.Millisecond, Max: 5 * time.Second}
	for attempt := 1; ; attempt++ {
		err := endpoints.Migrate(ctx, pool)
		if err == nil {
			return nil
		}
		log.Warn("webhook tables not migrated yet, retrying", "attempt", attempt, "err", err)
		if !pace.Wait(ctx, attempt) {
			return fmt.Errorf("migrations: database unreachable for %s: %w", wait, err)
		}
	}
}

// waitForTopics checks the topics' durability (a refusal in production
// settings), waiting while Kafka is unreachable.
func waitForTopics(ctx context.Context, cfg webhooks.Config, log *slog.Logger) error {
	pace := backoff.Policy{Initial: 500 * time.Millisecond, Max: 5 * time.Second}
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := topics.StartupCheck(actx, nil, cfg.Kafka, log)
		cancel()
		var de *topics.DurabilityError
		if err == nil || errors.As(err, &de) {
			return err
		}
		log.Warn("waiting for Kafka", "attempt", attempt, "err", err)
		if !pace.Wait(ctx, attempt) {
			return ctx.Err()
		}
	}
}

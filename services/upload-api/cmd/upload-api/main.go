// Command upload-api serves the vidpipe HTTP API: uploads (multipart and
// tus), video status from its own projection of every stage topic and
// dead-letter topic, search over the indexer's catalog, status event
// streams and /healthz on api.addr; /healthz, /readyz and /metrics on the
// operations listener api.ops_addr. Run with -h for the configuration
// keys; config.dev.yaml is a development configuration.
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
	"syscall"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/platform/topics"
	"github.com/vidpipe/vidpipe/platform/catalog"
	uploadapi "github.com/vidpipe/vidpipe/services/upload-api"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
	"github.com/vidpipe/vidpipe/services/upload-api/publish"
	"github.com/vidpipe/vidpipe/services/upload-api/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "upload-api:", err)
		os.Exit(1)
	}
}

// run loads the configuration, connects to PostgreSQL (applying the
// projection's migrations), object storage and Kafka, starts the status
// projection consumer and serves the API (api.addr) and the operations
// endpoints (api.ops_addr) until ctx is cancelled; then it drains
// in-flight requests (up to api.shutdown_timeout) and stops. Logs go to
// stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var cfg uploadapi.Config
	if err := config.Load(uploadapi.Service, args, getenv, &cfg); err != nil {
		if errors.Is(err, config.ErrHelp) {
			return nil
		}
		return err
	}
	log := config.NewLogger(cfg.Log, stdout, uploadapi.Service)
	log.Info("starting", "config", config.Redacted(cfg))

	pool, err := catalog.Connect(ctx, cfg.Postgres)
	if err != nil {
		return err
	}
	defer pool.Close()
	var status *projection.Store
	if err := retry(ctx, log, "open status projection", func(ctx context.Context) error {
		status, err = projection.Open(ctx, pool, projection.WithLogger(log))
		return err
	}); err != nil {
		return stoppedOr(ctx, err)
	}

	objects, err := storage.New(cfg.S3)
	if err != nil {
		return err
	}
	if err := retry(ctx, log, "ensure bucket", objects.EnsureBucket); err != nil {
		return stoppedOr(ctx, err)
	}
	s3client, err := server.NewS3Client(ctx, cfg.S3)
	if err != nil {
		return err
	}

	pub, err := publish.New(cfg.Kafka, publish.Options{
		Service:     uploadapi.Service,
		MaxAttempts: cfg.API.PublishAttempts,
		Timeout:     cfg.API.PublishTimeout,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := pub.Close(); err != nil {
			log.Warn("close publisher", "err", err)
		}
	}()

	// Topics below kafka.replication_factor / min_insync_replicas: a warning
	// in development, a refusal to start in production settings.
	var refused error
	if err := retry(ctx, log, "check topic durability", func(ctx context.Context) error {
		err := topics.StartupCheck(ctx, nil, cfg.Kafka, log)
		if errors.As(err, new(*topics.DurabilityError)) {
			refused, err = err, nil
		}
		return err // other errors: Kafka is not reachable yet
	}); err != nil {
		return stoppedOr(ctx, err)
	}
	if refused != nil {
		return refused
	}

	consumer := projection.NewConsumer(cfg.Kafka, status, log)
	consumerCtx, stopConsumer := context.WithCancel(context.WithoutCancel(ctx))
	consumerDone := make(chan error, 1)
	go func() { consumerDone <- consumer.Run(consumerCtx) }()
	defer func() {
		stopConsumer()
		if err := <-consumerDone; err != nil {
			log.Error("projection consumer", "err", err)
		}
	}()

	stopping := make(chan struct{})
	opts := server.Options{
		MaxUploadBytes:  cfg.API.MaxUploadBytes,
		MaxFieldBytes:   cfg.API.MaxFieldBytes,
		MaxBodyBytes:    cfg.API.MaxBodyBytes,
		PublicURL:       cfg.API.PublicURL,
		PresignExpiry:   cfg.S3.PresignExpiry,
		RequestTimeout:  cfg.API.RequestTimeout,
		BodyIdleTimeout: cfg.API.BodyIdleTimeout,
		SSEHeartbeat:    cfg.API.SSEHeartbeat,
		SigningKey:      []byte(cfg.API.SigningKey),
		Stopping:        stopping,
	}
	if cfg.API.SigningKey == "" {
		log.Warn("api.signing_key is not set: signed HLS URLs use a random key and stop working after a restart")
	}
	if d := cfg.API.TusTempDir; d != "" {
		// tusd buffers parts here; a missing directory would fail the
		// first PATCH with a 500 instead of failing at start.
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("api.tus_temp_dir: %w", err)
		}
	}
	// Part buffers tusd left behind (killed process, tusd's own leaks).
	if n, err := server.SweepTusTemp(cfg.API.TusTempDir, cfg.API.BodyIdleTimeout); err != nil {
		log.Warn("sweeping stale tus part buffers", "err", err)
	} else if n > 0 {
		log.Info("removed stale tus part buffers", "count", n)
	}
	metrics := server.NewMetrics()
	limits := server.NewLimits(limitOptions(cfg.API), status, log)
	tus, err := server.NewTus(server.TusDeps{
		Logger: log, Options: opts, S3: s3client, PartSize: cfg.API.TusPartSize, TempDir: cfg.API.TusTempDir,
		Objects: objects, Publisher: pub, Status: status, Metrics: metrics, Limits: limits,
	})
	if err != nil {
		return err
	}
	// Uploads left between storage and Kafka (failed or unconfirmed
	// publishes, a process killed mid-publish): at start, then periodically.
	recovery := server.NewRecovery(server.RecoveryDeps{
		Logger: log, Objects: objects, Publisher: pub, Status: status, Tus: tus, Metrics: metrics,
		MinAge: 2*cfg.API.PublishTimeout + 30*time.Second,
	})
	recoveryCtx, stopRecovery := context.WithCancel(context.WithoutCancel(ctx))
	recoveryDone := make(chan struct{})
	go func() { defer close(recoveryDone); recovery.Run(recoveryCtx, cfg.API.RecoveryInterval) }()
	defer func() { stopRecovery(); <-recoveryDone }()
	deps := server.Deps{
		Logger:    log,
		Options:   opts,
		Auth:      server.NewAuth(cfg.API.Tokens).LimitFailures(cfg.API.AuthFailBurst, cfg.API.AuthFailRefill),
		Objects:   objects,
		Publisher: pub,
		Status:    status,
		Catalog:   catalog.New(pool),
		Tus:       tus,
		Metrics:   metrics,
		Limits:    limits,
		Ready: []server.Check{
			{Name: "kafka", Fn: func(ctx context.Context) error { return pub.Ping(ctx, contract.TopicUploaded) }},
			{Name: "storage", Fn: objects.Ping},
			{Name: "postgres", Fn: status.Ping},
			{Name: "projection", Fn: func(context.Context) error {
				if !consumer.Ready() {
					return errors.New("status projection consumer has not joined its group yet")
				}
				return nil
			}},
		},
	}

	srv := server.NewHTTPServer(cfg.API.Addr, server.NewServer(deps), cfg.API.ReadHeaderTimeout, cfg.API.IdleTimeout, log)
	srv.RegisterOnShutdown(func() { close(stopping) })
	opsSrv := server.NewOpsHTTPServer(cfg.API.OpsAddr, server.NewOpsServer(deps), log)
	ln, err := net.Listen("tcp", cfg.API.Addr)
	if err != nil {
		return fmt.Errorf("listen %s (api.addr): %w", cfg.API.Addr, err)
	}
	opsLn, err := net.Listen("tcp", cfg.API.OpsAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen %s (api.ops_addr): %w", cfg.API.OpsAddr, err)
	}
	log.Info("serving", "addr", ln.Addr().String(), "ops_addr", opsLn.Addr().String())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	opsServed := make(chan error, 1)
	go func() { opsServed <- opsSrv.Serve(opsLn) }()

	select {
	case err := <-served:
		_ = opsSrv.Close()
		<-opsServed
		return fmt.Errorf("serve: %w", err)
	case err := <-opsServed:
		_ = srv.Close()
		<-served
		return fmt.Errorf("serve operations: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.API.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.API.ShutdownTimeout)
	defer cancel()
	// The operations listener stays up while requests drain (probes and a
	// last scrape still answer), then closes.
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("graceful shutdown incomplete; closing connections", "err", err)
		_ = srv.Close()
	}
	_ = opsSrv.Close()
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	if err := <-opsServed; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve operations: %w", err)
	}
	log.Info("stopped")
	return nil
}

// stoppedOr returns nil when ctx was cancelled (stopped while waiting for
// a dependency is a clean exit), else err.
func stoppedOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// retry runs fn until it succeeds or ctx is done (then it returns
// ctx.Err()), backing off from 500ms to 5s and logging each failure: a
// dependency that is still starting delays the start instead of failing it.
func retry(ctx context.Context, log *slog.Logger, what string, fn func(context.Context) error) error {
	delay := 500 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := fn(actx)
		cancel()
		if err == nil {
			return nil
		}
		log.Warn("waiting for a dependency", "step", what, "retry_in", delay, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// limitOptions returns the caps and quotas of the api section for the
// server package (0 in the config, "off", is a negative value there).
func limitOptions(a uploadapi.API) server.LimitOptions {
	off := func(v int64) int64 {
		if v == 0 {
			return -1
		}
		return v
	}
	return server.LimitOptions{
		MaxUploads:         int(off(int64(a.MaxConcurrentUploads))),
		MaxUploadsPerUser:  int(off(int64(a.MaxConcurrentUploadsPerUser))),
		MinUploadRate:      off(a.MinUploadRate),
		MinUploadRateGrace: a.MinUploadRateGrace,
		QuotaBytes:         off(a.UserQuotaBytes),
		ReservationTTL:     a.QuotaReservationTTL,
		MaxStreams:         int(off(int64(a.SSEMaxStreams))),
		MaxStreamsPerUser:  int(off(int64(a.SSEMaxStreamsPerUser))),
		StreamLifetime:     a.SSEMaxLifetime,
		StreamWriteTimeout: a.SSEWriteTimeout,
		PlaylistCacheBytes: off(a.HLSCacheBytes),
		MaxPlaylistBytes:   a.HLSMaxPlaylistBytes,
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/catalog"
	uploadapi "github.com/vidpipe/vidpipe/services/upload-api"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
	"github.com/vidpipe/vidpipe/services/upload-api/server"
	"github.com/vidpipe/vidpipe/services/upload-api/tusupload"
)

// api is what the HTTP servers are built from.
type api struct {
	deps server.Deps
	tus  *tusupload.Handler
	// stopping is closed when the API server starts shutting down
	// (Options.Stopping: event streams end).
	stopping chan struct{}
}

// newAPI builds the handlers' dependencies: options, limits, metrics, the
// tus endpoint (after preparing its part-buffer directory and sweeping the
// buffers a previous process left) and the readiness checks (Kafka,
// storage, PostgreSQL, the projection consumer having joined its group).
func newAPI(cfg uploadapi.Config, c *clients, consumer *projection.Consumer, log *slog.Logger) (*api, error) {
	a := &api{stopping: make(chan struct{})}
	opts := serverOptions(cfg, a.stopping)
	if cfg.API.SigningKey == "" {
		log.Warn("api.signing_key is not set: signed HLS URLs use a random key and stop working after a restart")
	}
	if d := cfg.API.TusTempDir; d != "" {
		// tusd buffers parts here; a missing directory would fail the
		// first PATCH with a 500 instead of failing at start.
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("api.tus_temp_dir: %w", err)
		}
	}
	// Part buffers tusd left behind (killed process, tusd's own leaks).
	if n, err := tusupload.SweepTemp(cfg.API.TusTempDir, cfg.API.BodyIdleTimeout); err != nil {
		log.Warn("sweeping stale tus part buffers", "err", err)
	} else if n > 0 {
		log.Info("removed stale tus part buffers", "count", n)
	}
	metrics := server.NewMetrics()
	limits := server.NewLimits(limitOptions(cfg.API), c.status, log)
	tus, err := server.NewTus(server.TusDeps{
		Logger: log, Options: opts, S3: c.s3, PartSize: cfg.API.TusPartSize, TempDir: cfg.API.TusTempDir,
		Objects: c.objects, Publisher: c.pub, Status: c.status, Metrics: metrics, Limits: limits,
		Locker: c.locks,
	})
	if err != nil {
		return nil, err
	}
	a.tus = tus
	redriver, err := newRedriver(cfg)
	if err != nil {
		return nil, err
	}
	a.deps = server.Deps{
		Redriver:  redriver,
		Logger:    log,
		Options:   opts,
		Auth:      server.NewAuth(cfg.API.Tokens).LimitFailures(cfg.API.AuthFailBurst, cfg.API.AuthFailRefill).WithAdmins(cfg.API.Admins),
		Objects:   c.objects,
		Publisher: c.pub,
		Status:    c.status,
		Catalog:   catalog.New(c.pool),
		Tus:       tus,
		Metrics:   metrics,
		Limits:    limits,
		Webhooks:  webhooksAPI(cfg, c.pool, log),
		Ready: []server.Check{
			{Name: "kafka", Fn: func(ctx context.Context) error { return c.pub.Ping(ctx, contract.TopicUploaded) }},
			{Name: "storage", Fn: c.objects.Ping},
			{Name: "postgres", Fn: c.status.Ping},
			{Name: "projection", Fn: func(context.Context) error {
				if !consumer.Ready() {
					return errors.New("status projection consumer has not joined its group yet")
				}
				return nil
			}},
		},
	}
	return a, nil
}

package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	uploadapi "github.com/vidpipe/vidpipe/services/upload-api"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
	"github.com/vidpipe/vidpipe/services/upload-api/server"
)

// startConsumer runs the status projection consumer until the returned
// stop is called (not when ctx is cancelled: it keeps the projection
// current while requests drain). stop waits for it and logs its error.
func startConsumer(ctx context.Context, cfg uploadapi.Config, c *clients, log *slog.Logger) (*projection.Consumer, func()) {
	consumer := projection.NewConsumer(cfg.Kafka, c.status, log)
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- consumer.Run(cctx) }()
	return consumer, func() {
		cancel()
		if err := <-done; err != nil {
			log.Error("projection consumer", "err", err)
		}
	}
}

// startRecovery runs the upload recovery sweep — uploads left between
// storage and Kafka (failed or unconfirmed publishes, a process killed
// mid-publish) — at once and then every api.recovery_interval, until the
// returned stop is called; stop waits for it.
func startRecovery(ctx context.Context, cfg uploadapi.Config, c *clients, a *api, log *slog.Logger) func() {
	recovery := server.NewRecovery(server.RecoveryDeps{
		Logger: log, Objects: c.objects, Publisher: c.pub, Status: c.status, Tus: a.tus, Metrics: a.deps.Metrics,
		MinAge: 2*cfg.API.PublishTimeout + 30*time.Second,
	})
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); recovery.Run(rctx, cfg.API.RecoveryInterval) }()
	return func() { cancel(); <-done }
}

// startLifecycle runs upload-api's video.deleted consumer (group
// upload-api-lifecycle): it removes what the API owns of a deleted video
// (server.RemoveDeleted: source, tus upload and objects, reservation)
// until the returned stop is called; stop waits for it.
func startLifecycle(ctx context.Context, cfg uploadapi.Config, c *clients, a *api, log *slog.Logger) func() {
	remove := server.RemoveDeleted(log, c.objects, c.status, a.tus)
	consumer := projection.NewConsumer(cfg.Kafka, c.status, log.With("consumer", "lifecycle"),
		projection.WithGroup(contract.LifecycleGroup(uploadapi.Service)),
		projection.WithHandler([]string{contract.TopicDeleted}, remove))
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- consumer.Run(lctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			log.Error("lifecycle consumer", "err", err)
		}
	}
}

// Command thumbnail runs the vidpipe thumbnail stage: it consumes
// video.transcoded, writes a poster, a small thumbnail and a scrubbing
// sprite from one rendition, and publishes video.thumbnailed. Run with -h
// for the configuration keys.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/dlq"
	"github.com/vidpipe/vidpipe/platform/outputgc"
	"github.com/vidpipe/vidpipe/platform/procgroup"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/platform/workdir"
	"github.com/vidpipe/vidpipe/services/thumbnail"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "thumbnail:", err)
		os.Exit(1)
	}
}

// run loads the configuration, checks that ffmpeg and ffprobe can be
// found, and runs the stage until ctx is cancelled. Logs go to stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var cfg thumbnail.Config
	if err := config.Load(string(contract.StageThumbnail), args, getenv, &cfg); err != nil {
		if errors.Is(err, config.ErrHelp) {
			return nil
		}
		return err
	}
	log := config.NewLogger(cfg.Log, stdout, string(contract.StageThumbnail))
	log.Info("starting", "config", config.Redacted(cfg))

	if err := procgroup.RequireTools("install ffmpeg, e.g. apt-get install ffmpeg", cfg.Thumbnail.FFmpeg, cfg.Thumbnail.FFprobe); err != nil {
		return err
	}
	// The temp dir, without the work dirs of workers killed mid-attempt.
	if err := workdir.Prepare(log, cfg.Thumbnail.TempDir, thumbnail.WorkDirPrefix, cfg.Stage.AttemptTimeout+cfg.Stage.ShutdownGrace); err != nil {
		return fmt.Errorf("thumbnail.temp_dir: %w", err)
	}
	store, err := storage.New(cfg.S3)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	sandboxCheck, err := startSandbox(ctx, cfg, log, reg)
	if err != nil {
		return err
	}
	w := thumbnail.NewWorker(cfg.Thumbnail, store, log)
	// The fence: thumbnail owns videos/{id}/thumbs/ of every output
	// generation (see stage.Fence, outputgc.Fence).
	fence := outputgc.Fence(stage.ObjectFence{Store: store, Owned: thumbnail.OwnedPrefixes}, store, thumbnail.GCDirs)
	main := stage.Options{
		Stage:    contract.StageThumbnail,
		Consumer: "stage",
		Kafka:    cfg.Kafka,
		Runtime:  cfg.Stage,
		Logger:   log,
		Registry: reg,
		Checks:   []stage.Check{{Name: "storage", Fn: store.Ping}, sandboxCheck},
		// Dead letters too large for Kafka keep their value in the bucket.
		DeadLetterStore: dlq.S3Store{Store: store},
		Fence:           fence,
	}
	if cfg.Thumbnail.GCDelay >= cfg.Stage.AttemptTimeout {
		return fmt.Errorf("thumbnail.gc_delay (%s) must be below stage.attempt_timeout (%s), which bounds its wait", cfg.Thumbnail.GCDelay, cfg.Stage.AttemptTimeout)
	}
	// Beside the stage: video.deleted in group thumbnail-lifecycle removes
	// the thumbnails; group thumbnail-gc removes the thumbs/ of superseded
	// output generations (platform/outputgc).
	deleted := stage.LifecycleOptions(main, contract.TopicDeleted, "lifecycle")
	return stage.RunConsumers(ctx,
		stage.Consumer{Options: main, Run: func(ctx context.Context, o stage.Options) error { return stage.Run(ctx, o, w.Handle) }},
		stage.Consumer{Options: deleted, Run: func(ctx context.Context, o stage.Options) error {
			return stage.Run(ctx, o, stage.Remover(fence))
		}},
		outputgc.Consumer(main, store, cfg.Thumbnail.GCDelay, thumbnail.GCDirs),
	)
}

// startSandbox makes the sandbox every ffmpeg and ffprobe runs in
// (thumbnail.sandbox, thumbnail.sandbox_max_memory; CPU time bounded by
// stage.attempt_timeout on every core) and reports it
// (procgroup.StartSandbox): a log line, the gauge
// vidpipe_sandbox_active{mode}, and a /readyz check named after its state.
// With thumbnail.sandbox = required it fails when the kernel allows no
// network namespace.
func startSandbox(ctx context.Context, cfg thumbnail.Config, log *slog.Logger, reg prometheus.Registerer) (stage.Check, error) {
	name, err := procgroup.StartSandbox(ctx, procgroup.WorkerSandbox{
		Section:        "thumbnail",
		Mode:           cfg.Thumbnail.Sandbox,
		MaxMemory:      cfg.Thumbnail.SandboxMaxMemory,
		AttemptTimeout: cfg.Stage.AttemptTimeout,
		Limits:         thumbnail.SandboxLimits(),
	}, log, reg)
	if err != nil {
		return stage.Check{}, err
	}
	return stage.Check{Name: name, Fn: procgroup.Ready}, nil
}

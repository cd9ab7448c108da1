// Command transcode is the transcode worker: it consumes video.uploaded,
// produces the MP4 ladder and the HLS package, and publishes
// video.transcoded (failures: video.transcode.dlq).
//
// Configuration: vidpipe.yaml, VIDPIPE_* environment variables and flags;
// `transcode --help` lists every key with its default.
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
	"github.com/vidpipe/vidpipe/platform/procgroup"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/platform/workdir"
	"github.com/vidpipe/vidpipe/services/transcode"
	"github.com/vidpipe/vidpipe/services/transcode/ffmpeg"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "transcode:", err)
		os.Exit(1)
	}
}

// run loads the configuration, checks that ffmpeg and ffprobe exist, and
// runs the stage until ctx is cancelled. Logs go to stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var cfg transcode.Config
	if err := config.Load("transcode", args, getenv, &cfg); err != nil {
		if errors.Is(err, config.ErrHelp) {
			return nil
		}
		return err
	}
	log := config.NewLogger(cfg.Log, stdout, "transcode")
	log.Info("starting", "config", config.Redacted(&cfg))

	if err := procgroup.RequireTools("install ffmpeg, e.g. apt-get install ffmpeg", cfg.Transcode.FFmpeg, cfg.Transcode.FFprobe); err != nil {
		return err
	}
	// The temp dir, without the work dirs of workers killed mid-attempt.
	if err := workdir.Prepare(log, cfg.Transcode.TempDir, transcode.WorkDirPrefix, cfg.Stage.AttemptTimeout+cfg.Stage.ShutdownGrace); err != nil {
		return fmt.Errorf("transcode.temp_dir: %w", err)
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
	metrics, err := ffmpeg.NewMetrics(reg)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	w, err := transcode.NewWorker(cfg.Transcode, store, log, metrics)
	if err != nil {
		return err
	}
	return stage.Run(ctx, stage.Options{
		Stage:    contract.StageTranscode,
		Service:  "transcode",
		Kafka:    cfg.Kafka,
		Runtime:  cfg.Stage,
		Logger:   log,
		Registry: reg,
		Checks:   []stage.Check{{Name: "storage", Fn: store.Ping}, sandboxCheck},
		// Dead letters too large for Kafka keep their value in the bucket.
		DeadLetterStore: dlq.S3Store{Store: store},
	}, w.Handle)
}

// startSandbox makes the sandbox every ffmpeg and ffprobe runs in
// (transcode.sandbox, transcode.sandbox_max_memory; CPU time bounded by
// stage.attempt_timeout on every core) and reports it
// (procgroup.StartSandbox): a log line, the gauge
// vidpipe_sandbox_active{mode}, and a /readyz check named after its state.
// With transcode.sandbox = required it fails when the kernel allows no
// network namespace.
func startSandbox(ctx context.Context, cfg transcode.Config, log *slog.Logger, reg prometheus.Registerer) (stage.Check, error) {
	name, err := procgroup.StartSandbox(ctx, procgroup.WorkerSandbox{
		Section:        "transcode",
		Mode:           cfg.Transcode.Sandbox,
		MaxMemory:      cfg.Transcode.SandboxMaxMemory,
		AttemptTimeout: cfg.Stage.AttemptTimeout,
	}, log, reg)
	if err != nil {
		return stage.Check{}, err
	}
	return stage.Check{Name: name, Fn: procgroup.Ready}, nil
}

// Command transcode is the transcode worker: it consumes video.uploaded,
// cuts each source into chunks that every transcode process encodes
// (video.transcode.chunks), assembles them (video.transcode.chunks-done),
// publishes video.playable as soon as the start can be played and
// video.transcoded when the MP4 ladder and the HLS package are complete
// (failures: video.transcode.dlq). With transcode.chunk_seconds = 0 it
// encodes each video in one pass instead.
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
	"github.com/vidpipe/vidpipe/platform/outputgc"
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
	base := stage.Options{
		Stage:    contract.StageTranscode,
		Service:  "transcode",
		Kafka:    cfg.Kafka,
		Runtime:  cfg.Stage,
		Logger:   log,
		Registry: reg,
		Checks:   []stage.Check{{Name: "storage", Fn: store.Ping}, sandboxCheck},
		// Dead letters too large for Kafka keep their value in the bucket.
		DeadLetterStore: dlq.S3Store{Store: store},
		// The fence: transcode owns videos/{id}/mp4/, hls/ and work/
		// (stage.Fence); every consumer of the process honours it.
		Fence: outputgc.Fence(stage.ObjectFence{Store: store, Owned: transcode.OwnedPrefixes}, store, transcode.GCDirs),
	}
	// Beside the stage, group transcode-gc removes the mp4/ and hls/ of
	// superseded output generations (platform/outputgc).
	if cfg.Transcode.GCDelay >= cfg.Stage.AttemptTimeout {
		return fmt.Errorf("transcode.gc_delay (%s) must be below stage.attempt_timeout (%s), which bounds its wait", cfg.Transcode.GCDelay, cfg.Stage.AttemptTimeout)
	}
	if cfg.Transcode.ChunkSeconds == 0 {
		single := base
		single.Consumer = "stage"
		return stage.RunConsumers(ctx,
			stage.Consumer{Options: single, Run: func(ctx context.Context, o stage.Options) error { return stage.Run(ctx, o, w.Handle) }}, // one pass per video
			lifecycleConsumer(base),
			outputgc.Consumer(base, store, cfg.Transcode.GCDelay, transcode.GCDirs))
	}
	if err := w.StartChunks(); err != nil {
		return err
	}
	defer w.Close()
	return runSegmentPipeline(ctx, base, w, outputgc.Consumer(base, store, cfg.Transcode.GCDelay, transcode.GCDirs))
}

// runSegmentPipeline runs the consumers of the segment pipeline in this
// process until ctx ends: the planner (group transcode on video.uploaded),
// the chunk encoders (group transcode-chunks for video chunks and
// transcode-audio for the audio, both on video.transcode.chunks) and the
// fan-in (group transcode-assemble on video.transcode.chunks-done). The
// planner serves /healthz, /readyz and /metrics for all of them; their
// metrics carry consumer=plan|chunks|audio|assemble.
func runSegmentPipeline(ctx context.Context, base stage.Options, w *transcode.Worker, gc stage.Consumer) error {
	plan := base
	plan.Consumer = "plan"
	plan.Spread = []string{contract.TopicTranscodeChunks}
	chunks := base
	chunks.Consumer = "chunks"
	chunks.InputTopic, chunks.OutputTopic, chunks.Group = contract.TopicTranscodeChunks, contract.TopicTranscodeChunksDone, transcode.GroupChunks
	audio := chunks
	audio.Consumer, audio.Group = "audio", transcode.GroupAudio
	assemble := base
	assemble.Consumer = "assemble"
	assemble.InputTopic, assemble.Group = contract.TopicTranscodeChunksDone, transcode.GroupAssemble
	// The planner serves /healthz for all: it fails when any consumer is
	// stuck (stage.RunConsumers).
	return stage.RunConsumers(ctx,
		stage.Consumer{Options: plan, Run: func(ctx context.Context, o stage.Options) error { return stage.Run(ctx, o, w.Plan) }},
		stage.Consumer{Options: chunks, Run: func(ctx context.Context, o stage.Options) error { return stage.Run(ctx, o, w.VideoChunk) }},
		stage.Consumer{Options: audio, Run: func(ctx context.Context, o stage.Options) error { return stage.Run(ctx, o, w.AudioChunk) }},
		stage.Consumer{Options: assemble, Run: func(ctx context.Context, o stage.Options) error { return stage.Run(ctx, o, w.Assemble) }},
		lifecycleConsumer(base),
		gc,
	)
}

// lifecycleConsumer is transcode's consumer of video.deleted (group
// transcode-lifecycle): it removes the video's mp4/, hls/ and work/
// prefixes (base.Fence).
func lifecycleConsumer(base stage.Options) stage.Consumer {
	fence := base.Fence
	return stage.Consumer{
		Options: stage.LifecycleOptions(base, contract.TopicDeleted, "lifecycle"),
		Run: func(ctx context.Context, o stage.Options) error {
			return stage.Run(ctx, o, stage.Remover(fence))
		},
	}
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

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/bench/kload"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/stage"
)

// Modes of the worker.
const (
	// modeStage consumes video.uploaded events, sleeps, and publishes a
	// video.transcoded (the scaling scenario).
	modeStage = "stage"
	// modePlan consumes video.uploaded events and fans each out into
	// -fanout work items (contract.TranscodeChunk values) on the -output
	// topic with stage.Publish, spread over its partitions in turn
	// (stage.Options.Spread), as transcode's planner does; no output event.
	modePlan = "plan"
	// modeChunk consumes work items, sleeps, and publishes a
	// contract.TranscodeChunkDone (keyed by the video id) on the -output
	// topic with stage.Publish, as transcode's chunk encoders do; no output
	// event (an output must have its input's key).
	modeChunk = "chunk"
)

// run parses the flags and runs the worker until ctx is cancelled.
// getenv is unused: every setting is a flag.
func run(ctx context.Context, args []string, _ func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("vidpipe-benchworker", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated")
	mode := fs.String("mode", modeStage, "stage (video.uploaded → sleep → video.transcoded), plan (video.uploaded → -fanout work items on -output, spread over its partitions) or chunk (work item → sleep → chunk done)")
	input := fs.String("input", "", "input topic")
	output := fs.String("output", "", "output topic (plan: the work-item topic)")
	dlq := fs.String("dlq", "", "dead-letter topic")
	group := fs.String("group", "", "consumer group")
	service := fs.String("service", "bench-worker", "service name: the ce_source of the output is /vidpipe/SERVICE")
	sleep := fs.Duration("sleep", 50*time.Millisecond, "time the handler sleeps per event (stage, chunk)")
	fanout := fs.Int("fanout", 12, "work items per video.uploaded (plan)")
	concurrency := fs.Int("concurrency", 1, "consumer-group members in this process")
	httpAddr := fs.String("http", "127.0.0.1:0", "listen address of /healthz, /readyz and /metrics")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	// Never fall back to the pipeline's real topics and groups.
	if *input == "" || *output == "" || *dlq == "" || *group == "" {
		return errors.New("-input, -output, -dlq and -group are required")
	}
	if *fanout < 1 || *fanout > contract.MaxChunks {
		return fmt.Errorf("-fanout %d: want 1..%d", *fanout, contract.MaxChunks)
	}
	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := stage.Options{
		Stage:   contract.StageTranscode,
		Service: *service,
		Kafka:   config.Kafka{Brokers: strings.Split(*brokers, ",")},
		Runtime: config.Stage{
			Concurrency: *concurrency, MaxAttempts: 5, BackoffInitial: 500 * time.Millisecond, BackoffMax: 30 * time.Second,
			AttemptTimeout: time.Minute, ShutdownGrace: 5 * time.Second,
			HTTPAddr: *httpAddr, // batch_timeout and commit_interval: the services' defaults (zero)
		},
		Logger:     log,
		InputTopic: *input, OutputTopic: *output, DLQTopic: *dlq, Group: *group,
	}
	wait := func(ctx context.Context) error {
		t := time.NewTimer(*sleep)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	switch *mode {
	case modeStage:
		return stage.Run(ctx, opts, func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
			if err := wait(ctx); err != nil {
				return contract.VideoTranscoded{}, err
			}
			return kload.Transcoded(in, time.Now()), nil
		})
	case modePlan:
		opts.Spread = []string{*output}
		return stage.Run(ctx, opts, func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
			run := stage.InputID(ctx)
			for i := range *fanout {
				item := kload.WorkItem(in, run, i, *fanout, *output)
				if err := stage.Publish(ctx, item, contract.DeriveID(run, item.Key())); err != nil {
					return contract.VideoTranscoded{}, err
				}
			}
			return contract.VideoTranscoded{}, stage.ErrNoOutput
		})
	case modeChunk:
		return stage.Run(ctx, opts, func(ctx context.Context, in contract.TranscodeChunk) (contract.TranscodeChunkDone, error) {
			if err := wait(ctx); err != nil {
				return contract.TranscodeChunkDone{}, err
			}
			done := kload.ChunkDone(in, *output)
			if err := stage.Publish(ctx, done, contract.DeriveID(in.Run, in.Key(), "done")); err != nil {
				return contract.TranscodeChunkDone{}, err
			}
			return contract.TranscodeChunkDone{}, stage.ErrNoOutput
		})
	}
	return fmt.Errorf("-mode %q: want %s, %s or %s", *mode, modeStage, modePlan, modeChunk)
}

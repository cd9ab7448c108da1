package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/bench/kload"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/stage"
)

// run parses the flags and runs the sleeping stage until ctx is cancelled.
// getenv is unused: every setting is a flag.
func run(ctx context.Context, args []string, _ func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("vidpipe-benchworker", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated")
	input := fs.String("input", "", "input topic (video.uploaded events)")
	output := fs.String("output", "", "output topic")
	dlq := fs.String("dlq", "", "dead-letter topic")
	group := fs.String("group", "", "consumer group")
	service := fs.String("service", "bench-worker", "service name: the ce_source of the output is /vidpipe/SERVICE")
	sleep := fs.Duration("sleep", 50*time.Millisecond, "time the handler sleeps per event")
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
	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: slog.LevelWarn}))
	handler := func(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
		t := time.NewTimer(*sleep)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return contract.VideoTranscoded{}, ctx.Err()
		}
		return kload.Transcoded(in, time.Now()), nil
	}
	return stage.Run(ctx, stage.Options{
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
	}, handler)
}

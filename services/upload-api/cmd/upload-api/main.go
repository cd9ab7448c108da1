// Command upload-api serves the vidpipe HTTP API: uploads (multipart and
// tus), video status from its own projection of every stage topic and
// dead-letter topic, search over the video catalog, status event streams
// and /healthz on api.addr; /healthz, /readyz and /metrics on the
// operations listener api.ops_addr. Run with -h for the configuration
// keys; config.dev.yaml is a development configuration.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vidpipe/vidpipe/platform/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "upload-api:", err)
		os.Exit(1)
	}
}

// run loads the configuration (config.go), connects to PostgreSQL
// (applying the projection's migrations), object storage and Kafka
// (clients.go), starts the status projection consumer (background.go),
// builds the API with its tus endpoint (api.go), starts the upload
// recovery sweep (background.go) and serves the API (api.addr) and the
// operations endpoints (api.ops_addr) until ctx is cancelled; then it
// drains in-flight requests (up to api.shutdown_timeout) and stops
// (serve.go). Logs go to stdout. Cancelled while waiting for a dependency,
// it returns nil.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, log, err := loadConfig(args, getenv, stdout)
	if err != nil || log == nil { // log is nil after -h
		return err
	}
	log.Info("starting", "config", config.Redacted(cfg))

	c, err := connect(ctx, cfg, log)
	if errors.Is(err, errStopped) {
		return nil
	}
	if err != nil {
		return err
	}
	defer c.close(log)

	consumer, stopConsumer := startConsumer(ctx, cfg, c, log)
	defer stopConsumer()

	a, err := newAPI(cfg, c, consumer, log)
	if err != nil {
		return err
	}
	stopRecovery := startRecovery(ctx, cfg, c, a, log)
	defer stopRecovery()
	stopLifecycle := startLifecycle(ctx, cfg, c, a, log)
	defer stopLifecycle()

	return serve(ctx, cfg, a, log)
}

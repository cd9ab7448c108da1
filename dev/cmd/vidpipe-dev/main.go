// Command vidpipe-dev runs the whole pipeline on this machine for
// development — broker (kfake), MinIO, PostgreSQL, topics, bucket, the API
// and every worker — until Ctrl-C; `make run` builds and starts it. It is dev
// tooling: the image does not ship it, and no service binary links it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/vidpipe/vidpipe/dev/devstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "vidpipe-dev:", err)
		os.Exit(1)
	}
}

// run runs the whole pipeline on this machine until ctx ends (Ctrl-C);
// see package devstack. Colors are used when stdout is a terminal and
// NO_COLOR is not set.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("vidpipe-dev", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".vidpipe", "directory for data, logs, binaries and dev.env")
	kafkaPort := fs.Int("kafka-port", 9092, "Kafka (kfake) port on 127.0.0.1")
	s3Port := fs.Int("s3-port", 9000, "MinIO (S3 API) port on 127.0.0.1")
	pgPort := fs.Int("pg-port", 5432, "PostgreSQL port on 127.0.0.1")
	apiPort := fs.Int("api-port", 8080, "upload-api port on 127.0.0.1; workers' /healthz and /metrics, then upload-api's operations listener (/readyz, /metrics), take the following ports")
	partitions := fs.Int("partitions", 12, "partitions per topic when the topics are created (caps the useful copies of a worker)")
	scale := fs.StringArray("scale", nil, "SERVICE=N copies of a service (upload-api, transcode, thumbnail, indexer; default 1 each; 0 leaves it out), repeatable")
	repo := fs.String("repo", "", "repository to build the services from (default: the directory with go.work at or above the working directory)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("unexpected argument " + fs.Arg(0))
	}
	sc, err := devstack.ParseScale(*scale)
	if err != nil {
		return err
	}
	color := devstack.IsTerminal(stdout) && getenv("NO_COLOR") == ""
	err = devstack.Run(ctx, devstack.Options{
		Dir:        *dir,
		KafkaPort:  *kafkaPort,
		S3Port:     *s3Port,
		PGPort:     *pgPort,
		APIPort:    *apiPort,
		Partitions: *partitions,
		Scale:      sc,
		RepoRoot:   *repo,
		Out:        devstack.NewOutput(stdout, color),
	})
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil // interrupted while starting: nothing to report
	}
	return err
}

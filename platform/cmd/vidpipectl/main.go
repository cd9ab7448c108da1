// Command vidpipectl administers a vidpipe deployment: it creates topics,
// follows the stage topics, and inspects and redrives dead-letter topics.
// The development stack is a separate binary, dev/cmd/vidpipe-dev (make run),
// so that this one, shipped in the image, links no test tooling.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "vidpipectl:", err)
		os.Exit(1)
	}
}

// usage is the help text; the stage names come from the pipeline table
// (contract.DefaultPipeline).
var usage = fmt.Sprintf(`usage: vidpipectl <command> [flags]

commands:
  topics create [--partitions N] [--replication N] [--min-insync-replicas N]
                                                      create stage, work, lifecycle topics and DLQs (idempotent), raise a
                                                      lower min.insync.replicas, check their durability
  watch [--from-beginning] [--id VIDEO] [topic...]    follow stage, work, lifecycle and DLQ topics, one line per event
  dlq list <stage> [--all]                            list dead-lettered records (%s|webhooks)
  dlq redrive <stage> [--id VIDEO] [--limit N] [--dry-run] [--config FILE] [--postgres URL] [--lock-wait D]
                                                      re-publish dead letters to the topic they failed on:
                                                      the stage's input, or a work topic with the item's key
                                                      (transcode: video.transcode.chunks, key <id>/v00003);
                                                      values moved to S3 are read with $VIDPIPE_S3_*;
                                                      webhooks: failed webhook deliveries (webhooks.dlq),
                                                      redriven to webhooks.redrive and delivered again;
                                                      one redrive at a time: it takes the API's redrive lock in
                                                      the status database ($VIDPIPE_POSTGRES_URL), waiting up to 2m

Every command takes --brokers (default $VIDPIPE_KAFKA_BROKERS or 127.0.0.1:9092).
vidpipectl --config-reference prints the VIDPIPE_* settings it reads as JSON;
vidpipectl --config-check checks the environment's and prints their values.
`, strings.Join(stageNames(), "|"))

// stageNames lists the stages of the pipeline table, in order.
func stageNames() []string {
	var out []string
	for _, s := range contract.DefaultPipeline().StageNames() {
		out = append(out, string(s))
	}
	return out
}

// oneOf is names as prose: "a, b or c".
func oneOf(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("missing command")
	}
	switch args[0] {
	case "topics":
		if len(args) < 2 || args[1] != "create" {
			return fmt.Errorf("usage: vidpipectl topics create [--partitions N]")
		}
		return topicsCreate(ctx, args[2:], getenv, stdout)
	case "watch":
		return watchCmd(ctx, args[1:], getenv, stdout)
	case "dlq":
		if len(args) < 2 {
			return fmt.Errorf("usage: vidpipectl dlq list|redrive <stage>")
		}
		switch args[1] {
		case "list":
			return dlqList(ctx, args[2:], getenv, stdout)
		case "redrive":
			return dlqRedrive(ctx, args[2:], getenv, stdout)
		}
		return fmt.Errorf("unknown dlq command %q (list, redrive)", args[1])
	case "dev":
		return fmt.Errorf("the development stack is its own command: make run, or go run ./dev/cmd/vidpipe-dev")
	case "--" + config.ReferenceFlag, "--" + config.CheckFlag:
		return describeConfig(args, getenv)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// Command vidpipe-benchworker is the scaling benchmark's worker: a stage
// (stage.Run) whose handler sleeps a fixed time per event and returns a
// trivial video.transcoded, so that throughput depends only on how the
// consumer group spreads partitions over processes, not on CPU.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "vidpipe-benchworker:", err)
		os.Exit(1)
	}
}

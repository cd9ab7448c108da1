// Command vidpipe-bench runs the vidpipe benchmark scenarios (stage runtime
// overhead, upload, transcode, end to end, scaling, memory), prints a
// summary and writes docs/benchmarks.md. `make bench` runs it after the Go
// micro-benchmarks; run it with -h for the flags.
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
		fmt.Fprintln(os.Stderr, "vidpipe-bench:", err)
		os.Exit(1)
	}
}

// Command vidpipe-bench runs the vidpipe benchmark scenarios (stage runtime
// overhead, upload, transcode, end to end, scaling, memory, and issue 13's
// time to playable, chunk scaling on real encodes, crash during a chunked
// transcode, chunked work scaling and where short videos stop being cut),
// prints a summary and writes docs/benchmarks.md (-merge keeps the sections
// a partial run does not produce). `make bench` runs it after the Go
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

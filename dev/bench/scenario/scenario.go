// Package scenario holds the benchmark scenarios of `make bench`: each one
// sets up what it measures (real broker, MinIO, PostgreSQL, service
// processes), measures it against its baseline in the same run, and
// returns a report section with the medians, the ratios and the targets.
// Every wait is bounded, so a broken service fails the scenario instead of
// hanging the run.
package scenario

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/dev/bench/report"
	"github.com/vidpipe/vidpipe/dev/bench/stats"
	"github.com/vidpipe/vidpipe/platform/backoff"
)

// Env is what every scenario gets.
type Env struct {
	// Root is the repository root (holds go.work).
	Root string
	// Dir is a scratch directory for this run (data, logs, binaries).
	Dir string
	// Bin holds the service binaries (built by the driver).
	Bin string
	// Cache keeps generated test sources between runs (make bench:
	// .vidpipe/bench/media). Default: a directory under Dir (regenerated
	// every run).
	Cache string
	// Log receives progress lines.
	Log *slog.Logger
}

// Binary is the path of a built binary.
func (e Env) Binary(name string) string { return filepath.Join(e.Bin, name) }

// run times fn and stores its error in the section.
func run(s *report.Section, fn func() error) *report.Section {
	start := time.Now()
	if err := fn(); err != nil {
		s.Err = err
	}
	s.Elapsed = time.Since(start)
	return s
}

// discardLogger drops everything but still formats records at info level,
// as a service's logger does.
func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// Formatting helpers for table cells.

func f0(v float64) string { return num(v, "%.0f") }
func f1(v float64) string { return num(v, "%.1f") }
func f2(v float64) string { return num(v, "%.2f") }

func num(v float64, f string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf(f, v)
}

func ms(seconds float64) string { return num(seconds*1000, "%.1f ms") }

func mib(bytes int64) string {
	if bytes <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20))
}

// list prints samples, e.g. "812, 790, 845".
func list(xs []float64, f func(float64) string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = f(x)
	}
	return strings.Join(parts, ", ")
}

func ratioCheck(name string, value, baseline float64, unit string, target stats.Target) report.Check {
	return report.Check{
		Name:   name,
		Value:  stats.Ratio(value, baseline),
		Detail: fmt.Sprintf("%s vs %s %s", num(value, "%.4g"), num(baseline, "%.4g"), unit),
		Target: target,
	}
}

// The packages whose Go benchmarks the scenarios compile with go test -c and
// run in their own directory, relative to the repository root.
const (
	transcodePackageDir = "services/transcode" // BenchmarkTranscode
	sandboxPackageDir   = "platform/procgroup" // BenchmarkSandbox
)

// sleepCtx waits d or until ctx is done (then it returns ctx.Err()).
func sleepCtx(ctx context.Context, d time.Duration) error {
	if !backoff.Sleep(ctx, d) {
		return ctx.Err()
	}
	return nil
}

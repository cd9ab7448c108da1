package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/bench/report"
	"github.com/vidpipe/vidpipe/dev/bench/scenario"
	"github.com/vidpipe/vidpipe/dev/devstack"
	"github.com/vidpipe/vidpipe/dev/launch"
)

// binaries are built once, before the scenarios run: upload-api and every
// stage of the pipeline table (contract.DefaultPipeline), from their main
// packages (devstack.PackagePath), and the bench's own worker.
var binaries = benchBinaries(contract.DefaultPipeline())

// benchBinaries lists the main packages the scenarios start for p.
func benchBinaries(p contract.Pipeline) []string {
	out := []string{devstack.PackagePath(devstack.UploadAPI)}
	for _, s := range p.StageNames() {
		out = append(out, devstack.PackagePath(string(s)))
	}
	return append(out, "./dev/bench/cmd/vidpipe-benchworker")
}

// run parses the flags, builds the binaries, runs the selected scenarios
// in order, prints the summary to stdout and writes the report.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("vidpipe-bench", flag.ContinueOnError)
	out := fs.String("out", "docs/benchmarks.md", "report file, relative to the repository root (empty: do not write)")
	micro := fs.String("micro", "", "file holding `go test -bench -benchmem` output to include as the micro-benchmark table")
	only := fs.String("only", "1,2,3,4,5,6,8,9,10,11,12,13", "scenarios to run, comma-separated (1 runtime, 2 upload, 3 transcode, 4 end to end + 6 memory, 5 scaling, "+
		"8 time to playable, 9 chunk scaling on real encodes, 10 crash during a chunked transcode, 11 chunked work scaling, "+
		"12 where short videos stop being cut, 13 H.264, HEVC and AV1 at the same quality; 7 is -micro)")
	codecEncodes := fs.Int("codec-encodes", 4, "scenario 13: most encodes per codec while matching H.264's SSIM")
	merge := fs.Bool("merge", false, "keep the sections of the existing report (-out) that this run does not produce, each marked as from its earlier run")
	mediaCache := fs.String("media-cache", ".vidpipe/bench/media", "directory keeping the generated test sources between runs, relative to the repository root")
	playableShort := fs.Int("playable-short", 5, "scenario 8: uploads of the 60 s 1080p source")
	playableLong := fs.Int("playable-long", 3, "scenario 8: uploads of the 10-minute 1080p source")
	encodeRuns := fs.Int("encode-runs", 1, "scenarios 9 and 10: runs of each measurement (each is minutes of encoding)")
	thresholdLengths := fs.String("threshold-lengths", "2,4,8,16", "scenario 12: lengths in seconds of the short 1080p sources")
	spreadPartitions := fs.String("spread-partitions", "12", "scenario 11: partition counts of the work topic (default: the configuration's default, 12)")
	runs := fs.Int("runs", 3, "repetitions behind each median")
	transcodeRuns := fs.Int("transcode-runs", 5, "scenario 3: runs of BenchmarkTranscode (its samples are the noisiest)")
	rtPartitions := fs.String("runtime-partitions", "1,6", "scenario 1: partition counts")
	rtConcurrency := fs.String("runtime-concurrency", "1,2,4", "scenario 1: runtime.concurrency values")
	uploadMiB := fs.Int("upload-mib", 1024, "size of the upload scenario's file in MiB")
	timeout := fs.Duration("timeout", 40*time.Minute, "bound on the whole run; a scenario still running then fails (make bench takes about 25 minutes)")
	keep := fs.Bool("keep", false, "keep the scratch directory (data and service logs)")
	command := fs.String("command", "", "the command named in the report (default: this invocation, go run ./dev/bench/cmd/vidpipe-bench ARGS; make bench passes 'make bench')")
	root := fs.String("repo", "", "repository root (default: the nearest directory above the working directory holding go.work)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	selected := map[int]bool{}
	for _, f := range strings.Split(*only, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 13 || n == 7 {
			return fmt.Errorf("-only: %q is not a scenario number (1..6, 8..13)", f)
		}
		selected[n] = true
	}
	ps, err := ints(*rtPartitions)
	if err != nil {
		return fmt.Errorf("-runtime-partitions: %w", err)
	}
	cs, err := ints(*rtConcurrency)
	if err != nil {
		return fmt.Errorf("-runtime-concurrency: %w", err)
	}
	sps, err := ints(*spreadPartitions)
	if err != nil {
		return fmt.Errorf("-spread-partitions: %w", err)
	}
	tls, err := ints(*thresholdLengths)
	if err != nil {
		return fmt.Errorf("-threshold-lengths: %w", err)
	}
	if *runs < 1 {
		return errors.New("-runs must be at least 1")
	}
	if *codecEncodes < 2 {
		return errors.New("-codec-encodes must be at least 2 (the search starts from two encodes)")
	}
	if *root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		if *root, err = findRoot(wd); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if *command == "" {
		*command = strings.TrimSpace("go run ./dev/bench/cmd/vidpipe-bench " + strings.Join(args, " "))
	}
	rep := &report.Report{Command: *command, Machine: report.ReadMachine(), Started: time.Now()}
	rep.Notes = append(rep.Notes,
		"**Read these numbers as noisy.** This run shared its 2 cores with other agents compiling and testing at the same time "+
			"(see the load average above), so absolute figures vary from run to run. Each ratio compares two things measured back to back "+
			"in the same invocation, which cancels part of that noise, but not all of it: a MISS here is a reason to re-run on a quiet machine "+
			"before concluding anything.",
		"Targets come from the issues: stage runtime ≥ 0.8× a bare kafka-go loop; upload ≥ 0.9× a direct MinIO PUT for POST /v1/videos (0.8× for tus) with the API's peak RSS < 100 MiB; "+
			"transcode handler ≤ 1.10× bare ffmpeg and single-pass ≥ 1.2× faster than one ffmpeg per rung; end-to-end overhead outside ffmpeg < 1 s; "+
			"scaling ≥ 0.85× linear up to the partition count. Issue 13 (segments): time to playable p50 ≤ 2 s for a 60 s source and ≤ 3 s for a 10-minute one; "+
			"2 transcode processes ≥ 1.7× faster than 1 on real encodes (one long source, a backlog of four short ones); a kill -9 mid-transcode costs ≤ 1.25× the time; "+
			"chunked work ≥ 0.9× linear up to 4 processes.")

	dir, err := os.MkdirTemp("", "vidpipe-bench-")
	if err != nil {
		return err
	}
	// PostgreSQL runs as user postgres when we are root: it must be able
	// to traverse the scratch directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	} else {
		fmt.Fprintln(stdout, "scratch directory:", dir)
	}
	cache := *mediaCache
	if cache != "" && !filepath.IsAbs(cache) {
		cache = filepath.Join(*root, cache)
	}
	env := scenario.Env{Root: *root, Dir: dir, Bin: filepath.Join(dir, "bin"), Cache: cache, Log: log}

	log.Info("building binaries", "dir", env.Bin)
	buildStart := time.Now()
	if err := launch.Build(ctx, *root, env.Bin, nil, binaries...); err != nil {
		return err
	}
	log.Info("built", "took", time.Since(buildStart).Round(time.Millisecond))

	if *micro != "" {
		b, err := os.ReadFile(filepath.Join(*root, *micro))
		if err != nil {
			b, err = os.ReadFile(*micro)
		}
		if err != nil {
			return fmt.Errorf("-micro: %w", err)
		}
		rep.Sections = append(rep.Sections, microSection(string(b)))
	}

	type step struct {
		n   int
		run func() []*report.Section
	}
	steps := []step{
		{1, func() []*report.Section {
			return []*report.Section{scenario.Runtime(ctx, env, scenario.RuntimeOptions{Runs: *runs, Partitions: ps, Concurrency: cs})}
		}},
		{2, func() []*report.Section {
			return []*report.Section{scenario.Upload(ctx, env, scenario.UploadOptions{Runs: *runs, Bytes: int64(*uploadMiB) << 20})}
		}},
		{3, func() []*report.Section {
			return []*report.Section{scenario.Transcode(ctx, env, scenario.TranscodeOptions{Runs: *transcodeRuns})}
		}},
		{4, func() []*report.Section {
			return scenario.Pipeline(ctx, env, scenario.PipelineOptions{Runs: *runs})
		}},
		{5, func() []*report.Section {
			return []*report.Section{scenario.Scaling(ctx, env, scenario.ScalingOptions{Runs: *runs})}
		}},
		{8, func() []*report.Section {
			return []*report.Section{scenario.Playable(ctx, env, scenario.PlayableOptions{Short: *playableShort, Long: *playableLong})}
		}},
		{9, func() []*report.Section {
			// Scenario 10 shares scenario 9's 2-process run without a fault.
			return scenario.Encodes(ctx, env, scenario.EncodesOptions{Scaling: true, Crash: selected[10], Runs: *encodeRuns})
		}},
		{10, func() []*report.Section {
			if selected[9] {
				return nil // run with 9
			}
			return scenario.Encodes(ctx, env, scenario.EncodesOptions{Crash: true, Runs: *encodeRuns})
		}},
		{11, func() []*report.Section {
			return []*report.Section{scenario.Spread(ctx, env, scenario.SpreadOptions{Runs: *runs, Partitions: sps})}
		}},
		{12, func() []*report.Section {
			return []*report.Section{scenario.Threshold(ctx, env, scenario.ThresholdOptions{Runs: *runs, Lengths: tls})}
		}},
		{13, func() []*report.Section {
			return []*report.Section{scenario.Codecs(ctx, env, scenario.CodecsOptions{MaxEncodes: *codecEncodes})}
		}},
	}
	if selected[6] {
		selected[4] = true // memory is read from scenario 4's processes
	}
	for _, st := range steps {
		if !selected[st.n] {
			continue
		}
		if ctx.Err() != nil {
			rep.Sections = append(rep.Sections, &report.Section{Title: fmt.Sprintf("Scenario %d", st.n), Err: fmt.Errorf("not run: %w", ctx.Err())})
			continue
		}
		secs := st.run()
		for _, s := range secs {
			log.Info("scenario done", "title", s.Title, "took", s.Elapsed.Round(100*time.Millisecond), "err", s.Err)
		}
		rep.Sections = append(rep.Sections, secs...)
	}
	slices.SortStableFunc(rep.Sections, func(a, b *report.Section) int { return report.CompareTitles(a.Title, b.Title) })

	rep.Duration = time.Since(rep.Started)
	rep.Machine.LoadAfter = report.LoadAvg()
	if err := rep.Summary(stdout); err != nil {
		return err
	}
	if *out != "" {
		path := *out
		if !filepath.IsAbs(path) {
			path = filepath.Join(*root, path)
		}
		if *merge {
			old, err := os.ReadFile(path)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("-merge: %w", err)
			}
			rep.Kept = report.ParseKept(string(old))
		}
		var b strings.Builder
		if err := rep.Markdown(&b); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		fmt.Fprintln(stdout, "wrote", path)
	}
	return failedScenarios(rep.Sections)
}

// failedScenarios is an error naming every scenario that could not run to
// its end (a missed target is not one: the report shows it as MISS), so
// that `make bench` fails when a scenario breaks; nil when none did.
func failedScenarios(secs []*report.Section) error {
	var failed []string
	for _, s := range secs {
		if s.Err != nil {
			failed = append(failed, s.Title)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("%d scenario(s) failed (the report says why): %s", len(failed), strings.Join(failed, ", "))
}

// microSection is the table of the Go micro-benchmarks.
func microSection(output string) *report.Section {
	t := report.GoBench(output)
	s := &report.Section{
		Title: "7. Go micro-benchmarks",
		Intro: "`go test -run '^$' -bench . -benchmem` over ./contract and ./platform/stage: the pure code every record goes through " +
			"(encode/decode of each event type, CloudEvents and dead-letter headers, building the output record, header conversion). No targets; for regressions.",
		Tables: []report.Table{t},
	}
	if len(t.Rows) == 0 {
		s.Err = errors.New("no benchmark results in the -micro file")
	}
	return s
}

// findRoot returns the nearest directory at or above dir holding go.work.
func findRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work in %s or above: run inside the vidpipe repository or pass -repo", dir)
		}
	}
}

// ints parses a comma-separated list of positive integers.
func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

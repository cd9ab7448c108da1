package scenario

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/vidpipe/vidpipe/dev/bench/report"
	"github.com/vidpipe/vidpipe/dev/bench/stats"
)

// sandboxCost measures what the ffmpeg sandbox (platform/procgroup:
// helper re-exec with rlimits, minimal environment, own network namespace)
// costs, with procgroup's BenchmarkSandbox: per process (`ffmpeg
// -version`, 20 per sample) and on a 3-rung 720p encode (one per sample),
// plain and sandboxed interleaved, runs samples of each.
func sandboxCost(ctx context.Context, env Env, runs int) (report.Table, []report.Check, error) {
	tbl := report.Table{
		Caption: "ffmpeg sandbox cost (procgroup's BenchmarkSandbox; plain = exec.Command, sandbox = required mode, default limits; interleaved)",
		Header:  []string{"workload", "plain (median)", "sandbox (median)", "median of per-run ratios", "per run"},
	}
	bin := filepath.Join(env.Dir, "procgroup.test")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, "./"+sandboxPackageDir)
	build.Dir = env.Root
	if out, err := build.CombinedOutput(); err != nil {
		return tbl, nil, fmt.Errorf("go test -c ./%s: %w\n%s", sandboxPackageDir, err, out)
	}
	bench := func(name, benchtime string) (float64, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "-test.run", "^$", "-test.bench", "^BenchmarkSandbox$/^"+name+"$", "-test.benchtime", benchtime, "-test.count", "1")
		cmd.Dir = filepath.Join(env.Root, sandboxPackageDir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("BenchmarkSandbox/%s: %w\n%s", name, err, tail(string(out), 20))
		}
		sec, ok := benchSeconds(string(out))["BenchmarkSandbox/"+name]
		if !ok {
			return 0, fmt.Errorf("no result for BenchmarkSandbox/%s in:\n%s", name, tail(string(out), 20))
		}
		return sec, nil
	}
	var checks []report.Check
	for _, w := range []struct{ name, benchtime string }{{"start", "20x"}, {"encode", "1x"}} {
		var plain, sandboxed, ratios []float64
		for r := range runs {
			order := []string{"plain", "sandbox"}
			if r%2 == 1 {
				order = []string{"sandbox", "plain"}
			}
			got := map[string]float64{}
			for _, v := range order {
				sec, err := bench(w.name+"/"+v, w.benchtime)
				if err != nil {
					return tbl, nil, err
				}
				got[v] = sec
			}
			plain, sandboxed = append(plain, got["plain"]), append(sandboxed, got["sandbox"])
			ratios = append(ratios, stats.Ratio(got["sandbox"], got["plain"]))
		}
		ms := func(x float64) string { return fmt.Sprintf("%.1f ms", x*1000) }
		tbl.AddRow(w.name, ms(stats.Median(plain)), ms(stats.Median(sandboxed)), f2(stats.Median(ratios)), list(ratios, f2))
		if w.name == "encode" {
			checks = append(checks, report.Check{
				Name: "ffmpeg sandbox cost (sandbox ÷ plain, encode wall)", Value: stats.Median(ratios),
				Detail: fmt.Sprintf("median of %d per-run ratios; per-process fixed cost %.1f ms (start)", runs,
					(stats.Median(sandboxed)-stats.Median(plain))*1000),
				Target: stats.Target{Dir: stats.AtMost, Value: 1.03, Unit: "×"},
			})
		} else {
			checks = append(checks, report.Check{
				Name: "ffmpeg sandbox fixed cost per process", Value: (stats.Median(sandboxed) - stats.Median(plain)) * 1000,
				Detail: "median sandboxed minus median plain `ffmpeg -version`",
				Target: stats.Target{Dir: stats.AtMost, Value: 20, Unit: " ms"},
			})
		}
	}
	return tbl, checks, nil
}

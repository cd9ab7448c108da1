package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/bench/report"
)

func TestRunRejectsBadFlags(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string // substring of the error; "" means no error
	}{
		"help":               {args: []string{"-h"}},
		"unknown scenario":   {args: []string{"-only", "14"}, want: "not a scenario"},
		"one codec encode":   {args: []string{"-codec-encodes", "1"}, want: "-codec-encodes"},
		"bad lengths":        {args: []string{"-threshold-lengths", "2,x"}, want: "-threshold-lengths"},
		"7 is -micro":        {args: []string{"-only", "7"}, want: "not a scenario"},
		"bad spread list":    {args: []string{"-spread-partitions", "6,0"}, want: "-spread-partitions"},
		"zero runs":          {args: []string{"-runs", "0"}, want: "-runs"},
		"bad partition list": {args: []string{"-runtime-partitions", "1,x"}, want: "-runtime-partitions"},
		"bad concurrency":    {args: []string{"-runtime-concurrency", "0"}, want: "-runtime-concurrency"},
		"unknown flag":       {args: []string{"-nope"}, want: "not defined"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := run(context.Background(), tc.args, os.Getenv, io.Discard)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("run(%v) = %v, want nil", tc.args, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("run(%v) = %v, want an error containing %q", tc.args, err, tc.want)
			}
		})
	}
}

func TestInts(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    []int
		wantErr bool
	}{
		"list":     {in: "1, 2,4", want: []int{1, 2, 4}},
		"single":   {in: "6", want: []int{6}},
		"zero":     {in: "0", wantErr: true},
		"not a nr": {in: "a", wantErr: true},
		"empty":    {in: "", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ints(tc.in)
			if (err != nil) != tc.wantErr || (!tc.wantErr && !equal(got, tc.want)) {
				t.Fatalf("ints(%q) = %v, %v", tc.in, got, err)
			}
		})
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFindRoot(t *testing.T) {
	dir := t.TempDir()
	deep := filepath.Join(dir, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := findRoot(deep); err == nil {
		t.Fatal("found a root where there is no go.work")
	}
	if err := os.WriteFile(filepath.Join(dir, "go.work"), []byte("go 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := findRoot(deep)
	if err != nil || got != dir {
		t.Fatalf("findRoot = %q, %v; want %q", got, err, dir)
	}
}

func TestMicroSection(t *testing.T) {
	s := microSection("pkg: github.com/vidpipe/vidpipe/contract\nBenchmarkX-2 \t 10\t 5 ns/op\n")
	if s.Err != nil || len(s.Tables) != 1 || len(s.Tables[0].Rows) != 1 {
		t.Fatalf("section %+v", s)
	}
	if s := microSection("PASS\n"); s.Err == nil {
		t.Fatal("no results, no error")
	}
}

// The bench builds upload-api, every stage of the table (a stage added to
// contract.DefaultPipeline needs no edit here) and its own worker.
func TestBenchBinaries(t *testing.T) {
	t.Parallel()
	want := []string{
		"./services/upload-api/cmd/upload-api",
		"./services/transcode/cmd/transcode",
		"./services/thumbnail/cmd/thumbnail",
		"./services/indexer/cmd/indexer",
		"./dev/bench/cmd/vidpipe-benchworker",
	}
	if !slices.Equal(binaries, want) {
		t.Errorf("binaries = %q, want %q", binaries, want)
	}
	p, err := contract.DefaultPipeline().With(contract.StageSpec{
		Name: "captions", Input: contract.TopicReady, DLQ: "video.captions.dlq",
		Output: contract.Step{Topic: "video.captioned", Type: "dev.vidpipe.video.captioned.v1", Status: "captioned", Decode: contract.DecodeAs[contract.VideoReady]},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := benchBinaries(p); !slices.Contains(got, "./services/captions/cmd/captions") {
		t.Errorf("with a captions stage: %q lacks ./services/captions/cmd/captions", got)
	}
}

// TestFailedScenariosFailTheRun: a scenario that broke (as "3. Transcode"
// did when its package moved) makes the run fail; a missed target does not.
func TestFailedScenariosFailTheRun(t *testing.T) {
	ok := &report.Section{Title: "1. Stage runtime"}
	if err := failedScenarios([]*report.Section{ok}); err != nil {
		t.Fatalf("failedScenarios(ok) = %v, want nil", err)
	}
	broken := &report.Section{Title: "3. Transcode", Err: errors.New("go test -c ./transcode: exit status 1")}
	err := failedScenarios([]*report.Section{ok, broken})
	if err == nil || !strings.Contains(err.Error(), "3. Transcode") {
		t.Fatalf("failedScenarios(broken) = %v, want an error naming 3. Transcode", err)
	}
}

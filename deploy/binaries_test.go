package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/deploy/configkeys"
)

// vidpipeModule prefixes every module of the repository.
const vidpipeModule = "github.com/vidpipe/vidpipe"

// devTooling are the modules and package trees no shipped binary may
// link: the fake Kafka broker and vidpipe's dev tooling (test servers,
// server launchers, the dev stack, e2e, bench).
var devTooling = []string{
	"github.com/twmb/franz-go/pkg/kfake",
	vidpipeModule + "/dev",
}

// testOnlyPackages are standard-library packages only tests need.
var testOnlyPackages = []string{"testing", "net/http/httptest"}

// moduleOf returns the vidpipe module a shipped binary's main package is
// in: a service's own module (services/NAME), platform for the admin CLI,
// deploy for the probe.
func moduleOf(binary string) string {
	dir := mainPackageDir(binary)
	mod, _, _ := strings.Cut(dir, "/cmd/")
	return vidpipeModule + "/" + mod
}

// allowedVidpipeDeps are the vidpipe modules a shipped binary may link
// besides its own: a service (upload-api or a stage) links contract and
// platform, never another service, except that upload-api serves the
// webhooks service's /v1/webhooks API (its endpoints package: one origin,
// one auth); vidpipectl (in platform) contract; the probe nothing.
func allowedVidpipeDeps(binary string) []string {
	switch binary {
	case healthcheck:
		return nil
	case "vidpipectl":
		return []string{vidpipeModule + "/contract"}
	case "upload-api":
		return []string{vidpipeModule + "/contract", vidpipeModule + "/platform", vidpipeModule + "/services/webhooks"}
	}
	return []string{vidpipeModule + "/contract", vidpipeModule + "/platform"}
}

// underAny reports whether path is one of roots or below one of them.
func underAny(path string, roots []string) bool {
	for _, r := range roots {
		if path == r || strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}

// linkProblems returns what is wrong with what binary links: info is its
// build information (`go version -m`), deps the import paths of every
// package it is built from (`go list -deps`). Each message names the
// binary and the module or package.
func linkProblems(binary string, info *debug.BuildInfo, deps []string) []string {
	var out []string
	wantMain := moduleOf(binary)
	if info.Main.Path != wantMain {
		out = append(out, fmt.Sprintf("%s: main module %s, want %s", binary, info.Main.Path, wantMain))
	}
	mods := []string{info.Main.Path}
	for _, d := range info.Deps {
		mods = append(mods, d.Path)
	}
	for _, m := range mods {
		switch {
		case underAny(m, devTooling):
			out = append(out, fmt.Sprintf("%s links module %s: dev and test tooling must stay out of shipped binaries", binary, m))
		case m != info.Main.Path && underAny(m, []string{vidpipeModule}) && !slices.Contains(allowedVidpipeDeps(binary), m):
			out = append(out, fmt.Sprintf("%s links module %s: it may link only %v of vidpipe's modules besides its own (%s)", binary, m, allowedVidpipeDeps(binary), wantMain))
		}
	}
	for _, p := range deps {
		if underAny(p, testOnlyPackages) || underAny(p, devTooling) {
			out = append(out, fmt.Sprintf("%s links package %s: dev and test tooling must stay out of shipped binaries", binary, p))
		}
	}
	return out
}

// goCmd runs the go command in the repository root (the workspace) with
// the builder's environment (CGO_ENABLED=0, -buildvcs=false) and returns
// its standard output.
func goCmd(tb testing.TB, args ...string) []byte {
	tb.Helper()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.CommandContext(tb.Context(), "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// MustVersionM returns the build information of a binary, as
// `go version -m` reads it from the file.
func MustVersionM(tb testing.TB, binary string) *debug.BuildInfo {
	tb.Helper()
	var info debug.BuildInfo
	if err := json.Unmarshal(goCmd(tb, "version", "-m", "-json", binary), &info); err != nil {
		tb.Fatalf("go version -m -json %s: %v", binary, err)
	}
	if info.Main.Path == "" {
		tb.Fatalf("go version -m %s: no main module", binary)
	}
	return &info
}

// MustDeps returns the import paths each package of dirs is built from
// (itself and its transitive imports), keyed by directory.
func MustDeps(tb testing.TB, dirs ...string) map[string][]string {
	tb.Helper()
	args := []string{"list", "-f", "{{.Dir}}\t{{.ImportPath}} {{join .Deps \" \"}}"}
	for _, d := range dirs {
		args = append(args, "./"+d)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]string{}
	for line := range strings.Lines(string(goCmd(tb, args...))) {
		dir, deps, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if !ok {
			continue
		}
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			tb.Fatal(err)
		}
		out[filepath.ToSlash(rel)] = strings.Fields(deps)
	}
	for _, d := range dirs {
		if len(out[d]) == 0 {
			tb.Fatalf("go list %s: no packages", d)
		}
	}
	return out
}

// devStackDir is the dev stack's CLI (was `vidpipectl dev` before the
// layout split): it links the fake broker and the dev module, so it is the
// control that proves the check catches them.
const devStackDir = "dev/cmd/vidpipe-dev"

// Every binary the images ship is built as the Dockerfile's builder builds
// it (its go build list, CGO_ENABLED=0, -trimpath); `go version -m` then
// shows which modules it links, and `go list -deps` which packages: no dev
// or test tooling (kfake, vidpipe's dev module, testing), and of vidpipe's
// modules only contract, platform and its own (upload-api must not link a
// stage's module, a stage not another's).
func TestShippedBinariesLinkNoDevTooling(t *testing.T) {
	t.Parallel()
	built := MustBuiltPackages(t, MustDockerfile(t))
	dirs := []string{devStackDir}
	for _, d := range built {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	out := string(MustShippedBinaries(t))
	deps := MustDeps(t, dirs...)

	for _, bin := range slices.Sorted(maps.Keys(built)) {
		t.Run(bin, func(t *testing.T) {
			info := MustVersionM(t, filepath.Join(out, bin))
			for _, p := range linkProblems(bin, info, deps[built[bin]]) {
				t.Error(p)
			}
		})
	}

	// The control: the dev stack links exactly what the check looks for.
	t.Run("control "+filepath.Base(devStackDir), func(t *testing.T) {
		bin := filepath.Base(devStackDir)
		info := MustVersionM(t, filepath.Join(out, bin))
		problems := strings.Join(linkProblems(bin, info, deps[devStackDir]), "\n")
		for _, want := range []string{
			bin + " links module github.com/twmb/franz-go/pkg/kfake:",
			bin + " links module github.com/vidpipe/vidpipe/dev:",
			bin + " links package github.com/twmb/franz-go/pkg/kfake:",
			bin + " links package github.com/vidpipe/vidpipe/dev/",
		} {
			if !strings.Contains(problems, want) {
				t.Errorf("the check does not report %q for the dev stack; it reports:\n%s", want, problems)
			}
		}
	})
}

// shipped is the one build, per test binary, of every binary the images
// ship (the Dockerfile builder's go build list) and of the dev stack's CLI
// (the link check's control), into dir, which TestMain removes.
var shipped struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shipped.dir != "" {
		os.RemoveAll(shipped.dir)
	}
	os.Exit(code)
}

// MustShippedBinaries returns the directory of the shipped binaries, built
// on first use as the builder builds them (CGO_ENABLED=0, -trimpath): the
// link check reads them, and the configuration checks run them with
// --config-reference and --config-check (configkeys).
func MustShippedBinaries(tb testing.TB) configkeys.Dir {
	tb.Helper()
	shipped.once.Do(func() {
		// Set until the build succeeds: a Fatal below (in the first
		// caller) leaves it for the others.
		shipped.err = errors.New("the build failed in another test")
		dir, err := os.MkdirTemp("", "vidpipe-deploy-bin-")
		if err != nil {
			shipped.err = err
			return
		}
		shipped.dir = dir
		root, err := filepath.Abs(repoRoot)
		if err != nil {
			shipped.err = err
			return
		}
		dirs := []string{devStackDir}
		for _, d := range MustBuiltPackages(tb, MustDockerfile(tb)) {
			dirs = append(dirs, d)
		}
		slices.Sort(dirs)
		_, shipped.err = configkeys.Build(context.Background(), root, dir, dirs...)
	})
	if shipped.err != nil {
		tb.Fatalf("build the shipped binaries: %v", shipped.err)
	}
	return configkeys.Dir(shipped.dir)
}

// linkProblems on hand-made build information: each rule names the binary
// and the module or package.
func TestLinkProblems(t *testing.T) {
	t.Parallel()
	mod := func(p string) *debug.Module { return &debug.Module{Path: p, Version: "(devel)"} }
	clean := &debug.BuildInfo{Main: *mod(vidpipeModule + "/services/transcode"),
		Deps: []*debug.Module{mod(vidpipeModule + "/contract"), mod(vidpipeModule + "/platform"), mod("github.com/segmentio/kafka-go")}}
	if p := linkProblems("transcode", clean, []string{"fmt", "github.com/segmentio/kafka-go"}); len(p) != 0 {
		t.Errorf("a clean worker: %q", p)
	}
	tests := map[string]struct {
		binary string
		info   *debug.BuildInfo
		deps   []string
		want   []string
	}{
		"kfake": {"transcode", &debug.BuildInfo{Main: clean.Main, Deps: append(slices.Clone(clean.Deps), mod("github.com/twmb/franz-go/pkg/kfake"))}, nil,
			[]string{"transcode links module github.com/twmb/franz-go/pkg/kfake: dev and test tooling must stay out of shipped binaries"}},
		"dev module": {"vidpipectl", &debug.BuildInfo{Main: *mod(vidpipeModule + "/platform"), Deps: []*debug.Module{mod(vidpipeModule + "/contract"), mod(vidpipeModule + "/dev")}},
			[]string{"github.com/vidpipe/vidpipe/dev/harness"},
			[]string{"vidpipectl links module github.com/vidpipe/vidpipe/dev: dev and test tooling must stay out of shipped binaries",
				"vidpipectl links package github.com/vidpipe/vidpipe/dev/harness: dev and test tooling must stay out of shipped binaries"}},
		"testing": {"indexer", &debug.BuildInfo{Main: *mod(vidpipeModule + "/services/indexer")}, []string{"testing", "testing/iotest", "net/http/httptest", "testingx"},
			[]string{"indexer links package testing: dev and test tooling must stay out of shipped binaries",
				"indexer links package testing/iotest: dev and test tooling must stay out of shipped binaries",
				"indexer links package net/http/httptest: dev and test tooling must stay out of shipped binaries"}},
		"another service": {"upload-api", &debug.BuildInfo{Main: *mod(vidpipeModule + "/services/upload-api"), Deps: []*debug.Module{mod(vidpipeModule + "/services/indexer")}}, nil,
			[]string{"upload-api links module github.com/vidpipe/vidpipe/services/indexer: it may link only [github.com/vidpipe/vidpipe/contract github.com/vidpipe/vidpipe/platform github.com/vidpipe/vidpipe/services/webhooks] of vidpipe's modules besides its own (github.com/vidpipe/vidpipe/services/upload-api)"}},
		"wrong main module": {string(contract.StageThumbnail), &debug.BuildInfo{Main: *mod(vidpipeModule + "/platform")}, nil,
			[]string{"thumbnail: main module github.com/vidpipe/vidpipe/platform, want github.com/vidpipe/vidpipe/services/thumbnail"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := linkProblems(tt.binary, tt.info, tt.deps); !slices.Equal(got, tt.want) {
				t.Errorf("linkProblems:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

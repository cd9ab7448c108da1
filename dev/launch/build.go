package launch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// Build compiles the main packages pkgs (import paths, or paths relative
// to dir such as ./services/indexer/cmd/indexer) into outDir, created if
// needed, with one `go build -o outDir/ pkgs...` run in dir (empty: the
// current directory). Each binary is named after the last element of its
// package path. The compiler's output goes to out when it is not nil, else
// into the error of a failed build. The go command comes from PATH; it
// runs in its own process group, killed with its compilers when ctx ends.
func Build(ctx context.Context, dir, outDir string, out io.Writer, pkgs ...string) error {
	return buildInto(ctx, dir, outDir, out, pkgs, false)
}

// BuildStatic is [Build] as deploy/Dockerfile's builder builds the shipped
// binaries: CGO_ENABLED=0, GOFLAGS=-buildvcs=false and -trimpath, so that what a check reads from
// them (go version -m, the packages linked) is what the image holds.
func BuildStatic(ctx context.Context, dir, outDir string, out io.Writer, pkgs ...string) error {
	return buildInto(ctx, dir, outDir, out, pkgs, true)
}

// buildInto builds pkgs into the directory outDir, created if needed.
func buildInto(ctx context.Context, dir, outDir string, out io.Writer, pkgs []string, static bool) error {
	if len(pkgs) == 0 {
		return errors.New("go build: no packages")
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("bin directory: %w", err)
	}
	return goBuild(ctx, dir, outDir+string(os.PathSeparator), out, pkgs, static)
}

// BuildBinary is [Build] of one main package pkg into the file outPath
// (its directory created if needed), whatever the package's name.
func BuildBinary(ctx context.Context, dir, outPath string, out io.Writer, pkg string) error {
	if err := os.MkdirAll(filepath.Dir(outPath), 0o755); err != nil {
		return fmt.Errorf("bin directory: %w", err)
	}
	return goBuild(ctx, dir, outPath, out, []string{pkg}, false)
}

// goBuild runs `go build -o output pkgs...` in dir; static adds -trimpath
// and the image builder's environment (CGO_ENABLED=0, GOFLAGS=-buildvcs=false).
func goBuild(ctx context.Context, dir, output string, out io.Writer, pkgs []string, static bool) error {
	what := strings.Join(pkgs, " ")
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go command is not in PATH (needed to build %s): %w", what, err)
	}
	var buf bytes.Buffer
	w := out
	if w == nil {
		w = &buf
	}
	args := []string{"build", "-o", output}
	var env []string // nil: this process's environment
	if static {
		args = append(args, "-trimpath")
		env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	}
	args = append(args, pkgs...)
	p, err := procgroup.Start(ctx, procgroup.Spec{Name: "go build", Path: goBin, Args: args, Env: env, Dir: dir, Stdout: w, Stderr: w})
	if err != nil {
		return err
	}
	err = p.Wait()
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("go build %s: %w", what, ctx.Err())
	case out == nil:
		return fmt.Errorf("go build %s: %w\n%s", what, err, bytes.TrimSpace(buf.Bytes()))
	}
	return fmt.Errorf("go build %s: %w", what, err)
}

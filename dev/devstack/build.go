package devstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/vidpipe/vidpipe/dev/launch"
)

// FindRepoRoot returns the nearest directory at or above dir that holds a
// go.work file: the root of the vidpipe workspace.
func FindRepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work in %s or any parent: run vidpipe-dev inside the vidpipe repository, or pass --repo", dir)
		}
	}
}

// PackagePath is the main package of svc relative to the repository root:
// ./services/SERVICE/cmd/SERVICE.
func PackagePath(svc string) string { return "./services/" + svc + "/cmd/" + svc }

// Build compiles each of services with `go build -o binDir/SERVICE PKG`
// in the repository root (dev/launch), PKG being packages[SERVICE] when
// set (a main package outside services/, e.g. a test's stage) and
// PackagePath(SERVICE) otherwise, one after the other (the build cache
// makes the later ones quick), with the compiler's output going to out
// under the name "build". It stops at the first service that does not
// build and names it.
func Build(ctx context.Context, root, binDir string, services []string, packages map[string]string, out *Output) error {
	for _, svc := range services {
		pkg, ok := packages[svc]
		if !ok {
			pkg = PackagePath(svc)
		}
		w := out.Writer("build")
		err := launch.BuildBinary(ctx, root, filepath.Join(binDir, svc), w, pkg)
		w.Close()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return fmt.Errorf("build %s (go build %s in %s) failed: see the [build] lines above", svc, pkg, root)
			}
			return fmt.Errorf("build %s: %w", svc, err)
		}
	}
	return nil
}

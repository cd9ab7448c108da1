package e2e_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/launch"
	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// serviceNames are the services the tests run: upload-api, then the
// pipeline's stages in order (contract.DefaultPipeline).
func serviceNames() []string {
	names := []string{"upload-api"}
	for _, s := range contract.DefaultPipeline().StageNames() {
		names = append(names, string(s))
	}
	return names
}

// servicePackage is the main package of service name.
func servicePackage(name string) string {
	return "github.com/vidpipe/vidpipe/services/" + name + "/cmd/" + name
}

// binaries are the service binaries, built once per test binary.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// mustBinary returns the path of the named service binary, building all of
// them on first use.
func mustBinary(tb testing.TB, name string) string {
	tb.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "vidpipe-e2e-bin-")
		if buildErr != nil {
			return
		}
		var pkgs []string
		for _, s := range serviceNames() {
			pkgs = append(pkgs, servicePackage(s))
		}
		buildErr = launch.Build(context.Background(), "", binDir, nil, pkgs...)
	})
	if buildErr != nil {
		tb.Fatalf("building service binaries: %v", buildErr)
	}
	return filepath.Join(binDir, name)
}

// service is a running service process.
type service struct {
	name string
	proc *procgroup.Process
	out  *logLines
}

// startService starts a service binary (through procgroup: own process
// group, killed if the test process dies) with env (KEY=VALUE pairs added
// to the environment); its output goes to the test log, prefixed with
// name. It is stopped when the test ends.
func startService(tb testing.TB, name, bin string, env ...string) *service {
	tb.Helper()
	out := &logLines{tb: tb, prefix: "[" + name + "] "}
	p, err := procgroup.Start(context.Background(), procgroup.Spec{
		Name: name, Path: bin, Env: append(os.Environ(), env...), Stdout: out, Stderr: out,
	})
	if err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	s := &service{name: name, proc: p, out: out}
	tb.Cleanup(func() { s.stop(tb) })
	return s
}

// stop sends SIGTERM and waits (up to 30s, then kills the process group)
// for the process to exit.
func (s *service) stop(tb testing.TB) {
	if err := s.proc.Stop(syscall.SIGTERM, 30*time.Second); err != nil {
		tb.Errorf("%v", err)
	}
	s.out.flush()
}

// logLines is an io.Writer that sends each complete line to tb.Logf with
// a prefix; flush sends the rest.
type logLines struct {
	tb     testing.TB
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		l.tb.Logf("%s%s", l.prefix, l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}

func (l *logLines) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.tb.Logf("%s%s", l.prefix, l.buf)
		l.buf = nil
	}
}

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

func joinBrokers(b []string) string { return strings.Join(b, ",") }

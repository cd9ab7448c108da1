package e2e_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binaries are the service binaries, built once per test binary.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

var servicePkgs = map[string]string{
	"transcode":  "github.com/vidpipe/vidpipe/services/transcode/cmd/transcode",
	"thumbnail":  "github.com/vidpipe/vidpipe/services/thumbnail/cmd/thumbnail",
	"indexer":    "github.com/vidpipe/vidpipe/services/indexer/cmd/indexer",
	"upload-api": "github.com/vidpipe/vidpipe/services/upload-api/cmd/upload-api",
}

// mustBinary returns the path of the named service binary, building all of
// them on first use.
func mustBinary(tb testing.TB, name string) string {
	tb.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "vidpipe-e2e-bin-")
		if buildErr != nil {
			return
		}
		args := []string{"build", "-o", binDir + string(os.PathSeparator)}
		for _, p := range servicePkgs {
			args = append(args, p)
		}
		cmd := exec.Command("go", args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatalf("building service binaries: %v", buildErr)
	}
	return filepath.Join(binDir, name)
}

// service is a running service process.
type service struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// startService starts a service binary with env (KEY=VALUE pairs added to
// the environment); its output goes to the test log, prefixed with name.
func startService(tb testing.TB, name, bin string, env ...string) *service {
	tb.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	s := &service{name: name, cmd: cmd, done: make(chan struct{})}
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			tb.Logf("[%s] %s", name, sc.Text())
		}
	}()
	go func() {
		_ = cmd.Wait()
		pw.Close()
		<-logDone
		close(s.done)
	}()
	tb.Cleanup(func() { s.stop(tb) })
	return s
}

// stop sends SIGTERM and waits (bounded) for the process to exit.
func (s *service) stop(tb testing.TB) {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
		tb.Errorf("%s did not stop within 30s of SIGTERM", s.name)
	}
}

// waitHealthy polls url until it answers 200.
func waitHealthy(tb testing.TB, url string, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s not healthy within %v (last: %v)", url, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

func joinBrokers(b []string) string { return strings.Join(b, ",") }

package launch

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestBuild(t *testing.T) {
	out := t.TempDir()
	if err := Build(context.Background(), ".", filepath.Join(out, "bin"), nil, "./testdata/hello"); err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(filepath.Join(out, "bin", "hello")).Output()
	if err != nil || string(got) != "hello\n" {
		t.Fatalf("built binary printed %q, %v", got, err)
	}
	err = Build(context.Background(), ".", out, nil, "./testdata/broken")
	if err == nil || !strings.Contains(err.Error(), "undefinedFunction") || !strings.Contains(err.Error(), "./testdata/broken") {
		t.Fatalf("Build of a broken package = %v, want the compiler's message", err)
	}
	if err := BuildBinary(context.Background(), ".", filepath.Join(out, "sub", "greeter"), nil, "./testdata/hello"); err != nil {
		t.Fatal(err)
	}
	if got, err := exec.Command(filepath.Join(out, "sub", "greeter")).Output(); err != nil || string(got) != "hello\n" {
		t.Fatalf("BuildBinary's binary printed %q, %v", got, err)
	}
	var compiler strings.Builder
	err = Build(context.Background(), ".", out, &compiler, "./testdata/broken")
	if err == nil || strings.Contains(err.Error(), "undefinedFunction") || !strings.Contains(compiler.String(), "undefinedFunction") {
		t.Fatalf("Build with an output writer = %v (output %q), want the message in the writer", err, compiler.String())
	}
}

// TestBuildStatic: the binary is built as the image's builder builds it
// (no cgo, trimmed paths), which go version -m shows.
func TestBuildStatic(t *testing.T) {
	out := t.TempDir()
	if err := BuildStatic(context.Background(), ".", out, nil, "./testdata/hello"); err != nil {
		t.Fatal(err)
	}
	info, err := exec.Command("go", "version", "-m", filepath.Join(out, "hello")).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"-trimpath=true", "CGO_ENABLED=0"} {
		if !strings.Contains(string(info), want) {
			t.Errorf("go version -m lacks %s:\n%s", want, info)
		}
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] || p == 0 {
			t.Fatalf("ports %v are not distinct", ports)
		}
		seen[p] = true
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("listen on the free port %d: %v", p, err)
		}
		l.Close()
	}
	addr := MustFreeAddr(t)
	if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
		t.Errorf("FreeAddr = %q", addr)
	}
	start, err := FreePortRun(3)
	if err != nil || start < 20000 || start+3 > 32000 {
		t.Fatalf("FreePortRun = %d, %v", start, err)
	}
	for p := start; p < start+3; p++ {
		if !portFree(p) {
			t.Errorf("port %d of the run is taken", p)
		}
	}
}

func TestWaitHTTP(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if err := WaitHTTP(context.Background(), srv.URL, 10*time.Second); err != nil {
		t.Fatalf("WaitHTTP = %v", err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d requests, want 3 (two 503, then 200)", n)
	}
	if err := HTTPOK(srv.URL)(context.Background()); err != nil {
		t.Errorf("HTTPOK = %v", err)
	}

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	err := WaitHTTP(context.Background(), down.URL, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "503") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitHTTP of a 503 = %v, want a timeout naming the status", err)
	}
}

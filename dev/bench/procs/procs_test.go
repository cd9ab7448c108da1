package procs

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/dev/launch"
	"github.com/vidpipe/vidpipe/platform/procgroup"
)

func TestStatusKiB(t *testing.T) {
	status := "Name:\tfoo\nVmPeak:\t  20000 kB\nVmHWM:\t    5120 kB\nVmRSS:\t    4096 kB\nThreads:\t7\n"
	tests := map[string]struct {
		field   string
		want    int64
		wantErr bool
	}{
		"peak":       {field: "VmHWM", want: 5120},
		"current":    {field: "VmRSS", want: 4096},
		"missing":    {field: "VmSwap", wantErr: true},
		"not in kB":  {field: "Threads", wantErr: true},
		"name field": {field: "Name", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := StatusKiB([]byte(status), tc.field)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("StatusKiB(%s) = %d, %v; want %d, error %v", tc.field, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestStartReadStop(t *testing.T) {
	dir := t.TempDir()
	p, err := Start(context.Background(), procgroup.Spec{Name: "sleeper", Path: "/bin/sh", Args: []string{"-c", "echo hello; exec sleep 30"}, LogPath: filepath.Join(dir, "log")})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.LogTail(1<<10), "hello") {
		if time.Now().After(deadline) {
			t.Fatalf("log never got the output: %q", p.LogTail(1<<10))
		}
		time.Sleep(20 * time.Millisecond)
	}
	peak, err := p.PeakRSS()
	if err != nil || peak <= 0 {
		t.Fatalf("PeakRSS = %d, %v", peak, err)
	}
	if cpu, err := p.CPUSeconds(); err != nil || cpu < 0 {
		t.Fatalf("CPUSeconds = %v, %v", cpu, err)
	}
	if err := p.Stop(syscall.SIGTERM, 5*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if done, _ := p.Exited(); !done {
		t.Fatal("not exited after Stop")
	}
}

func TestWaitHTTPReportsExit(t *testing.T) {
	dir := t.TempDir()
	p, err := Start(context.Background(), procgroup.Spec{Name: "quitter", Path: "/bin/sh", Args: []string{"-c", "echo bye; exit 3"}, LogPath: filepath.Join(dir, "log")})
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitHTTP(context.Background(), "http://"+launch.MustFreeAddr(t)+"/healthz", 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "quitter exited") || !strings.Contains(err.Error(), "bye") {
		t.Fatalf("WaitHTTP = %v, want an exit error with the log tail", err)
	}
}

func TestStatCPUSeconds(t *testing.T) {
	tests := map[string]struct {
		stat    string
		want    float64
		wantErr bool
	}{
		"plain":          {stat: "1234 (upload-api) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 9 0 100 0 0", want: 3.1},
		"space in name":  {stat: "1234 (my proc) R 1 1 1 0 -1 0 0 0 0 0 100 0 0 0 20 0 1 0 1 0 0", want: 1},
		"truncated":      {stat: "1234 (x) S 1 2 3", wantErr: true},
		"no parenthesis": {stat: "garbage", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := StatCPUSeconds([]byte(tc.stat))
			if (err != nil) != tc.wantErr || (!tc.wantErr && (got < tc.want-1e-9 || got > tc.want+1e-9)) {
				t.Fatalf("StatCPUSeconds = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseSystemCPU(t *testing.T) {
	busy, total, err := ParseSystemCPU([]byte("cpu  100 20 30 400 50 6 4 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	if err != nil || busy != 1.6 || total != 6.1 {
		t.Fatalf("got %v, %v, %v; want 1.6, 6.1", busy, total, err)
	}
	if _, _, err := ParseSystemCPU([]byte("intr 1 2\n")); err == nil {
		t.Fatal("parsed a stat without a cpu line")
	}
	if b, tot, err := SystemCPU(); err != nil || b <= 0 || tot < b {
		t.Fatalf("SystemCPU() = %v, %v, %v", b, tot, err)
	}
}

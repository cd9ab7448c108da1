package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/procgroup"
	"github.com/vidpipe/vidpipe/services/transcode"
)

func init() {
	// The child of TestRunRefusesToStartWithoutSandbox, before TestMain.
	if os.Getenv("TRANSCODE_TEST_NO_NAMESPACES") == "1" {
		os.Exit(refuseWithoutNamespaces())
	}
}

// refuseWithoutNamespaces forbids user namespaces in its own user
// namespace, drops to uid 1000 (no network namespace either), and runs the
// worker with transcode.sandbox=required, which must refuse to start.
func refuseWithoutNamespaces() int {
	if err := harness.DropNamespaces(); err != nil {
		fmt.Println(err)
		return 2
	}
	env := map[string]string{"VIDPIPE_KAFKA_BROKERS": "127.0.0.1:1", "VIDPIPE_S3_BUCKET": "vidpipe",
		"VIDPIPE_S3_ENDPOINT": "127.0.0.1:1", "VIDPIPE_S3_ACCESS_KEY": "k", "VIDPIPE_S3_SECRET_KEY": "secret-key"}
	err := run(context.Background(), []string{"--transcode.sandbox=required", "--transcode.temp_dir=/tmp"},
		func(k string) string { return env[k] }, os.Stdout)
	if err == nil || !strings.Contains(err.Error(), "sandbox unavailable") || !strings.Contains(err.Error(), "transcode.sandbox") {
		fmt.Printf("run = %v, want a refusal naming transcode.sandbox\n", err)
		return 1
	}
	fmt.Println("refused:", err)
	return 0
}

func TestRunRefusesToStartWithoutSandbox(t *testing.T) {
	harness.RunWithoutNamespaces(t, "TRANSCODE_TEST_NO_NAMESPACES")
}

// gauge returns vidpipe_sandbox_active's value and mode label.
func gauge(t *testing.T, reg *prometheus.Registry) (float64, string) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "vidpipe_sandbox_active" {
			m := mf.GetMetric()[0]
			return m.GetGauge().GetValue(), m.GetLabel()[0].GetValue()
		}
	}
	t.Fatal("no vidpipe_sandbox_active")
	return 0, ""
}

func TestStartSandboxReportsOnReadyzAndMetrics(t *testing.T) {
	t.Cleanup(func() { procgroup.SetDefault(nil) })
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		mode, check string
		value       float64
	}{
		{"required", "sandbox: active (network namespace)", 1},
		{"auto", "sandbox: active (network namespace)", 1},
		{"off", "sandbox: inactive (off)", 0},
	} {
		var cfg transcode.Config
		if err := config.Load("transcode", []string{"--transcode.sandbox=" + tc.mode}, nil, &cfg); err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		check, err := startSandbox(context.Background(), cfg, slog.New(slog.DiscardHandler), reg)
		if err != nil {
			t.Fatalf("%s: %v", tc.mode, err)
		}
		if check.Name != tc.check || check.Fn(context.Background()) != nil {
			t.Errorf("%s: check %q, want %q passing", tc.mode, check.Name, tc.check)
		}
		if v, mode := gauge(t, reg); v != tc.value || mode != tc.mode {
			t.Errorf("%s: vidpipe_sandbox_active{mode=%q} = %v, want %v", tc.mode, mode, v, tc.value)
		}
		st := procgroup.Default().Status()
		if st.Mode != procgroup.Mode(tc.mode) || st.Limits.CPUTime < cfg.Stage.AttemptTimeout {
			t.Errorf("%s: default sandbox %+v", tc.mode, st)
		}
		if st.Limits.AddressSpace != 16<<30 {
			t.Errorf("%s: address space limit %d, want transcode.sandbox_max_memory", tc.mode, st.Limits.AddressSpace)
		}
	}
}

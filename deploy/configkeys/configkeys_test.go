package configkeys_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/deploy/configkeys"
	"github.com/vidpipe/vidpipe/platform/config"
)

// bins holds every binary of configkeys.Binaries and the probe
// (deploy/cmd/healthcheck, a binary that does not describe a
// configuration), built once by TestMain.
var bins configkeys.Dir

// healthcheckDir is the probe's main package: the control.
const healthcheckDir = "deploy/cmd/healthcheck"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vidpipe-configkeys-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pkgs := []string{healthcheckDir}
	for _, b := range configkeys.Binaries {
		pkgs = append(pkgs, configkeys.MainPackage(b))
	}
	bins, err = configkeys.Build(context.Background(), "../..", dir, pkgs...)
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestKnown(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		binary  string
		has     []string
		hasNot  []string
		wantErr string
	}{
		"upload-api": {binary: "upload-api",
			has:    []string{"VIDPIPE_API_ADDR", "VIDPIPE_API_TOKENS", "VIDPIPE_POSTGRES_URL", "VIDPIPE_S3_SECRET_KEY", "VIDPIPE_KAFKA_BROKERS"},
			hasNot: []string{"VIDPIPE_STAGE_HTTP_ADDR"}},
		"transcode": {binary: "transcode",
			has:    []string{"VIDPIPE_STAGE_HTTP_ADDR", "VIDPIPE_STAGE_ATTEMPT_TIMEOUT", "VIDPIPE_TRANSCODE_THREADS", "VIDPIPE_S3_ENDPOINT"},
			hasNot: []string{"VIDPIPE_POSTGRES_URL", "VIDPIPE_API_ADDR"}},
		"thumbnail": {binary: "thumbnail",
			has:    []string{"VIDPIPE_THUMBNAIL_THUMB_WIDTH", "VIDPIPE_STAGE_SHUTDOWN_GRACE"},
			hasNot: []string{"VIDPIPE_POSTGRES_URL", "VIDPIPE_TRANSCODE_THREADS"}},
		"indexer": {binary: "indexer",
			has:    []string{"VIDPIPE_POSTGRES_URL", "VIDPIPE_INDEXER_MIGRATE", "VIDPIPE_STAGE_HTTP_ADDR"},
			hasNot: []string{"VIDPIPE_S3_ENDPOINT"}},
		// vidpipectl reads the defaults of its Kafka flags, the Kafka
		// security settings and (dlq redrive) the s3 section.
		"vidpipectl": {binary: "vidpipectl",
			has:    []string{"VIDPIPE_KAFKA_BROKERS", "VIDPIPE_KAFKA_PARTITIONS", "VIDPIPE_KAFKA_SASL_PASSWORD", "VIDPIPE_S3_BUCKET"},
			hasNot: []string{"VIDPIPE_KAFKA_CLIENT_ID", "VIDPIPE_LOG_LEVEL", "VIDPIPE_STAGE_MAX_ATTEMPTS"}},
		"unknown": {binary: "nginx", wantErr: `unknown vidpipe binary "nginx"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			known, err := bins.Known(t.Context(), tt.binary)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Known(%q) = %v, want an error containing %q", tt.binary, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range tt.has {
				if _, ok := known[k]; !ok {
					t.Errorf("Known(%q) lacks %s", tt.binary, k)
				}
			}
			for _, k := range tt.hasNot {
				if _, ok := known[k]; ok {
					t.Errorf("Known(%q) has %s, which %s does not read", tt.binary, k, tt.binary)
				}
			}
		})
	}
}

// Every binary the images run describes its configuration, with a type,
// a flag and a description for every key.
func TestKnownCoversBinaries(t *testing.T) {
	t.Parallel()
	for _, b := range configkeys.Binaries {
		known, err := bins.Known(t.Context(), b)
		if err != nil {
			t.Errorf("Known(%q): %v", b, err)
			continue
		}
		for env, k := range known {
			if k.Type == "" || k.Flag != "--"+k.Name || k.Description == "" || env != config.EnvName(k.Name) {
				t.Errorf("%s: key %+v lacks a type, flag, description or environment variable", b, k)
			}
		}
	}
}

// A binary that does not load its configuration with platform/config
// (the probe: it parses its flags with package flag) is told apart, named.
func TestReferenceOfABinaryWithoutConfig(t *testing.T) {
	t.Parallel()
	_, err := bins.Reference(t.Context(), "healthcheck")
	if err == nil || !strings.Contains(err.Error(), "healthcheck --config-reference: ") || !strings.Contains(err.Error(), "config-reference") {
		t.Errorf("Reference(healthcheck) = %v, want an error naming the binary and the flag", err)
	}
	if _, err := bins.Reference(t.Context(), "captions"); err == nil || !strings.Contains(err.Error(), "captions is not built") {
		t.Errorf("Reference(captions) = %v, want it not built", err)
	}
}

// The binaries follow the pipeline table, each from its main package.
func TestBinariesFollowThePipeline(t *testing.T) {
	t.Parallel()
	want := []string{"upload-api", "transcode", "thumbnail", "indexer", "webhooks", "vidpipectl"}
	if !slices.Equal(configkeys.Binaries, want) {
		t.Errorf("Binaries = %v, want %v", configkeys.Binaries, want)
	}
	p, err := contract.DefaultPipeline().With(contract.StageSpec{Name: "captions", Input: contract.TopicReady, DLQ: "video.captions.dlq",
		Output: contract.Step{Topic: "video.captioned", Type: "vidpipe.video.captioned", Status: "captioned", Decode: contract.DecodeAs[contract.VideoReady]}})
	if err != nil {
		t.Fatal(err)
	}
	if got := configkeys.BinariesOf(p); !slices.Equal(got, []string{"upload-api", "transcode", "thumbnail", "indexer", "captions", "webhooks", "vidpipectl"}) {
		t.Errorf("BinariesOf(with captions) = %v", got)
	}
	for bin, dir := range map[string]string{"captions": "services/captions/cmd/captions", "upload-api": "services/upload-api/cmd/upload-api", "vidpipectl": "platform/cmd/vidpipectl"} {
		if got := configkeys.MainPackage(bin); got != dir {
			t.Errorf("MainPackage(%q) = %q, want %q", bin, got, dir)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	errs := bins.Check(t.Context(), "indexer", "compose service indexer", []string{
		"VIDPIPE_POSTGRES_URL", "VIDPIPE_S3_ENDPOINT", "VIDPIPE_STAGE_HTTPADDR", "TZ", "PATH",
	})
	if len(errs) != 2 {
		t.Fatalf("Check = %v, want 2 errors (S3 endpoint and the typo)", errs)
	}
	for i, want := range []string{"VIDPIPE_S3_ENDPOINT is not a configuration key of indexer", "VIDPIPE_STAGE_HTTPADDR"} {
		if msg := errs[i].Error(); !strings.Contains(msg, want) || !strings.HasPrefix(msg, "compose service indexer: ") {
			t.Errorf("error %d = %q, want it to start with the place and contain %q", i, msg, want)
		}
	}
	if errs := bins.Check(t.Context(), "nginx", "x", nil); len(errs) != 1 {
		t.Errorf("Check of an unknown binary = %v, want one error", errs)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	vals, err := bins.Load(t.Context(), "transcode", map[string]string{
		"VIDPIPE_STAGE_ATTEMPT_TIMEOUT": "7m",
		"VIDPIPE_KAFKA_BROKERS":         "a:1,b:2",
	})
	if err != nil {
		t.Fatal(err)
	}
	known, err := bins.Known(t.Context(), "transcode")
	if err != nil {
		t.Fatal(err)
	}
	grace, err := time.ParseDuration(known["VIDPIPE_STAGE_SHUTDOWN_GRACE"].Default)
	if err != nil {
		t.Fatalf("default of stage.shutdown_grace: %v", err)
	}
	if vals["stage.attempt_timeout"] != "7m0s" || vals["kafka.brokers"] != "a:1,b:2" || vals["stage.shutdown_grace"] != grace.String() || vals["kafka.client_id"] != "transcode" {
		t.Errorf("loaded %v, want the env values, the default shutdown grace %s and the client id transcode", vals, grace)
	}
	if len(vals) != len(known) {
		t.Errorf("loaded %d values, want one per key (%d)", len(vals), len(known))
	}

	tests := map[string]struct {
		binary  string
		env     map[string]string
		wantErr string
	}{
		"bad duration":   {binary: "indexer", env: map[string]string{"VIDPIPE_STAGE_SHUTDOWN_GRACE": "30"}, wantErr: "load indexer configuration: config: stage.shutdown_grace"},
		"missing tokens": {binary: "upload-api", env: nil, wantErr: "api.tokens"},
		"bad partitions": {binary: "vidpipectl", env: map[string]string{"VIDPIPE_KAFKA_PARTITIONS": "six"}, wantErr: "kafka.partitions"},
		"not built":      {binary: "captions", wantErr: "captions is not built"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := bins.Load(t.Context(), tt.binary, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load(%s) = %v, want an error containing %q", tt.binary, err, tt.wantErr)
			}
		})
	}
}

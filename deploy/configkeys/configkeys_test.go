package configkeys_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/deploy/configkeys"
	"github.com/vidpipe/vidpipe/services/transcode"
)

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
		"vidpipectl": {binary: "vidpipectl",
			has:    []string{"VIDPIPE_KAFKA_BROKERS"},
			hasNot: []string{"VIDPIPE_KAFKA_PARTITIONS", "VIDPIPE_LOG_LEVEL"}},
		"unknown": {binary: "nginx", wantErr: `unknown vidpipe binary "nginx"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			known, err := configkeys.Known(tt.binary)
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

func TestKnownCoversBinaries(t *testing.T) {
	t.Parallel()
	for _, b := range configkeys.Binaries {
		if _, err := configkeys.Known(b); err != nil {
			t.Errorf("Known(%q): %v", b, err)
		}
	}
}

// The binaries follow the pipeline table: a declared stage is a binary
// whether or not its Config is registered (New says which are).
func TestBinariesFollowThePipeline(t *testing.T) {
	t.Parallel()
	want := []string{"upload-api", "transcode", "thumbnail", "indexer", "vidpipectl"}
	if !slices.Equal(configkeys.Binaries, want) {
		t.Errorf("Binaries = %v, want %v", configkeys.Binaries, want)
	}
	p, err := contract.DefaultPipeline().With(contract.StageSpec{Name: "captions", Input: contract.TopicReady, DLQ: "video.captions.dlq",
		Output: contract.Step{Topic: "video.captioned", Type: "vidpipe.video.captioned", Status: "captioned", Decode: contract.DecodeAs[contract.VideoReady]}})
	if err != nil {
		t.Fatal(err)
	}
	if got := configkeys.BinariesOf(p); !slices.Equal(got, []string{"upload-api", "transcode", "thumbnail", "indexer", "captions", "vidpipectl"}) {
		t.Errorf("BinariesOf(with captions) = %v", got)
	}
	for _, b := range configkeys.Services(p) {
		cfg, ok := configkeys.New(b)
		if ok != (b != "captions") || (ok && cfg == nil) {
			t.Errorf("New(%q) = %T, %v: want a Config for every service but the undeclared captions", b, cfg, ok)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	errs := configkeys.Check("indexer", "compose service indexer", []string{
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
	if errs := configkeys.Check("nginx", "x", nil); len(errs) != 1 {
		t.Errorf("Check of an unknown binary = %v, want one error", errs)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	cfg, err := configkeys.Load("transcode", map[string]string{
		"VIDPIPE_STAGE_ATTEMPT_TIMEOUT": "7m",
		"VIDPIPE_KAFKA_BROKERS":         "a:1,b:2",
	})
	if err != nil {
		t.Fatal(err)
	}
	tc, ok := cfg.(*transcode.Config)
	if !ok {
		t.Fatalf("Load(transcode) returned %T", cfg)
	}
	known, err := configkeys.Known("transcode")
	if err != nil {
		t.Fatal(err)
	}
	grace, err := time.ParseDuration(known["VIDPIPE_STAGE_SHUTDOWN_GRACE"].Default)
	if err != nil {
		t.Fatalf("default of stage.shutdown_grace: %v", err)
	}
	if tc.Stage.AttemptTimeout != 7*time.Minute || len(tc.Kafka.Brokers) != 2 || tc.Stage.ShutdownGrace != grace {
		t.Errorf("loaded %+v %+v, want the env values and the default shutdown grace %s", tc.Stage, tc.Kafka, grace)
	}

	tests := map[string]struct {
		binary  string
		env     map[string]string
		wantErr string
	}{
		"bad duration":   {binary: "indexer", env: map[string]string{"VIDPIPE_STAGE_SHUTDOWN_GRACE": "30"}, wantErr: "stage.shutdown_grace"},
		"missing tokens": {binary: "upload-api", env: nil, wantErr: "api.tokens"},
		"vidpipectl":     {binary: "vidpipectl", wantErr: "no configuration loader"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := configkeys.Load(tt.binary, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load(%s) = %v, want an error containing %q", tt.binary, err, tt.wantErr)
			}
		})
	}
}

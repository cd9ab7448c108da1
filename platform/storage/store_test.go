package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/storage"
)

func TestMain(m *testing.M) { harness.Main(m) }

// MustStore returns a Store on a new bucket of the shared MinIO server.
func MustStore(tb testing.TB) *storage.Store {
	tb.Helper()
	m := harness.SharedMinIO(tb)
	return MustNew(tb, m.S3Config(harness.MustBucket(tb, m)))
}

// MustNew returns storage.New(cfg) or fails the test.
func MustNew(tb testing.TB, cfg config.S3) *storage.Store {
	tb.Helper()
	s, err := storage.New(cfg)
	if err != nil {
		tb.Fatalf("storage.New: %v", err)
	}
	return s
}

// testContext is bounded so that a hung server fails the test instead of
// the test binary.
func testContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	valid := config.S3{
		Endpoint: "127.0.0.1:9000", Region: "us-east-1", Bucket: "vidpipe",
		PathStyle: true, PartSize: 16 << 20, PresignExpiry: time.Hour,
	}
	tests := map[string]struct {
		mutate  func(*config.S3)
		wantErr string // "" = no error
	}{
		"valid":                     {mutate: func(*config.S3) {}},
		"zero part size and expiry": {mutate: func(c *config.S3) { c.PartSize, c.PresignExpiry = 0, 0 }},
		"aws endpoint without port": {mutate: func(c *config.S3) { c.Endpoint = "s3.amazonaws.com"; c.UseSSL = true; c.PathStyle = false }},
		"bad bucket":                {mutate: func(c *config.S3) { c.Bucket = "Bad_Bucket" }, wantErr: "bucket: must be lowercase"},
		"access key without secret": {mutate: func(c *config.S3) { c.AccessKey = "k" }, wantErr: "access_key: access_key and secret_key must both be set"},
		"part size too small":       {mutate: func(c *config.S3) { c.PartSize = 1 << 20 }, wantErr: "part_size: must be between"},
		"endpoint with scheme":      {mutate: func(c *config.S3) { c.Endpoint = "http://127.0.0.1:9000" }, wantErr: "endpoint: must be host or host:port"},
		"public endpoint ftp":       {mutate: func(c *config.S3) { c.PublicEndpoint = "ftp://cdn.example.com" }, wantErr: "public_endpoint: scheme must be http or https"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := valid
			tt.mutate(&cfg)
			s, err := storage.New(cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if s.Bucket() != cfg.Bucket {
					t.Errorf("Bucket() = %q, want %q", s.Bucket(), cfg.Bucket)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestEnsureBucketAndPing(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	m := harness.SharedMinIO(t)
	s := MustNew(t, m.S3Config(harness.RandomName("ensure")))

	if err := s.Ping(ctx); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Ping before EnsureBucket = %v, want a does-not-exist error", err)
	}
	for i := range 2 { // idempotent
		if err := s.EnsureBucket(ctx); err != nil {
			t.Fatalf("EnsureBucket #%d: %v", i+1, err)
		}
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after EnsureBucket: %v", err)
	}
}

func TestPingWrongCredentials(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	m := harness.SharedMinIO(t)
	cfg := m.S3Config(harness.MustBucket(t, m))
	cfg.SecretKey = "wrong-secret"
	err := MustNew(t, cfg).Ping(ctx)
	if err == nil || !strings.Contains(err.Error(), cfg.Bucket) {
		t.Fatalf("Ping with a wrong secret = %v, want an error naming the bucket", err)
	}
}

// TestDefaultCredentialChain uses empty keys in the config, so the store
// takes its credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (the
// first link of the chain, so the instance-role link is never asked).
func TestDefaultCredentialChain(t *testing.T) {
	m := harness.SharedMinIO(t)
	t.Setenv("AWS_ACCESS_KEY_ID", m.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", m.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	ctx := testContext(t)
	cfg := m.S3Config(harness.MustBucket(t, m))
	cfg.AccessKey, cfg.SecretKey = "", ""
	s := MustNew(t, cfg)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping with env credentials: %v", err)
	}
	if _, err := s.Put(ctx, "k", strings.NewReader("hello"), 5, "text/plain"); err != nil {
		t.Fatalf("Put with env credentials: %v", err)
	}
	if _, err := s.Stat(ctx, "k"); err != nil {
		t.Fatalf("Stat with env credentials: %v", err)
	}
	if _, err := s.Stat(ctx, "missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat missing = %v, want ErrNotFound", err)
	}
}

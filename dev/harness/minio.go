package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/vidpipe/vidpipe/dev/servers"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// Credentials and region of every harness MinIO server.
const (
	minioAccessKey = servers.DefaultMinIOAccessKey
	minioSecretKey = servers.DefaultMinIOSecretKey
	minioRegion    = servers.MinIORegion
)

// MinIO is a real MinIO server process listening on 127.0.0.1, with its
// data in Dir/data and its output in Dir/minio.log.
type MinIO struct {
	// Endpoint is host:port of the S3 API, e.g. "127.0.0.1:40123"; it stays
	// the same across Stop and Start.
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey string
	SecretKey string
	// Dir holds the data (Dir/data) and the server log (Dir/minio.log).
	Dir string

	srv *servers.MinIO
}

var sharedMinIO shared[*MinIO]

// SharedMinIO returns the test binary's MinIO server, starting it on first
// use in a temporary directory that Main removes after stopping the server.
// Tests share it by each using their own bucket (MustBucket); never Stop it
// (use StartMinIO for that). It requires harness.Main in TestMain.
func SharedMinIO(tb testing.TB) *MinIO {
	tb.Helper()
	return sharedMinIO.get(tb, "MinIO", func() (*MinIO, error) {
		if _, err := servers.MinIOBinary(); err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp("", "vidpipe-minio-")
		if err != nil {
			return nil, fmt.Errorf("minio directory: %w", err)
		}
		m, err := startMinIO(dir)
		if err != nil {
			return nil, errors.Join(err, os.RemoveAll(dir))
		}
		onExit(func() error { return errors.Join(m.srv.Stop(), os.RemoveAll(dir)) })
		return m, nil
	})
}

// StartMinIO starts a private MinIO server in a test temporary directory,
// for tests that stop or disturb it. It is stopped at the test's cleanup,
// which also logs the end of the server log if the test failed.
func StartMinIO(tb testing.TB) *MinIO {
	tb.Helper()
	if _, err := servers.MinIOBinary(); err != nil {
		tb.Fatalf("harness: %v", err)
	}
	dir := tb.TempDir()
	m, err := startMinIO(dir)
	if err != nil {
		tb.Fatalf("harness: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("harness: end of %s:\n%s", m.srv.LogPath, procgroup.LogTail(m.srv.LogPath, logTailBytes))
		}
		if err := m.srv.Stop(); err != nil {
			tb.Errorf("harness: %v", err)
		}
	})
	return m
}

// logTailBytes is how much of a server log a failed test logs.
const logTailBytes = 4 << 10

// startMinIO starts a server in dir (data in dir/data, log dir/minio.log)
// on a free port with the harness credentials.
func startMinIO(dir string) (*MinIO, error) {
	srv, err := servers.StartMinIO(context.Background(), servers.MinIOOptions{
		Dir:       dir,
		AccessKey: minioAccessKey,
		SecretKey: minioSecretKey,
		LogPath:   filepath.Join(dir, "minio.log"),
	})
	if err != nil {
		return nil, err
	}
	return &MinIO{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Dir: srv.Dir, srv: srv}, nil
}

// Stop terminates the server (SIGTERM; killed if it has not exited within
// 15s). Stopping a stopped server does nothing.
func (m *MinIO) Stop(tb testing.TB) {
	tb.Helper()
	if err := m.srv.Stop(); err != nil {
		tb.Fatalf("harness: %v", err)
	}
}

// Start starts a stopped server again on the same Endpoint with the same
// data, and returns once it serves S3 requests. Starting a running server
// fails the test.
func (m *MinIO) Start(tb testing.TB) {
	tb.Helper()
	if err := m.srv.Start(context.Background()); err != nil {
		tb.Fatalf("harness: %v", err)
	}
	m.Endpoint = m.srv.Endpoint
}

// Client returns a minio-go client for the server (root credentials,
// path-style, region us-east-1, plain http).
func (m *MinIO) Client(tb testing.TB) *minio.Client {
	tb.Helper()
	c, err := m.srv.Client()
	if err != nil {
		tb.Fatalf("harness: %v", err)
	}
	return c
}

// S3Config returns the configuration a service needs to use bucket on this
// server: endpoint, root credentials, region us-east-1, path-style, no TLS,
// and the documented defaults for the other fields (part size 16 MiB,
// presign expiry 1h, no public endpoint).
func (m *MinIO) S3Config(bucket string) config.S3 {
	return config.S3{
		Endpoint:      m.Endpoint,
		Region:        minioRegion,
		Bucket:        bucket,
		AccessKey:     m.AccessKey,
		SecretKey:     m.SecretKey,
		UseSSL:        false,
		PathStyle:     true,
		PartSize:      16 << 20,
		PresignExpiry: time.Hour,
	}
}

// MustBucket creates a bucket with a random name ("test-" + hex) on m and
// returns its name. The bucket is not removed: it goes with the server's
// directory.
func MustBucket(tb testing.TB, m *MinIO) string {
	tb.Helper()
	name := RandomName("test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Client(tb).MakeBucket(ctx, name, minio.MakeBucketOptions{Region: minioRegion}); err != nil {
		tb.Fatalf("harness: create bucket %q on %s: %v", name, m.Endpoint, err)
	}
	return name
}

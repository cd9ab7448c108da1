package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/vidpipe/vidpipe/events/config"
)

// Credentials and region of every harness MinIO server.
const (
	minioAccessKey = "vidpipe"
	minioSecretKey = "vidpipe-secret"
	minioRegion    = "us-east-1"
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

	bin         string
	consolePort int

	mu   sync.Mutex
	proc *process // nil when stopped
}

var sharedMinIO shared[*MinIO]

// SharedMinIO returns the test binary's MinIO server, starting it on first
// use in a temporary directory that Main removes after stopping the server.
// Tests share it by each using their own bucket (MustBucket); never Stop it
// (use StartMinIO for that). It requires harness.Main in TestMain.
func SharedMinIO(tb testing.TB) *MinIO {
	tb.Helper()
	return sharedMinIO.get(tb, "MinIO", func() (*MinIO, error) {
		bin, err := minioBinary()
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp("", "vidpipe-minio-")
		if err != nil {
			return nil, fmt.Errorf("minio directory: %w", err)
		}
		m := newMinIO(bin, dir)
		if err := m.start(); err != nil {
			return nil, errors.Join(err, os.RemoveAll(dir))
		}
		onExit(func() error { return errors.Join(m.stop(), os.RemoveAll(dir)) })
		return m, nil
	})
}

// StartMinIO starts a private MinIO server in a test temporary directory,
// for tests that stop or disturb it. It is stopped at the test's cleanup,
// which also logs the end of the server log if the test failed.
func StartMinIO(tb testing.TB) *MinIO {
	tb.Helper()
	bin, err := minioBinary()
	if err != nil {
		tb.Fatalf("harness: %v", err)
	}
	m := newMinIO(bin, tb.TempDir())
	if err := m.start(); err != nil {
		tb.Fatalf("harness: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("harness: end of %s:\n%s", m.logPath(), readLogTail(m.logPath(), 0, logTailBytes))
		}
		if err := m.stop(); err != nil {
			tb.Errorf("harness: %v", err)
		}
	})
	return m
}

func newMinIO(bin, dir string) *MinIO {
	return &MinIO{AccessKey: minioAccessKey, SecretKey: minioSecretKey, Dir: dir, bin: bin}
}

func (m *MinIO) logPath() string { return filepath.Join(m.Dir, "minio.log") }

// Stop terminates the server (SIGTERM; killed if it has not exited within
// 15s). Stopping a stopped server does nothing.
func (m *MinIO) Stop(tb testing.TB) {
	tb.Helper()
	if err := m.stop(); err != nil {
		tb.Fatalf("harness: %v", err)
	}
}

func (m *MinIO) stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return nil
	}
	err := m.proc.stop(syscall.SIGTERM, stopTimeout)
	m.proc = nil
	return err
}

// Start starts a stopped server again on the same Endpoint with the same
// data, and returns once it serves S3 requests. Starting a running server
// fails the test.
func (m *MinIO) Start(tb testing.TB) {
	tb.Helper()
	if err := m.start(); err != nil {
		tb.Fatalf("harness: %v", err)
	}
}

// start runs the server: on a free port the first time, on Endpoint's port
// afterwards.
func (m *MinIO) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil {
		return fmt.Errorf("minio on %s is already running", m.Endpoint)
	}
	port := 0
	if m.Endpoint != "" {
		_, p, err := net.SplitHostPort(m.Endpoint)
		if err != nil {
			return fmt.Errorf("minio endpoint %q: %w", m.Endpoint, err)
		}
		port, _ = strconv.Atoi(p)
	}
	if m.consolePort == 0 {
		// MINIO_BROWSER=off keeps the console from listening; the address
		// is set anyway so that it could only ever bind 127.0.0.1.
		p, err := freePort()
		if err != nil {
			return err
		}
		m.consolePort = p
	}
	port, err := startOnPort(port, m.run)
	if err != nil {
		return err
	}
	m.Endpoint = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return nil
}

// run starts the process on port and waits until it serves requests.
func (m *MinIO) run(port int) error {
	endpoint := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	env := append(envWithout("MINIO_"),
		"MINIO_ROOT_USER="+m.AccessKey,
		"MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
	proc, err := startProcess(procSpec{
		name: "minio",
		path: m.bin,
		args: []string{"server",
			"--address", endpoint,
			"--console-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(m.consolePort)),
			filepath.Join(m.Dir, "data"),
		},
		env:      env,
		dir:      m.Dir,
		logPath:  m.logPath(),
		deathSig: syscall.SIGKILL,
	})
	if err != nil {
		return err
	}
	client, err := m.newClient(endpoint)
	if err != nil {
		return errors.Join(err, proc.stop(syscall.SIGKILL, stopTimeout))
	}
	live := "http://" + endpoint + "/minio/health/live"
	err = proc.waitReady(startTimeout, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, live, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", live, resp.Status)
		}
		// Live can answer before the object layer is up; an S3 call can't.
		_, err = client.ListBuckets(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("minio on %s: %w", endpoint, err)
	}
	m.proc = proc
	return nil
}

func (m *MinIO) newClient(endpoint string) (*minio.Client, error) {
	c, err := minio.New(endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(m.AccessKey, m.SecretKey, ""),
		Secure:       false,
		Region:       minioRegion,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("minio client for %s: %w", endpoint, err)
	}
	return c, nil
}

// Client returns a minio-go client for the server (root credentials,
// path-style, region us-east-1, plain http).
func (m *MinIO) Client(tb testing.TB) *minio.Client {
	tb.Helper()
	c, err := m.newClient(m.Endpoint)
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

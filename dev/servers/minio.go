package servers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/vidpipe/vidpipe/dev/launch"
	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// Defaults of MinIOOptions.
const (
	DefaultMinIOAccessKey = "vidpipe"
	DefaultMinIOSecretKey = "vidpipe-secret"
	// MinIORegion is the region of every MinIO server started here (MinIO's
	// own default).
	MinIORegion = "us-east-1"
)

// MinIOOptions configures StartMinIO.
type MinIOOptions struct {
	// Binary is the minio server. Default: MinIOBinary().
	Binary string
	// Dir holds the data (Dir/data); it is created if needed and a server
	// started on the same Dir finds the buckets and objects again.
	// Required.
	Dir string
	// Port of the S3 API on 127.0.0.1. Default: 0, a free port.
	Port int
	// ConsolePort is where the web console would listen; it is disabled
	// (MINIO_BROWSER=off), but MinIO wants an address. Default: 0, a free
	// port.
	ConsolePort int
	// AccessKey and SecretKey are the root credentials (at least 3 and 8
	// characters). Default: DefaultMinIOAccessKey, DefaultMinIOSecretKey.
	AccessKey string
	SecretKey string
	// LogPath receives the server's output (appended). Default: Dir/minio.log.
	LogPath string
}

// MinIO is a real MinIO server process listening on 127.0.0.1. Its methods
// are safe for concurrent use.
type MinIO struct {
	// Endpoint is host:port of the S3 API, e.g. "127.0.0.1:40123"; it stays
	// the same across Stop and Start.
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey string
	SecretKey string
	// Dir holds the data (Dir/data).
	Dir string
	// LogPath is the server log.
	LogPath string

	bin         string
	consolePort int

	mu   sync.Mutex
	proc *procgroup.Process // nil when stopped
}

// StartMinIO starts a MinIO server as o says and returns once it serves S3
// requests. Stop it with Stop.
func StartMinIO(ctx context.Context, o MinIOOptions) (*MinIO, error) {
	if o.Dir == "" {
		return nil, errors.New("minio: no directory")
	}
	if o.Binary == "" {
		bin, err := MinIOBinary()
		if err != nil {
			return nil, err
		}
		o.Binary = bin
	}
	if o.AccessKey == "" {
		o.AccessKey = DefaultMinIOAccessKey
	}
	if o.SecretKey == "" {
		o.SecretKey = DefaultMinIOSecretKey
	}
	if o.LogPath == "" {
		o.LogPath = filepath.Join(o.Dir, "minio.log")
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "data"), 0o755); err != nil {
		return nil, fmt.Errorf("minio directory: %w", err)
	}
	m := &MinIO{AccessKey: o.AccessKey, SecretKey: o.SecretKey, Dir: o.Dir, LogPath: o.LogPath, bin: o.Binary, consolePort: o.ConsolePort}
	if o.Port != 0 {
		m.Endpoint = net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Port))
	}
	if err := m.Start(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Stop terminates the server (SIGTERM; killed if it has not exited within
// 15s). Stopping a stopped server does nothing.
func (m *MinIO) Stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return nil
	}
	err := m.proc.Stop(syscall.SIGTERM, stopTimeout)
	m.proc = nil
	return err
}

// Start starts a stopped server again on the same Endpoint with the same
// data, and returns once it serves S3 requests. Starting a running server
// is an error.
func (m *MinIO) Start(ctx context.Context) error {
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
		p, err := launch.FreePort()
		if err != nil {
			return err
		}
		m.consolePort = p
	}
	port, err := startOnPort(ctx, port, func(port int) error { return m.run(ctx, port) })
	if err != nil {
		return err
	}
	m.Endpoint = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return nil
}

// Restart stops the server and starts it again on the same Endpoint with
// the same data.
func (m *MinIO) Restart(ctx context.Context) error {
	if err := m.Stop(); err != nil {
		return err
	}
	return m.Start(ctx)
}

// run starts the process on port and waits until it serves requests.
func (m *MinIO) run(ctx context.Context, port int) error {
	endpoint := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	env := append(procgroup.EnvWithout("MINIO_"),
		"MINIO_ROOT_USER="+m.AccessKey,
		"MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
	client, err := m.newClient(endpoint)
	if err != nil {
		return err
	}
	live := launch.HTTPOK("http://" + endpoint + "/minio/health/live")
	proc, err := startServer(ctx, procgroup.Spec{
		Name: "minio",
		Path: m.bin,
		Args: []string{"server",
			"--address", endpoint,
			"--console-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(m.consolePort)),
			filepath.Join(m.Dir, "data"),
		},
		Env:         env,
		Dir:         m.Dir,
		LogPath:     m.LogPath,
		DeathSignal: syscall.SIGKILL,
	}, startTimeout, func(ctx context.Context) error {
		if err := live(ctx); err != nil {
			return err
		}
		// Live can answer before the object layer is up; an S3 call can't.
		_, err := client.ListBuckets(ctx)
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
		Region:       MinIORegion,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("minio client for %s: %w", endpoint, err)
	}
	return c, nil
}

// Client returns a minio-go client for the server (root credentials,
// path-style, region us-east-1, plain http). It makes no network call.
func (m *MinIO) Client() (*minio.Client, error) {
	return m.newClient(m.Endpoint)
}

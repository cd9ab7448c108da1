package scenario

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/vidpipe/vidpipe/dev/bench/procs"
	"github.com/vidpipe/vidpipe/dev/devstack"
	"github.com/vidpipe/vidpipe/dev/launch"
	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// Stack is the real infrastructure the service processes run against:
// kfake (persistent, as in `make run`), MinIO and PostgreSQL with the
// pipeline's topics, the bucket and the database, started with the dev
// stack's code (dev/devstack).
type Stack struct {
	Infra *devstack.Infra
	// Brokers is the Kafka bootstrap list.
	Brokers []string
	// S3 is a client for the bucket's server (root credentials).
	S3     *minio.Client
	Bucket string
	dir    string
}

// stackPartitions is the partitions of the stack's topics: the default of
// the configuration (kafka.partitions), as a deployment has them.
const stackPartitions = 12

// StartStack starts the servers under env.Dir/name.
func StartStack(ctx context.Context, env Env, name string) (*Stack, error) {
	dir := filepath.Join(env.Dir, name)
	in, err := devstack.StartInfra(ctx, devstack.InfraOptions{Dir: dir, Partitions: stackPartitions})
	if err != nil {
		return nil, fmt.Errorf("start kfake, MinIO, PostgreSQL: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		in.Stop()
		return nil, err
	}
	ep := in.Endpoints
	mc, err := minio.New(ep.S3Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(ep.AccessKey, ep.SecretKey, ""), Region: ep.Region, BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		in.Stop()
		return nil, fmt.Errorf("minio client: %w", err)
	}
	return &Stack{Infra: in, Brokers: strings.Split(ep.Brokers, ","), S3: mc, Bucket: ep.Bucket, dir: dir}, nil
}

// Stop stops the servers.
func (s *Stack) Stop() error { return s.Infra.Stop() }

// Service is a running service process.
type Service struct {
	*procs.Proc
	// Addr is its HTTP address (API, or /healthz, /readyz, /metrics).
	Addr string
	// OpsAddr is where its /healthz, /readyz and /metrics are: upload-api's
	// operations listener (api.ops_addr), else Addr.
	OpsAddr string
}

// URL is http://Addr + path.
func (s *Service) URL(path string) string { return "http://" + s.Addr + path }

// OpsURL is http://OpsAddr + path (/readyz, /metrics).
func (s *Service) OpsURL(path string) string { return "http://" + s.OpsAddr + path }

// StartService starts the service binary svc (upload-api, transcode,
// thumbnail, indexer) with the dev stack's configuration (devstack.ChildEnv)
// plus extra VIDPIPE_* variables, and waits until /readyz answers 200.
func (s *Stack) StartService(ctx context.Context, env Env, svc, name string, extra ...string) (*Service, error) {
	freePort := func() (string, int, error) {
		addr, err := launch.FreeAddr()
		if err != nil {
			return "", 0, err
		}
		_, portStr, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(portStr)
		return addr, port, nil
	}
	addr, port, err := freePort()
	if err != nil {
		return nil, err
	}
	child := devstack.Child{Name: name, Service: svc, Copy: 1, Port: port}
	opsAddr := addr
	if svc == devstack.UploadAPI {
		if opsAddr, child.OpsPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	vars := devstack.ChildEnv(child, devstack.EnvOptions{Endpoints: s.Infra.Endpoints, Partitions: stackPartitions})
	vars = append(vars, "TMPDIR="+filepath.Join(s.dir, "tmp"))
	vars = append(vars, extra...)
	p, err := procs.Start(context.Background(), procgroup.Spec{Name: name, Path: env.Binary(svc), Env: append(os.Environ(), vars...),
		LogPath: filepath.Join(env.Dir, "logs", name+".log"), TruncateLog: true})
	if err != nil {
		return nil, err
	}
	sv := &Service{Proc: p, Addr: addr, OpsAddr: opsAddr}
	if err := p.WaitHTTP(ctx, sv.OpsURL("/readyz"), 90*time.Second); err != nil {
		_ = p.Stop(syscall.SIGTERM, 5*time.Second)
		return nil, err
	}
	return sv, nil
}

// makeClip writes a w×h, secs-second H.264+AAC test clip (testsrc2 and a
// sine tone, 30 fps) to path.
func makeClip(ctx context.Context, path string, w, h int, secs float64) error {
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=30:duration=%g", w, h, secs),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:duration=%g", secs),
		"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", "-movflags", "+faststart", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ffmpeg (install it with `make deps`): make clip %s: %w\n%s", path, err, out)
	}
	return nil
}

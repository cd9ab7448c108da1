package servers

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/vidpipe/vidpipe/dev/launch"
)

func TestMinIONewServerOnSameDirKeepsBuckets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	port, err := launch.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	o := MinIOOptions{Dir: dir, Port: port, AccessKey: "minioadmin", SecretKey: "minioadmin", LogPath: filepath.Join(t.TempDir(), "minio.log")}
	m, err := StartMinIO(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	if want := "127.0.0.1:" + strconv.Itoa(port); m.Endpoint != want {
		t.Errorf("Endpoint = %q, want %q", m.Endpoint, want)
	}
	c, err := m.Client()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MakeBucket(ctx, "kept", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := m.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}

	m, err = StartMinIO(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	c, err = m.Client()
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c.BucketExists(ctx, "kept"); err != nil || !ok {
		t.Errorf("bucket after a new start: exists %v, %v; want true", ok, err)
	}
}

// MinIO says "Specified port is already in use" when its address is
// taken: that is ErrAddrInUse, which makes a start on a fresh port try
// another one (before, it failed whatever test started the dev stack when
// another process took the port between FreePort and MinIO's bind). On a
// given port it is retried until the port is released, then returned.
func TestMinIOTakenPortIsAddrInUse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	o := MinIOOptions{Dir: t.TempDir(), Port: taken, LogPath: filepath.Join(t.TempDir(), "minio.log")}
	m, err := StartMinIO(ctx, o)
	if err == nil {
		m.Stop()
		t.Fatal("MinIO started on a taken port")
	}
	if !errors.Is(err, ErrAddrInUse) {
		t.Fatalf("error %v is not ErrAddrInUse", err)
	}
}

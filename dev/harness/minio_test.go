package harness

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

func putObject(t *testing.T, c *minio.Client, bucket, key string, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

func getObject(t *testing.T, c *minio.Client, bucket, key string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	obj, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return data
}

func TestSharedMinIO(t *testing.T) {
	t.Parallel()
	m := SharedMinIO(t)
	if again := SharedMinIO(t); again != m {
		t.Fatal("SharedMinIO returned a second server")
	}
	if host, _, err := net.SplitHostPort(m.Endpoint); err != nil || host != "127.0.0.1" {
		t.Fatalf("endpoint %q: host %q (%v), want 127.0.0.1", m.Endpoint, host, err)
	}

	b1, b2 := MustBucket(t, m), MustBucket(t, m)
	if b1 == b2 {
		t.Fatalf("MustBucket returned %q twice", b1)
	}
	c := m.Client(t)
	putObject(t, c, b1, "uploads/v1/source", []byte("hello"))
	if got := getObject(t, c, b1, "uploads/v1/source"); string(got) != "hello" {
		t.Errorf("object = %q, want hello", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.StatObject(ctx, b2, "uploads/v1/source", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Errorf("stat in the other bucket: %v, want NoSuchKey", err)
	}

	cfg := m.S3Config(b1)
	if cfg.Endpoint != m.Endpoint || cfg.Bucket != b1 || cfg.AccessKey != m.AccessKey || cfg.SecretKey != m.SecretKey ||
		!cfg.PathStyle || cfg.UseSSL || cfg.Region != "us-east-1" {
		t.Errorf("S3Config(%q) = %+v, does not describe this server", b1, cfg)
	}
}

func TestMinIOStopStartKeepsData(t *testing.T) {
	t.Parallel()
	m := StartMinIO(t)
	bucket := MustBucket(t, m)
	putObject(t, m.Client(t), bucket, "k", []byte("survives"))
	endpoint := m.Endpoint

	m.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, err := m.Client(t).ListBuckets(ctx)
	cancel()
	if err == nil {
		t.Fatal("ListBuckets succeeded on a stopped server")
	}
	m.Stop(t) // stopping twice is fine

	m.Start(t)
	if m.Endpoint != endpoint {
		t.Errorf("endpoint after Start %q, want %q", m.Endpoint, endpoint)
	}
	if got := getObject(t, m.Client(t), bucket, "k"); string(got) != "survives" {
		t.Errorf("object after restart = %q, want survives", got)
	}
}

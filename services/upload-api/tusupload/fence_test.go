package tusupload

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/vidpipe/vidpipe/dev/harness"
)

// The store's S3 client refuses the writes of a request whose fence is
// revoked (with a 503 for tusd) and lets its reads and other requests'
// writes through, on a real MinIO.
func TestFencedS3(t *testing.T) {
	mi := harness.SharedMinIO(t)
	bucket := harness.MustBucket(t, mi)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := NewS3Client(ctx, mi.S3Config(bucket))
	if err != nil {
		t.Fatal(err)
	}
	f := fencedS3{client}
	put := func(ctx context.Context, key string) error {
		_, err := f.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("x")})
		return err
	}

	live := withFence(ctx)
	if err := put(live, "a"); err != nil {
		t.Fatalf("write with a live fence: %v", err)
	}
	if err := put(ctx, "b"); err != nil {
		t.Fatalf("write without a fence: %v", err)
	}
	fenceFrom(live).revoked.Store(true)
	err = put(live, "c")
	var he handler.Error
	if !errors.Is(err, errLockLost) || !errors.As(err, &he) || he.HTTPResponse.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("write with a revoked fence: %v, want a 503 wrapping errLockLost", err)
	}
	if _, err := f.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("c")}); err == nil {
		t.Error("the refused object exists")
	}
	if _, err := f.HeadObject(live, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("a")}); err != nil {
		t.Errorf("read with a revoked fence: %v", err)
	}
	if _, err := f.DeleteObject(live, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("a")}); !errors.Is(err, errLockLost) {
		t.Errorf("delete with a revoked fence: %v, want refused", err)
	}
	if err := put(withFence(ctx), "d"); err != nil {
		t.Errorf("another request's write: %v", err)
	}
}

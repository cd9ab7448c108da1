package tusupload

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/vidpipe/vidpipe/services/upload-api/apierror"
)

// A write fence stops a request's object storage writes once the
// request's upload lock is lost. tusd stops a request whose lock must be
// released by closing its body, but its store still writes what it had
// received (parts, the incomplete part, the info object), and with a
// shared lock another replica may hold the lock by then. Each tus
// request carries a fence in its context (the HTTP handlers add it, tusd
// keeps the request context's values in the contexts it passes to the
// locker and the store); [PGLocker] revokes it when the lock's session
// dies, and the store's S3 client refuses every write of a request whose
// fence is revoked. An S3 call already sent still completes.

// writeFence is one request's permission to write upload objects.
type writeFence struct{ revoked atomic.Bool }

type fenceKey struct{}

// withFence returns ctx with a new fence.
func withFence(ctx context.Context) context.Context {
	return context.WithValue(ctx, fenceKey{}, &writeFence{})
}

// fenceFrom returns ctx's fence, nil if none.
func fenceFrom(ctx context.Context) *writeFence {
	f, _ := ctx.Value(fenceKey{}).(*writeFence)
	return f
}

// fenced adds a fence to each request's context.
func fenced(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(withFence(r.Context())))
	})
}

// checkFence fails when ctx's fence is revoked.
func checkFence(ctx context.Context, op string) error {
	if f := fenceFrom(ctx); f != nil && f.revoked.Load() {
		return fmt.Errorf("tus: %s refused (%w): %w", op, errLockLost, tusError(apierror.Unavailable(apierror.CodeDatabaseUnavailable,
			"the upload's lock was lost while this request held it; resume the upload (HEAD, then PATCH)", errLockLost)))
	}
	return nil
}

// fencedS3 is the store's S3 client: writes of a request whose fence is
// revoked fail; reads pass.
type fencedS3 struct{ S3API }

func (f fencedS3) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if err := checkFence(ctx, "PutObject"); err != nil {
		return nil, err
	}
	return f.S3API.PutObject(ctx, in, opts...)
}

func (f fencedS3) UploadPart(ctx context.Context, in *s3.UploadPartInput, opts ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	if err := checkFence(ctx, "UploadPart"); err != nil {
		return nil, err
	}
	return f.S3API.UploadPart(ctx, in, opts...)
}

func (f fencedS3) UploadPartCopy(ctx context.Context, in *s3.UploadPartCopyInput, opts ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error) {
	if err := checkFence(ctx, "UploadPartCopy"); err != nil {
		return nil, err
	}
	return f.S3API.UploadPartCopy(ctx, in, opts...)
}

func (f fencedS3) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	if err := checkFence(ctx, "CreateMultipartUpload"); err != nil {
		return nil, err
	}
	return f.S3API.CreateMultipartUpload(ctx, in, opts...)
}

func (f fencedS3) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	if err := checkFence(ctx, "CompleteMultipartUpload"); err != nil {
		return nil, err
	}
	return f.S3API.CompleteMultipartUpload(ctx, in, opts...)
}

func (f fencedS3) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, opts ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	if err := checkFence(ctx, "AbortMultipartUpload"); err != nil {
		return nil, err
	}
	return f.S3API.AbortMultipartUpload(ctx, in, opts...)
}

func (f fencedS3) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	if err := checkFence(ctx, "DeleteObject"); err != nil {
		return nil, err
	}
	return f.S3API.DeleteObject(ctx, in, opts...)
}

func (f fencedS3) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, opts ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	if err := checkFence(ctx, "DeleteObjects"); err != nil {
		return nil, err
	}
	return f.S3API.DeleteObjects(ctx, in, opts...)
}

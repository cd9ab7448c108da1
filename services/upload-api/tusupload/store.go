package tusupload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/s3store"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/services/upload-api/apierror"
)

// S3API is the part of the S3 client the adapter calls: what tusd's S3
// store calls, and ListObjectsV2 for the sweep. *s3.Client implements it.
type S3API interface {
	s3store.S3API
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// tusMetaPrefix is where tus keeps its bookkeeping objects: the upload's
// .info (JSON FileInfo), the .part buffer of an unfinished part and our
// .submitted marker, e.g. tus/uploads/{id}/source.info.
const tusMetaPrefix = "tus/"

// tusStore adapts tusd's S3 store so that the tus upload id is the video
// id and the finished upload lands at contract.SourceKey(id).
//
// tusd's s3store names an upload "objectId+multipartUploadId" and stores
// it at ObjectPrefix/objectId. We give it objectId = contract.SourceKey(id)
// with an empty ObjectPrefix, so the multipart upload completes exactly
// at the video's source key (no copy), and expose only the video id to
// clients: GetUpload finds the s3store id in the upload's .info object.
//
// Errors that are not tusd handler errors are logged in full and
// replaced by a plain "internal error".
type tusStore struct {
	inner  s3store.S3Store
	s3     S3API
	bucket string
	log    *slog.Logger
}

var (
	_ handler.DataStore               = (*tusStore)(nil)
	_ handler.TerminaterDataStore     = (*tusStore)(nil)
	_ handler.LengthDeferrerDataStore = (*tusStore)(nil)
)

func newTusStore(client S3API, bucket string, partSize int64, tempDir string, log *slog.Logger) *tusStore {
	client = fencedS3{client} // see fence.go
	inner := s3store.New(bucket, client)
	inner.ObjectPrefix = ""
	inner.MetadataObjectPrefix = tusMetaPrefix
	inner.TemporaryDirectory = tempDir
	if partSize >= inner.MinPartSize {
		inner.PreferredPartSize = partSize
	}
	// Each PATCH buffers at most a few parts on disk while one goes to S3
	// (4 buffered parts sent no faster than 2 in make bench scenario 2).
	inner.MaxBufferedParts = 2
	inner.SetConcurrentPartUploads(4)
	return &tusStore{inner: inner, s3: client, bucket: bucket, log: log}
}

// UseIn registers the store with tusd: core, termination and deferred
// length (no concatenation, no downloads).
func (s *tusStore) UseIn(c *handler.StoreComposer) {
	c.UseCore(s)
	c.UseTerminater(s)
	c.UseLengthDeferrer(s)
}

func infoKey(id string) string { return tusMetaPrefix + contract.SourceKey(id) + ".info" }

// SubmittedKey is the object that marks upload id as announced: written
// once its video.uploaded was published; without it, a finished upload is
// announced again by the next request on it or by the sweep.
func SubmittedKey(id string) string { return tusMetaPrefix + contract.SourceKey(id) + ".submitted" }

func (s *tusStore) NewUpload(ctx context.Context, info handler.FileInfo) (handler.Upload, error) {
	id := info.ID
	if !contract.IsUUID(id) {
		return nil, s.internal(ctx, fmt.Errorf("tus: new upload without a video id (%q)", id))
	}
	info.ID = contract.SourceKey(id)
	up, err := s.inner.NewUpload(ctx, info)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	return &tusUpload{inner: up, id: id, s: s}, nil
}

func (s *tusStore) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	fi, err := s.readInfo(ctx, id)
	if err != nil {
		return nil, err
	}
	up, err := s.inner.GetUpload(ctx, fi.ID)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	return &tusUpload{inner: up, id: id, s: s}, nil
}

// readInfo reads the upload's .info object as s3store wrote it (its ID is
// the s3store id). Unknown or malformed ids are handler.ErrNotFound.
func (s *tusStore) readInfo(ctx context.Context, id string) (handler.FileInfo, error) {
	var fi handler.FileInfo
	if !contract.IsUUID(id) {
		return fi, handler.ErrNotFound
	}
	out, err := s.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(infoKey(id))})
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			return fi, handler.ErrNotFound
		}
		return fi, s.internal(ctx, fmt.Errorf("tus: read info of %s: %w", id, err))
	}
	defer out.Body.Close()
	if err := json.NewDecoder(io.LimitReader(out.Body, 1<<20)).Decode(&fi); err != nil {
		return fi, s.internal(ctx, fmt.Errorf("tus: decode info of %s: %w", id, err))
	}
	if !strings.HasPrefix(fi.ID, contract.SourceKey(id)+"+") {
		return fi, s.internal(ctx, fmt.Errorf("tus: info of %s names upload %q", id, fi.ID))
	}
	return fi, nil
}

// submitted reports whether video.uploaded was published for upload id.
func (s *tusStore) submitted(ctx context.Context, id string) (bool, error) {
	_, err := s.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(SubmittedKey(id))})
	if err == nil {
		return true, nil
	}
	var nf *types.NotFound
	var nsk *types.NoSuchKey
	if errors.As(err, &nf) || errors.As(err, &nsk) {
		return false, nil
	}
	return false, fmt.Errorf("tus: check submitted marker of %s: %w", id, err)
}

// sourceExists reports whether upload id is finished: its S3 multipart
// upload was completed at the source key.
func (s *tusStore) sourceExists(ctx context.Context, id string) (bool, error) {
	_, err := s.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(contract.SourceKey(id))})
	if err == nil {
		return true, nil
	}
	var nf *types.NotFound
	var nsk *types.NoSuchKey
	if errors.As(err, &nf) || errors.As(err, &nsk) {
		return false, nil
	}
	return false, fmt.Errorf("tus: check source of %s: %w", id, err)
}

// markSubmitted records that video.uploaded was published for upload id.
func (s *tusStore) markSubmitted(ctx context.Context, id string) error {
	_, err := s.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(SubmittedKey(id)),
		Body: strings.NewReader(id), ContentLength: aws.Int64(int64(len(id))), ContentType: aws.String("text/plain"),
	})
	if err != nil {
		return fmt.Errorf("tus: write submitted marker of %s: %w", id, err)
	}
	return nil
}

// internal hides a store error from clients: tusd would send its text.
func (s *tusStore) internal(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var he handler.Error
	if errors.As(err, &he) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		s.log.DebugContext(ctx, "tus store: request ended", "err", err)
	} else {
		s.log.ErrorContext(ctx, "tus store", "err", err)
	}
	return tusError(apierror.Internal())
}

func (s *tusStore) AsTerminatableUpload(u handler.Upload) handler.TerminatableUpload {
	return u.(*tusUpload)
}

func (s *tusStore) AsLengthDeclarableUpload(u handler.Upload) handler.LengthDeclarableUpload {
	return u.(*tusUpload)
}

// tusUpload is an s3store upload seen under its video id.
type tusUpload struct {
	inner handler.Upload
	id    string
	s     *tusStore
}

func (u *tusUpload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	n, err := u.inner.WriteChunk(ctx, offset, src)
	return n, u.s.internal(ctx, err)
}

func (u *tusUpload) GetInfo(ctx context.Context) (handler.FileInfo, error) {
	fi, err := u.inner.GetInfo(ctx)
	if err != nil {
		return fi, u.s.internal(ctx, err)
	}
	fi.ID = u.id
	return fi, nil
}

func (u *tusUpload) GetReader(ctx context.Context) (io.ReadCloser, error) {
	r, err := u.inner.GetReader(ctx)
	return r, u.s.internal(ctx, err)
}

func (u *tusUpload) FinishUpload(ctx context.Context) error {
	return u.s.internal(ctx, u.inner.FinishUpload(ctx))
}

// Terminate aborts the multipart upload and removes the object, the .info
// and .part objects and our marker.
func (u *tusUpload) Terminate(ctx context.Context) error {
	if err := u.s.inner.AsTerminatableUpload(u.inner).Terminate(ctx); err != nil {
		return u.s.internal(ctx, err)
	}
	_, err := u.s.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(u.s.bucket), Key: aws.String(SubmittedKey(u.id))})
	return u.s.internal(ctx, err)
}

func (u *tusUpload) DeclareLength(ctx context.Context, length int64) error {
	return u.s.internal(ctx, u.s.inner.AsLengthDeclarableUpload(u.inner).DeclareLength(ctx, length))
}

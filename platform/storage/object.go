package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"
)

// maxParts is the S3 limit on parts per multipart upload.
const maxParts = 10000

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key          string
	Size         int64
	ContentType  string    // empty in List results (S3 does not list it)
	ETag         string    // without quotes
	LastModified time.Time // zero in Put results when the server does not report it
}

// notFound wraps err with ErrNotFound when S3 says the key does not exist.
func notFound(err error) error {
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// Put stores the object read from r under key with the given content type
// (empty means application/octet-stream), overwriting any object there.
//
// size is the exact length of r, or -1 when unknown: the object is then
// streamed as a multipart upload whose parts are config.S3.PartSize bytes,
// so one upload holds one part in memory, and objects are limited to
// 10,000 parts (160 GiB with the default 16 MiB parts). A known size up to
// PartSize is one PUT; a larger one is a multipart upload of PartSize parts
// (or larger ones when 10,000 parts would not suffice). A failed multipart
// upload is aborted.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (ObjectInfo, error) {
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	opts := minio.PutObjectOptions{ContentType: contentType}
	if size < 0 || size <= s.cfg.PartSize*maxParts {
		opts.PartSize = uint64(s.cfg.PartSize)
	}
	if size < 0 {
		size = -1
	}
	info, err := s.client.PutObject(ctx, s.bucket, key, r, size, opts)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("storage: put %s/%s: %w", s.bucket, key, err)
	}
	return ObjectInfo{
		Key:          key,
		Size:         info.Size,
		ContentType:  contentType,
		ETag:         info.ETag,
		LastModified: info.LastModified,
	}, nil
}

// PutFile stores the file at path under key (see Put).
func (s *Store) PutFile(ctx context.Context, key, path, contentType string) (ObjectInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("storage: put %s/%s: %w", s.bucket, key, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("storage: put %s/%s: %w", s.bucket, key, err)
	}
	return s.Put(ctx, key, f, st.Size(), contentType)
}

// Get opens the object for reading; the caller closes it. A missing key
// is ErrNotFound, reported by Get itself (not by the first Read).
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("storage: get %s/%s: %w", s.bucket, key, notFound(err))
	}
	// Stat sends the GET and returns its response headers, so errors such
	// as a missing key surface here; the body is then read from the same
	// response.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, fmt.Errorf("storage: get %s/%s: %w", s.bucket, key, notFound(err))
	}
	return &objectReader{obj: obj, bucket: s.bucket, key: key}, nil
}

// objectReader adds the bucket and key to read errors.
type objectReader struct {
	obj         *minio.Object
	bucket, key string
}

func (r *objectReader) Read(p []byte) (int, error) {
	n, err := r.obj.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("storage: read %s/%s: %w", r.bucket, r.key, err)
	}
	return n, err
}

func (r *objectReader) Close() error { return r.obj.Close() }

// GetToFile downloads the object to path, creating its directory, and
// returns the number of bytes written. The download goes to a temporary
// file in the same directory that is renamed over path once complete, so
// path never holds a partial object.
func (s *Store) GetToFile(ctx context.Context, key, path string) (int64, error) {
	rc, err := s.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, fmt.Errorf("storage: get %s/%s to %s: %w", s.bucket, key, path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.part")
	if err != nil {
		return 0, fmt.Errorf("storage: get %s/%s to %s: %w", s.bucket, key, path, err)
	}
	n, err := io.Copy(tmp, rc)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return 0, fmt.Errorf("storage: get %s/%s to %s: %w", s.bucket, key, path, err)
	}
	return n, nil
}

// Stat returns the object's metadata; a missing key is ErrNotFound.
func (s *Store) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("storage: stat %s/%s: %w", s.bucket, key, notFound(err))
	}
	return objectInfo(info), nil
}

func objectInfo(info minio.ObjectInfo) ObjectInfo {
	return ObjectInfo{
		Key:          info.Key,
		Size:         info.Size,
		ContentType:  info.ContentType,
		ETag:         info.ETag,
		LastModified: info.LastModified,
	}
}

// Remove deletes the object; a missing key is not an error.
func (s *Store) Remove(ctx context.Context, key string) error {
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("storage: remove %s/%s: %w", s.bucket, key, err)
	}
	return nil
}

// RemovePrefix deletes every object whose key starts with prefix (all of
// a video's outputs: "videos/{id}/"), in batched multi-object deletes. An
// empty prefix is refused, so a bug cannot empty the bucket.
func (s *Store) RemovePrefix(ctx context.Context, prefix string) error {
	if prefix == "" {
		return fmt.Errorf("storage: remove prefix in %s: empty prefix refused", s.bucket)
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	listed := s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true})
	toRemove := make(chan minio.ObjectInfo)
	listDone := make(chan error, 1)
	go func() {
		defer close(toRemove)
		for obj := range listed {
			if obj.Err != nil {
				listDone <- obj.Err
				return
			}
			select {
			case toRemove <- obj:
			case <-ctx.Done():
				listDone <- ctx.Err()
				return
			}
		}
		listDone <- nil
	}()
	var errs []error
	for rerr := range s.client.RemoveObjects(ctx, s.bucket, toRemove, minio.RemoveObjectsOptions{}) {
		errs = append(errs, fmt.Errorf("%s: %w", rerr.ObjectName, rerr.Err))
	}
	// RemoveObjects is done; cancel releases the lister should it still
	// wait to hand over an object. Our own cancel is not an error.
	cancel()
	if err := <-listDone; err != nil && (parent.Err() != nil || !errors.Is(err, context.Canceled)) {
		errs = append([]error{fmt.Errorf("list: %w", err)}, errs...)
	}
	if len(errs) > 0 {
		return fmt.Errorf("storage: remove prefix %s/%s: %w", s.bucket, prefix, errors.Join(errs...))
	}
	return nil
}

// List returns every object whose key starts with prefix, recursively, in
// key order. ContentType is empty in the results.
func (s *Store) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	var out []ObjectInfo
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("storage: list %s/%s: %w", s.bucket, prefix, obj.Err)
		}
		out = append(out, objectInfo(obj))
	}
	return out, nil
}

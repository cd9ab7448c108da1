package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/storage"
)

// streamPart is the smallest part size S3 accepts: the tests cross part
// boundaries with little data.
const streamPart = 5 << 20

// mustStreamStore returns a Store with 5 MiB parts on a new bucket, and a
// client of the same bucket to look behind its back.
func mustStreamStore(tb testing.TB) (*storage.Store, *minio.Client, string) {
	tb.Helper()
	m := harness.SharedMinIO(tb)
	bucket := harness.MustBucket(tb, m)
	cfg := m.S3Config(bucket)
	cfg.PartSize = streamPart
	return MustNew(tb, cfg), m.Client(tb), bucket
}

// mustSameObject reads key back and compares it with what was sent.
func mustSameObject(tb testing.TB, s *storage.Store, key string, size int64, sum []byte) {
	tb.Helper()
	rc, err := s.Get(testContext(tb), key)
	if err != nil {
		tb.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		tb.Fatalf("read back: %v", err)
	}
	if n != size || !bytes.Equal(h.Sum(nil), sum) {
		tb.Fatalf("read back %d bytes (sha256 %x), sent %d (%x)", n, h.Sum(nil), size, sum)
	}
}

// mustNoIncompleteUploads fails when the bucket holds a multipart upload
// that was neither completed nor aborted.
func mustNoIncompleteUploads(tb testing.TB, c *minio.Client, bucket string) {
	tb.Helper()
	for u := range c.ListIncompleteUploads(testContext(tb), bucket, "", true) {
		if u.Err != nil {
			tb.Fatalf("list incomplete uploads: %v", u.Err)
		}
		tb.Errorf("incomplete multipart upload left behind: key %s, upload %s", u.Key, u.UploadID)
	}
}

// TestPutStream stores objects of sizes around the part boundaries with
// one to four parts in flight, with and without spare buffers: the bytes
// come back intact, the size is reported, objects of a part or more are
// multipart uploads of 5 MiB parts (an S3 multipart ETag ends in
// -<parts>), smaller ones a single PUT, and nothing incomplete is left.
func TestPutStream(t *testing.T) {
	t.Parallel()
	s, c, bucket := mustStreamStore(t)
	sizes := map[string]int64{
		"empty":             0,
		"one byte":          1,
		"a byte short":      streamPart - 1,
		"one part":          streamPart,
		"one part and one":  streamPart + 1,
		"three parts":       3 * streamPart,
		"five and a half":   5*streamPart + streamPart/2,
		"seven and a crumb": 7*streamPart + 17,
	}
	for _, par := range []struct {
		parallel, spare int
	}{{1, 0}, {2, 2}, {4, 1}} {
		bufs := storage.NewPartBuffers(streamPart, par.spare)
		for name, size := range sizes {
			t.Run(fmt.Sprintf("%s/parallel %d spare %d", name, par.parallel, par.spare), func(t *testing.T) {
				key := fmt.Sprintf("stream/%d-%d/%d", par.parallel, par.spare, size)
				sent := sha256.New()
				info, err := s.PutStream(testContext(t), key, io.TeeReader(newGenReader(byte(size), size), sent),
					storage.StreamOptions{ContentType: "video/mp4", Parallel: par.parallel, Buffers: bufs})
				if err != nil {
					t.Fatalf("PutStream: %v", err)
				}
				if info.Size != size || info.Key != key || info.ContentType != "video/mp4" {
					t.Errorf("PutStream = %+v, want key %s, size %d, video/mp4", info, key, size)
				}
				parts := (size + streamPart - 1) / streamPart
				multipart := strings.Contains(info.ETag, "-")
				if size >= streamPart && (!multipart || !strings.HasSuffix(info.ETag, fmt.Sprintf("-%d", parts))) {
					t.Errorf("ETag %q: want a multipart upload of %d parts", info.ETag, parts)
				}
				if size < streamPart && multipart {
					t.Errorf("ETag %q: want a single PUT below one part", info.ETag)
				}
				mustSameObject(t, s, key, size, sent.Sum(nil))
				st, err := s.Stat(testContext(t), key)
				if err != nil || st.ContentType != "video/mp4" {
					t.Errorf("Stat = %+v, %v; want content type video/mp4", st, err)
				}
			})
		}
	}
	mustNoIncompleteUploads(t, c, bucket)
}

// TestPutStreamSizeHint: a size hint below one part reads into a buffer
// of that size, and an object longer than its hint is still stored whole
// (as a multipart upload when it reaches a part).
func TestPutStreamSizeHint(t *testing.T) {
	t.Parallel()
	s, c, bucket := mustStreamStore(t)
	tests := map[string]struct{ size, hint int64 }{
		"exact":                {size: 1000, hint: 1000},
		"hint larger":          {size: 1000, hint: 4000},
		"hint smaller":         {size: 1000, hint: 10},
		"empty":                {size: 0, hint: 10},
		"a part, hint smaller": {size: streamPart, hint: 100},
		"parts, hint smaller":  {size: 2*streamPart + 5, hint: 100},
		"hint a part":          {size: 2*streamPart + 5, hint: streamPart},
		"hint just below part": {size: streamPart - 1, hint: streamPart - 1},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			key := "hint/" + strings.ReplaceAll(name, " ", "-")
			sent := sha256.New()
			info, err := s.PutStream(testContext(t), key, io.TeeReader(newGenReader(7, tt.size), sent),
				storage.StreamOptions{SizeHint: tt.hint, Buffers: storage.NewPartBuffers(streamPart, 1)})
			if err != nil {
				t.Fatalf("PutStream: %v", err)
			}
			if info.Size != tt.size {
				t.Errorf("size %d, want %d", info.Size, tt.size)
			}
			if parts := (tt.size + streamPart - 1) / streamPart; tt.size >= streamPart && !strings.HasSuffix(info.ETag, fmt.Sprintf("-%d", parts)) {
				t.Errorf("ETag %q: want a multipart upload of %d parts", info.ETag, parts)
			}
			mustSameObject(t, s, key, tt.size, sent.Sum(nil))
		})
	}
	t.Cleanup(func() { mustNoIncompleteUploads(t, c, bucket) })
}

// failingReader yields n generated bytes, then fails with err; before it
// fails it calls onFail (e.g. cancelling the context, as net/http does
// for a client that went away).
type failingReader struct {
	r      io.Reader
	n      int64
	err    error
	onFail func()
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		if f.onFail != nil {
			f.onFail()
		}
		return 0, f.err
	}
	if int64(len(p)) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= int64(n)
	return n, err
}

// TestPutStreamReadErrorAborts fails the reader after some parts were
// sent (with io.ErrUnexpectedEOF, which is no end of the object, and with
// the caller's context cancelled, as for a client that hung up): the
// error says so, no object is stored, and the multipart upload is
// aborted, also when the context was cancelled.
func TestPutStreamReadErrorAborts(t *testing.T) {
	t.Parallel()
	s, c, bucket := mustStreamStore(t)
	errBroken := errors.New("connection reset by peer")
	tests := map[string]struct {
		after  int64
		err    error
		cancel bool
	}{
		"in the first part":          {after: streamPart / 2, err: errBroken},
		"after three parts":          {after: 3*streamPart + 100, err: errBroken},
		"at a part boundary":         {after: 2 * streamPart, err: errBroken},
		"unexpected EOF":             {after: 2*streamPart + 7, err: io.ErrUnexpectedEOF},
		"client went away":           {after: 3*streamPart + 100, err: errBroken, cancel: true},
		"client went away at once":   {after: streamPart / 2, err: errBroken, cancel: true},
		"client went away, boundary": {after: streamPart, err: context.Canceled, cancel: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(testContext(t))
			defer cancel()
			r := &failingReader{r: newGenReader(3, 1<<40), n: tt.after, err: tt.err}
			if tt.cancel {
				r.onFail = cancel
			}
			key := "fail/" + strings.ReplaceAll(name, " ", "-")
			_, err := s.PutStream(ctx, key, r, storage.StreamOptions{Parallel: 2, Buffers: storage.NewPartBuffers(streamPart, 2)})
			if !errors.Is(err, tt.err) {
				t.Fatalf("PutStream error = %v, want %v", err, tt.err)
			}
			if !strings.Contains(err.Error(), key) {
				t.Errorf("error %q does not name the key", err)
			}
			if _, err := s.Stat(testContext(t), key); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Stat after a failed PutStream: %v, want ErrNotFound", err)
			}
		})
	}
	t.Cleanup(func() { mustNoIncompleteUploads(t, c, bucket) })
}

// TestPutStreamStorageError: a bucket that does not exist fails the
// upload with the storage's error, for a single PUT and a multipart one.
func TestPutStreamStorageError(t *testing.T) {
	t.Parallel()
	m := harness.SharedMinIO(t)
	cfg := m.S3Config(harness.RandomName("missing"))
	cfg.PartSize = streamPart
	s := MustNew(t, cfg)
	for _, size := range []int64{10, 2*streamPart + 1} {
		_, err := s.PutStream(testContext(t), "k", newGenReader(1, size), storage.StreamOptions{})
		if minio.ToErrorResponse(errors.Unwrap(err)).Code != minio.NoSuchBucket && !strings.Contains(fmt.Sprint(err), "bucket does not exist") {
			t.Errorf("size %d: PutStream error = %v, want NoSuchBucket", size, err)
		}
	}
}

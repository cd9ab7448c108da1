package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/vidpipe/vidpipe/dev/harness"
)

// zeros yields n zero bytes, then fails with err (nil: io.EOF).
type zeros struct {
	n   int64
	err error
}

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		if z.err != nil {
			return 0, z.err
		}
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), z.n)]
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

// TestPartBuffersSpareBudget runs more streams at once than there are
// spare buffers, some failing: every stream finishes (a stream without a
// spare sends its parts one at a time), and afterwards every spare buffer
// is back in the budget.
func TestPartBuffersSpareBudget(t *testing.T) {
	t.Parallel()
	m := harness.SharedMinIO(t)
	cfg := m.S3Config(harness.MustBucket(t, m))
	cfg.PartSize = 5 << 20
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bufs := NewPartBuffers(cfg.PartSize, 3)
	errBroken := errors.New("broken")
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			z := &zeros{n: 4*cfg.PartSize + int64(i)}
			if i%3 == 2 {
				z.err = errBroken
			}
			_, err := s.PutStream(ctx, "spare/"+string(rune('a'+i)), z, StreamOptions{Parallel: 3, Buffers: bufs})
			if (z.err == nil) != (err == nil) {
				t.Errorf("stream %d: PutStream error = %v, read error %v", i, err, z.err)
			}
		})
	}
	wg.Wait()
	if n := len(bufs.spare); n != 0 {
		t.Fatalf("%d spare buffers still taken after every stream ended", n)
	}
}

// TestPutPartChecksumIsVerified: the CRC32C that replaces the payload's
// SHA-256 is checked by the server, so a part whose bytes do not match it
// is refused (what PutStream's integrity rests on).
func TestPutPartChecksumIsVerified(t *testing.T) {
	t.Parallel()
	m := harness.SharedMinIO(t)
	cfg := m.S3Config(harness.MustBucket(t, m))
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	core := minio.Core{Client: s.client}
	st := &stream{s: s, key: "crc", bufs: NewPartBuffers(cfg.PartSize, 0), parallel: 1}
	st.uploadID, err = core.NewMultipartUpload(ctx, s.bucket, st.key, minio.PutObjectOptions{
		UserMetadata: map[string]string{"X-Amz-Checksum-Algorithm": minio.ChecksumCRC32C.String()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.abort(ctx, core) }()
	data := []byte("the bytes the checksum was computed for")
	if _, err := st.putPart(ctx, core, 1, data); err != nil {
		t.Fatalf("putPart with the right checksum: %v", err)
	}
	// The same request with a checksum of other bytes.
	h := make(http.Header)
	h.Set(minio.ChecksumCRC32C.Key(), "AAAAAA==")
	_, err = core.PutObjectPart(ctx, s.bucket, st.key, st.uploadID, 2, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectPartOptions{CustomHeader: h, DisableContentSha256: true})
	if err == nil {
		t.Fatal("a part with a wrong CRC32C was accepted")
	}
	t.Logf("wrong checksum refused: %v", err)
}

// TestPartBuffersRecycle: returned buffers are handed out again (up to
// spare+1 of them are kept), and release drops the kept ones.
func TestPartBuffersRecycle(t *testing.T) {
	b := NewPartBuffers(5<<20, 1)
	x, y, z := b.get(), b.get(), b.get()
	b.put(x)
	b.put(y)
	b.put(z) // a third is more than spare+1: not kept
	got := map[*byte]bool{&b.get()[0]: true, &b.get()[0]: true}
	if !got[&x[0]] || !got[&y[0]] {
		t.Errorf("the two kept buffers were not handed out again")
	}
	if n := len(b.free); n != 0 {
		t.Errorf("%d buffers kept after taking both, want 0", n)
	}
	b.put(x)
	b.put(make([]byte, 10)) // not a part buffer: ignored
	if n := len(b.free); n != 1 {
		t.Fatalf("%d buffers kept, want 1", n)
	}
	b.release()
	if n := len(b.free); n != 0 {
		t.Errorf("%d buffers kept after release, want 0", n)
	}
	b.mu.Lock()
	armed := b.idle != nil
	b.mu.Unlock()
	if !armed {
		t.Error("no idle timer armed to release kept buffers")
	}
}

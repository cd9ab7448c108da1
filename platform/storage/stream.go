package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// abortTimeout bounds aborting a failed multipart upload; the abort runs
// even when the caller's context is cancelled (a client that went away),
// so that no incomplete upload is left behind.
const abortTimeout = 30 * time.Second

// PartBuffers hands out the part buffers of PutStream and bounds the
// memory they hold. A stream always gets one buffer (the one it reads
// into), so it makes progress whatever other streams do; it takes more,
// to send parts to S3 while it reads the next, only from a shared budget
// of spare buffers, without waiting for one.
//
// Buffers are recycled: up to spare+1 free ones are kept for the next
// streams, and the kept ones are released after a minute without a
// stream returning a buffer.
//
// The buffers of NewPartBuffers are anonymous memory mappings outside the
// Go heap (partmem_unix.go; heap slices elsewhere). In the heap they set
// the pace of the collector: 32 MiB of kept and in-flight buffers made a
// live heap of about 38 MB and a heap goal of twice that, so the process
// grew to the goal (about 96 MiB of RSS after seven 1 GiB uploads) while
// most of it was free. Out of the heap, a buffer costs its size while it
// holds data and nothing after it is released: releasing one returns its
// pages to the kernel (madvise MADV_DONTNEED) but keeps the mapping for
// the next stream, never unmapping it, so a late reader of a released
// buffer (net/http may still be writing a request body after the
// response came back) reads zeros rather than faulting. The mappings kept
// are at most the most buffers ever in use at once.
//
// The memory of part buffers is therefore at most
// (streams at the same time + spare) × part size. It is safe for
// concurrent use.
type PartBuffers struct {
	size   int
	mapped bool          // buffers are mappings (NewPartBuffers), not heap slices
	spare  chan struct{} // a token per spare buffer in use
	free   chan []byte   // kept buffers of len size, their pages resident

	mu   sync.Mutex
	idle *time.Timer // releases the kept buffers
	cold [][]byte    // mapped buffers whose pages were released
}

// partBuffersIdle is how long kept buffers outlive the last stream.
const partBuffersIdle = time.Minute

// NewPartBuffers returns buffers of partSize bytes (at least 5 MiB, the
// S3 minimum part size) with spare buffers shared by all streams on top of
// each stream's own (0: none, every stream sends its parts one at a time
// after reading each).
func NewPartBuffers(partSize int64, spare int) *PartBuffers {
	spare = max(spare, 0)
	return &PartBuffers{size: int(partSize), mapped: partMemMapped, spare: make(chan struct{}, spare), free: make(chan []byte, spare+1)}
}

// PartSize is the size of every buffer, the part size of the streams.
func (b *PartBuffers) PartSize() int64 { return int64(b.size) }

func (b *PartBuffers) get() []byte {
	select {
	case p := <-b.free:
		return p
	default:
	}
	if !b.mapped {
		return make([]byte, b.size)
	}
	b.mu.Lock()
	if n := len(b.cold); n > 0 {
		p := b.cold[n-1]
		b.cold = b.cold[:n-1]
		b.mu.Unlock()
		return p
	}
	b.mu.Unlock()
	p, err := mapPartMem(b.size)
	if err != nil { // out of mappings: the heap still works
		return make([]byte, b.size)
	}
	return p
}

// drop gives up a buffer that is not kept: a heap one is left to the
// collector, a mapped one has its pages released and waits, cold, for
// the next get.
func (b *PartBuffers) drop(p []byte) {
	if !b.mapped || !isPartMem(p) {
		return
	}
	releasePartMem(p)
	b.mu.Lock()
	b.cold = append(b.cold, p)
	b.mu.Unlock()
}

func (b *PartBuffers) put(p []byte) {
	p = p[:cap(p)]
	if len(p) != b.size {
		return
	}
	select {
	case b.free <- p:
	default: // enough kept (or none kept: a private set)
		b.drop(p)
	}
	if cap(b.free) == 0 {
		return
	}
	b.mu.Lock()
	if b.idle == nil {
		b.idle = time.AfterFunc(partBuffersIdle, b.release)
	} else {
		b.idle.Reset(partBuffersIdle)
	}
	b.mu.Unlock()
}

// release drops the kept buffers (streams still running keep theirs).
func (b *PartBuffers) release() {
	for {
		select {
		case p := <-b.free:
			b.drop(p)
		default:
			return
		}
	}
}

// trySpare takes a spare buffer if the budget has one left.
func (b *PartBuffers) trySpare() ([]byte, bool) {
	select {
	case b.spare <- struct{}{}:
		return b.get(), true
	default:
		return nil, false
	}
}

func (b *PartBuffers) putSpare(p []byte) {
	b.put(p)
	<-b.spare
}

// StreamOptions configure PutStream.
type StreamOptions struct {
	// ContentType of the object; empty means application/octet-stream.
	ContentType string
	// Parallel is how many parts one stream sends to S3 at the same time
	// at most; meanwhile it reads the next part into another buffer, so it
	// holds up to Parallel+1 buffers: its own and spares of Buffers (with
	// none to spare, it reads a part, sends it, and reads the next once
	// the part is stored). Default (0): 1.
	Parallel int
	// Buffers supplies the part buffers (and their size). Default (nil):
	// buffers of config.S3.PartSize private to the call with Parallel
	// spares.
	Buffers *PartBuffers
	// SizeHint, when positive, is the most bytes r is expected to hold
	// (e.g. from a Content-Length): below one part, the object is read
	// into a buffer of that size instead of a whole part buffer. A longer
	// r is still stored whole. Default (0): unknown.
	SizeHint int64
}

// PutStream stores the object read from r, whose size is not known in
// advance, under key, overwriting any object there. It reads r until
// io.EOF; any other read error fails it (io.ErrUnexpectedEOF too: it is
// not taken for the end of the object).
//
// An object shorter than one part is one PUT. A longer one is a multipart
// upload whose parts (the Buffers' part size, at most 10,000 of them) are
// sent while the next part is read, up to Parallel at a time, each with a
// CRC32C checksum that S3 verifies (x-amz-checksum-crc32c) instead of a
// SHA-256 of the payload in the signature: the same integrity for a
// fraction of the CPU, on both ends, also over plain http. On any error
// the multipart upload is aborted, also when ctx is cancelled (the abort
// gets its own 30 s), so nothing incomplete is left behind.
//
// The size in the result is the number of bytes stored.
func (s *Store) PutStream(ctx context.Context, key string, r io.Reader, o StreamOptions) (ObjectInfo, error) {
	if o.ContentType == "" {
		o.ContentType = "application/octet-stream"
	}
	if o.Parallel <= 0 {
		o.Parallel = 1
	}
	bufs := o.Buffers
	if bufs == nil { // private: nothing kept after the call
		bufs = &PartBuffers{size: int(s.cfg.PartSize), spare: make(chan struct{}, o.Parallel)}
	}
	var (
		own     []byte
		n       int
		eof     bool
		err     error
		pooled  = true
		partLen = int64(bufs.size)
	)
	if o.SizeHint > 0 && o.SizeHint < partLen {
		// One read past the hint tells a short object from a longer one.
		own, pooled = make([]byte, o.SizeHint+1), false
		if n, eof, err = fill(r, own); err == nil && !eof {
			big := bufs.get()
			copy(big, own[:n])
			var m int
			m, eof, err = fill(r, big[n:])
			own, n, pooled = big, n+m, true
		}
	} else {
		own = bufs.get()
		n, eof, err = fill(r, own)
	}
	if err != nil || eof {
		if pooled {
			defer bufs.put(own)
		}
		if err != nil {
			return ObjectInfo{}, fmt.Errorf("storage: put %s/%s: %w", s.bucket, key, err)
		}
		return s.Put(ctx, key, bytes.NewReader(own[:n]), int64(n), o.ContentType)
	}
	st := &stream{s: s, key: key, bufs: bufs, parallel: o.Parallel}
	info, err := st.run(ctx, r, own, o.ContentType)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("storage: put %s/%s: %w", s.bucket, key, err)
	}
	return info, nil
}

// fill reads from r until buf is full or r ends (eof; a nil error).
func fill(r io.Reader, buf []byte) (n int, eof bool, err error) {
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			return n, true, nil
		}
		if err != nil {
			return n, false, err
		}
	}
	return n, false, nil
}

// stream is one multipart upload of PutStream.
type stream struct {
	s        *Store
	key      string
	bufs     *PartBuffers
	parallel int
	uploadID string
}

// run sends own (full, read from r) as part 1 and the rest of r after
// it, then completes the upload; on any error it aborts it.
func (st *stream) run(ctx context.Context, r io.Reader, own []byte, contentType string) (ObjectInfo, error) {
	core := minio.Core{Client: st.s.client}
	uploadID, err := core.NewMultipartUpload(ctx, st.s.bucket, st.key, minio.PutObjectOptions{
		ContentType:  contentType,
		UserMetadata: map[string]string{"X-Amz-Checksum-Algorithm": minio.ChecksumCRC32C.String()},
	})
	if err != nil {
		st.bufs.put(own)
		return ObjectInfo{}, fmt.Errorf("start multipart upload: %w", err)
	}
	st.uploadID = uploadID
	size, parts, err := st.sendParts(ctx, core, r, own)
	var up minio.UploadInfo
	if err == nil {
		slices.SortFunc(parts, func(a, b minio.CompletePart) int { return a.PartNumber - b.PartNumber })
		if up, err = core.CompleteMultipartUpload(ctx, st.s.bucket, st.key, uploadID, parts, minio.PutObjectOptions{}); err != nil {
			err = fmt.Errorf("complete multipart upload: %w", err)
		}
	}
	if err != nil {
		if aerr := st.abort(ctx, core); aerr != nil {
			err = errors.Join(err, fmt.Errorf("abort multipart upload %s: %w", uploadID, aerr))
		}
		return ObjectInfo{}, err
	}
	return ObjectInfo{Key: st.key, Size: size, ContentType: contentType, ETag: up.ETag, LastModified: up.LastModified}, nil
}

// partBuf is a part buffer and where it came from.
type partBuf struct {
	b     []byte
	spare bool
}

func (st *stream) release(p partBuf) {
	if p.spare {
		st.bufs.putSpare(p.b)
	} else {
		st.bufs.put(p.b)
	}
}

// sentPart is the outcome of one part upload; its buffer comes back.
type sentPart struct {
	buf  partBuf
	part minio.CompletePart
	err  error
}

// sendParts sends own (full) as part 1, then reads r part by part and
// sends each part while it reads the next, up to st.parallel parts on
// their way at once (so a stream holds up to st.parallel+1 buffers: its
// own and spares). It returns the bytes sent and the parts; every
// buffer is released when it returns. The first error (a read, a part
// upload) stops it and cancels the other part uploads.
func (st *stream) sendParts(ctx context.Context, core minio.Core, r io.Reader, own []byte) (int64, []minio.CompletePart, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		results  = make(chan sentPart, st.parallel+1)
		inFlight int
		parts    []minio.CompletePart
		firstErr error
		free     []partBuf
		size     int64
	)
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
			cancel()
		}
	}
	collect := func(s sentPart) {
		inFlight--
		free = append(free, s.buf)
		if s.err != nil {
			fail(s.err)
			return
		}
		parts = append(parts, s.part)
	}
	cur, n, last := partBuf{b: own}, len(own), false
	for number := 1; ; number++ {
		if number > maxParts {
			free = append(free, cur)
			fail(fmt.Errorf("the object has more than %d parts of %d bytes", maxParts, st.bufs.size))
			break
		}
		for inFlight >= st.parallel && firstErr == nil {
			collect(<-results)
		}
		if firstErr != nil {
			free = append(free, cur)
			break
		}
		size += int64(n)
		inFlight++
		go func(number int, p partBuf, n int) {
			cp, err := st.putPart(ctx, core, number, p.b[:n])
			results <- sentPart{buf: p, part: cp, err: err}
		}(number, cur, n)
		if last {
			break
		}
		// A buffer for the next part: one back from a finished part, else
		// a spare one, else the next to come back.
	drain:
		for inFlight > 0 {
			select {
			case s := <-results:
				collect(s)
			default:
				break drain
			}
		}
		if firstErr == nil && len(free) == 0 {
			if b, ok := st.bufs.trySpare(); ok {
				free = append(free, partBuf{b: b, spare: true})
			} else {
				collect(<-results)
			}
		}
		if firstErr != nil {
			break
		}
		cur, free = free[len(free)-1], free[:len(free)-1]
		var (
			eof bool
			err error
		)
		n, eof, err = fill(r, cur.b)
		if err != nil {
			free = append(free, cur)
			fail(fmt.Errorf("read: %w", err))
			break
		}
		if n == 0 { // r ended at a part boundary
			free = append(free, cur)
			break
		}
		last = eof
	}
	for inFlight > 0 {
		collect(<-results)
	}
	for _, p := range free {
		st.release(p)
	}
	return size, parts, firstErr
}

// putPart sends one part with its CRC32C and an unsigned payload.
func (st *stream) putPart(ctx context.Context, core minio.Core, number int, data []byte) (minio.CompletePart, error) {
	sum := crc32.Checksum(data, castagnoli)
	crc := base64.StdEncoding.EncodeToString([]byte{byte(sum >> 24), byte(sum >> 16), byte(sum >> 8), byte(sum)})
	h := make(http.Header)
	h.Set(minio.ChecksumCRC32C.Key(), crc)
	p, err := core.PutObjectPart(ctx, st.s.bucket, st.key, st.uploadID, number, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectPartOptions{CustomHeader: h, DisableContentSha256: true})
	if err != nil {
		return minio.CompletePart{}, fmt.Errorf("part %d: %w", number, err)
	}
	if p.ChecksumCRC32C != "" && p.ChecksumCRC32C != crc {
		return minio.CompletePart{}, fmt.Errorf("part %d: storage computed CRC32C %s, sent %s", number, p.ChecksumCRC32C, crc)
	}
	return minio.CompletePart{PartNumber: number, ETag: p.ETag, ChecksumCRC32C: crc}, nil
}

// abort removes the multipart upload and its parts, with its own deadline
// whatever the state of ctx.
func (st *stream) abort(ctx context.Context, core minio.Core) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	return core.AbortMultipartUpload(ctx, st.s.bucket, st.key, st.uploadID)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

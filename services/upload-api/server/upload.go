package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"sync"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/upload-api/sniff"
)

// Multipart limits besides the configured sizes.
const (
	// bodyBufferSize is the read buffer of a multipart body.
	bodyBufferSize = 256 << 10
	// maxParts bounds the parts of one multipart body.
	maxParts = 8
	// multipartSlack is what a multipart body may carry besides the file
	// and the fields: boundaries and part headers.
	multipartSlack = 64 << 10
)

// uploadResponse is the 202 body of an accepted upload.
type uploadResponse struct {
	ID     string            `json:"id"`
	Status string            `json:"status"`
	Links  map[string]string `json:"links"`
}

func acceptedBody(o Options, id string, tus bool) uploadResponse {
	links := map[string]string{
		"self":   o.link("/v1/videos/" + id),
		"events": o.link("/v1/videos/" + id + "/events"),
	}
	if tus {
		links["upload"] = o.link("/v1/uploads/" + id)
	}
	return uploadResponse{ID: id, Status: "uploaded", Links: links}
}

// handleUpload serves POST /v1/videos: a multipart/form-data body with a
// "file" part and optional "title", "description" and "tags" fields (in
// any order, also after the file).
//
// The file streams to object storage as it arrives through a counting
// limiter (storage.PutStream; nothing touches local disk): the body is
// read in large reads, and each S3 part is sent while the next one is
// read (Options.UploadParallelParts parts at a time, in spare buffers
// shared by all uploads, Options.UploadBufferBytes); memory holds the
// upload's own part buffer plus the spares it got. On any failure the S3
// multipart upload is aborted.
// Its first bytes are sniffed first: not a video container → 415 and
// nothing stored. Larger than the limit → 413 and the partial object
// removed. Then video.uploaded is published and acknowledged by all
// in-sync replicas before the 202 (see intake.submit): if Kafka is known
// not to hold it, the object is removed and the answer is 503; if that is
// unknown, the answer is 503 and the object stays under a pending marker
// until the recovery sweep can tell.
//
// Caps and quotas (see Limits): a full upload cap answers 429 with
// Retry-After; the owner's storage quota is reserved from Content-Length
// before the body is read (413 quota_exceeded), bounds the file as it
// arrives, and is settled with the stored size at completion; a body
// slower on average than the minimum rate after its grace period is
// dropped (408 upload_too_slow).
func handleUpload(log *slog.Logger, o Options, lim *Limits, in *intake) http.Handler {
	bufs := &uploadBuffers{readers: sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bodyBufferSize) }}}
	if in.objects != nil {
		ps := in.objects.PartSize()
		bufs.parts = storage.NewPartBuffers(ps, int(max(o.UploadBufferBytes, 0)/ps))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := serveUpload(w, r, log, o, lim, in, bufs)
		code := "accepted"
		if err != nil {
			code = codeInternal
			var ae *apiError
			if errors.As(err, &ae) {
				code = ae.Code
			}
			writeError(w, r, log, err)
		}
		in.metrics.uploads.WithLabelValues("multipart", code).Inc()
	})
}

// uploadBuffers are the buffers multipart uploads reuse: the body's read
// buffer and the S3 part buffers.
type uploadBuffers struct {
	readers sync.Pool // *bufio.Reader of bodyBufferSize
	parts   *storage.PartBuffers
}

func serveUpload(w http.ResponseWriter, r *http.Request, log *slog.Logger, o Options, lim *Limits, in *intake, bufs *uploadBuffers) (err error) {
	ctx := r.Context()
	owner := ownerFrom(ctx)
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" {
		return errorf(http.StatusUnsupportedMediaType, codeUnsupportedContent,
			"the body must be multipart/form-data with a file part (resumable uploads: tus at /v1/uploads/)")
	}
	boundary := params["boundary"]
	if boundary == "" {
		return errorf(http.StatusBadRequest, codeMalformedMultipart, "multipart/form-data without a boundary")
	}
	bodyLimit := o.MaxUploadBytes + 3*o.MaxFieldBytes + multipartSlack
	if r.ContentLength > bodyLimit {
		return errorf(http.StatusRequestEntityTooLarge, codeBodyTooLarge,
			"the request body is larger than the %d-byte limit", bodyLimit).WithHeader("Connection", "close")
	}
	release, busy := lim.acquireUpload(owner)
	if busy != nil {
		return busy
	}
	defer release()
	id := newVideoID()
	// The file is at most the body; the fields and the multipart framing
	// take at most 3*MaxFieldBytes+multipartSlack of it.
	minFile, maxFile := int64(1), o.MaxUploadBytes
	if cl := r.ContentLength; cl >= 0 {
		maxFile = min(maxFile, cl)
		minFile = max(min(1, maxFile), min(maxFile, cl-3*o.MaxFieldBytes-multipartSlack))
	}
	quotaMax, err := lim.reserve(ctx, owner, id, minFile, maxFile)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			lim.release(ctx, id)
		}
	}()
	body := &idleReader{r: lim.rateReader(http.MaxBytesReader(w, r.Body, bodyLimit)), rc: http.NewResponseController(w), idle: o.BodyIdleTimeout}
	body.extend()
	// Uploads have no overall write deadline either: the answer comes
	// after the whole body and the Kafka acknowledgement.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})

	var (
		f      videoFields
		seen   = map[string]bool{}
		stored *storedFile
	)
	fail := func(err error) error {
		if stored != nil {
			in.removeSource(ctx, id)
		}
		return err
	}
	// Large reads from the connection: mime/multipart reads 4 KiB at a
	// time, each a system call and a deadline update without this buffer.
	br := bufs.readers.Get().(*bufio.Reader)
	br.Reset(body)
	defer func() {
		br.Reset(nil)
		bufs.readers.Put(br)
	}()
	mr := multipart.NewReader(br, boundary)
	for n := 0; ; n++ {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return errorf(http.StatusBadRequest, codeMalformedMultipart, "the body holds no multipart part")
			}
			break
		}
		if err != nil {
			return fail(bodyError(err, "malformed multipart body"))
		}
		if n >= maxParts {
			return fail(errorf(http.StatusBadRequest, codeMalformedMultipart, "more than %d parts", maxParts))
		}
		name := p.FormName()
		if name != "file" && seen[name] {
			return fail(errorf(http.StatusBadRequest, codeInvalidField, "field %q given twice", clip(name, 64)))
		}
		seen[name] = true
		switch name {
		case "title", "description", "tags":
			v, err := readField(p, name, o.MaxFieldBytes)
			if err != nil {
				return fail(err)
			}
			switch name {
			case "title":
				f.Title, err = parseTitle(v)
			case "description":
				f.Description, err = parseDescription(v)
			case "tags":
				f.Tags, err = parseTags(v)
			}
			if err != nil {
				return fail(errorf(http.StatusBadRequest, codeInvalidField, "%v", err))
			}
		case "file":
			if stored != nil {
				return fail(errorf(http.StatusBadRequest, codeMalformedMultipart, "more than one file part"))
			}
			f.Filename = cleanFilename(p.FileName())
			sf, err := storeFile(r, p, id, o, quotaMax, in, bufs.parts)
			if err != nil {
				return err // storeFile leaves nothing behind
			}
			stored = sf
		default:
			return fail(errorf(http.StatusBadRequest, codeUnknownField,
				"unknown form field %q (allowed: file, title, description, tags)", clip(name, 64)))
		}
		_ = p.Close()
	}
	// The body must end as declared: a Content-Length larger than what
	// arrives (a client that hung up or lied) is a malformed request even
	// when the multipart data looks complete.
	if n, err := io.Copy(io.Discard, io.LimitReader(br, multipartSlack+1)); err != nil {
		return fail(bodyError(err, "the body ended before its declared length"))
	} else if n > multipartSlack {
		return fail(errorf(http.StatusBadRequest, codeMalformedMultipart, "data after the end of the multipart body"))
	}
	if stored == nil {
		return errorf(http.StatusBadRequest, codeMissingFile, "the form has no file part")
	}
	// At completion the reservation becomes the stored size (checked
	// again: a reservation may have expired during a very long upload).
	if _, err := lim.reserve(ctx, owner, id, stored.size, stored.size); err != nil {
		return fail(err)
	}
	ev := uploadedEvent(id, owner, in.objects.Bucket(), f, stored.size, stored.contentType)
	if err := ev.Validate(); err != nil {
		return fail(fmt.Errorf("upload %s: event does not validate: %w", id, err))
	}
	if err := in.submit(ctx, ev, withdraw); err != nil {
		return err
	}
	w.Header().Set("Location", o.link("/v1/videos/"+id))
	writeJSON(w, http.StatusAccepted, acceptedBody(o, id, false))
	return nil
}

// storedFile is a file part stored as a video's source.
type storedFile struct {
	size        int64
	contentType string
}

// storeFile sniffs the file part and streams it to contract.SourceKey(id).
// The file may have up to o.MaxUploadBytes, and up to quotaMax bytes (what
// the owner's storage quota left for it). On any error nothing is left in
// storage.
func storeFile(r *http.Request, p *multipart.Part, id string, o Options, quotaMax int64, in *intake, bufs *storage.PartBuffers) (*storedFile, error) {
	ctx := r.Context()
	received := in.metrics.uploadBytes.WithLabelValues("multipart")
	lim := &countingLimiter{r: p, max: o.MaxUploadBytes, onRead: func(n int) { received.Add(float64(n)) }}
	if quotaMax < lim.max {
		lim.max, lim.tooLarge = quotaMax, errOverQuota
	}
	head := make([]byte, sniff.HeadSize)
	n, err := io.ReadFull(lim, head)
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if lim.err != nil {
			return nil, bodyError(lim.err, "malformed multipart body")
		}
	case err != nil:
		if lim.err != nil {
			err = lim.err
		}
		return nil, bodyError(err, "malformed multipart body")
	}
	head = head[:n]
	if n == 0 {
		return nil, errorf(http.StatusBadRequest, codeEmptyFile, "the file is empty")
	}
	c, err := sniff.Detect(head)
	if err != nil {
		return nil, errorf(http.StatusUnsupportedMediaType, codeUnsupportedMedia,
			"the file is not a supported video container or audio file (%v); supported: MP4/MOV/3GP, Matroska/WebM, AVI, MPEG-TS/PS, Ogg, FLV; audio: M4A, MP3, WAV, FLAC, Ogg Opus/Vorbis, AAC", err)
	}
	key := contract.SourceKey(id)
	info, err := in.objects.PutStream(ctx, key, io.MultiReader(bytes.NewReader(head), lim),
		storage.StreamOptions{ContentType: c.MIME, Parallel: o.UploadParallelParts, Buffers: bufs, SizeHint: lim.max})
	if err != nil {
		// A failed multipart upload is aborted by storage; remove any
		// object anyway (a single-part PUT that raced the error).
		in.removeSource(ctx, id)
		if lim.err != nil {
			return nil, bodyError(lim.err, "malformed multipart body")
		}
		if ctx.Err() != nil {
			return nil, errorf(http.StatusBadRequest, codeBadRequest, "the client went away").WithCause(err)
		}
		return nil, unavailable(codeStorageUnavailable, "object storage is unavailable; try again later", err)
	}
	if lim.err != nil {
		// The storage client may take a truncated body (unexpected EOF)
		// for a short last part: never keep a file whose read failed.
		in.removeSource(ctx, id)
		return nil, bodyError(lim.err, "malformed multipart body")
	}
	size := info.Size
	if size <= 0 {
		size = lim.n
	}
	return &storedFile{size: size, contentType: c.MIME}, nil
}

// errFileTooLarge is returned by countingLimiter past its limit.
var errFileTooLarge = errors.New("file exceeds the size limit")

// errOverQuota is returned by countingLimiter past what is left of the
// owner's storage quota.
var errOverQuota = errors.New("file exceeds the storage quota")

// countingLimiter counts bytes read from r and fails with errFileTooLarge
// as soon as more than max arrived. It remembers the first read error
// (other than EOF), so a failed storage write can be told apart from a
// failed client.
type countingLimiter struct {
	r      io.Reader
	max    int64
	n      int64
	err    error
	onRead func(n int)
	// tooLarge is the error past max (nil: errFileTooLarge).
	tooLarge error
}

func (l *countingLimiter) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if rest := l.max + 1 - l.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.onRead != nil && n > 0 {
		l.onRead(n)
	}
	if l.n > l.max {
		l.err = errFileTooLarge
		if l.tooLarge != nil {
			l.err = l.tooLarge
		}
		return n, l.err
	}
	if err != nil && !errors.Is(err, io.EOF) {
		// Not io.ErrUnexpectedEOF itself: readers up the chain (minio-go)
		// take that for a short final part.
		l.err = fmt.Errorf("read file part: %w", err)
		return n, errReadFile
	}
	return n, err
}

// errReadFile is what countingLimiter returns for a failed read; the
// cause is in countingLimiter.err.
var errReadFile = errors.New("reading the file part failed")

// readField reads a form field of at most max bytes.
func readField(p *multipart.Part, name string, max int64) (string, error) {
	b, err := io.ReadAll(io.LimitReader(p, max+1))
	if err != nil {
		return "", bodyError(err, "malformed multipart body")
	}
	if int64(len(b)) > max {
		return "", errorf(http.StatusRequestEntityTooLarge, codeFieldTooLarge, "field %q is larger than %d bytes", name, max)
	}
	return string(b), nil
}

// bodyError classifies an error met while reading an upload body.
func bodyError(err error, msg string) error {
	var (
		mbe *http.MaxBytesError
		ae  *apiError
	)
	switch {
	case errors.As(err, &ae): // upload_too_slow
		return ae
	case errors.Is(err, errOverQuota):
		return errorf(http.StatusRequestEntityTooLarge, codeQuotaExceeded,
			"the file is larger than what is left of your storage quota (GET /v1/usage)").WithHeader("Connection", "close")
	case errors.Is(err, errFileTooLarge):
		return errorf(http.StatusRequestEntityTooLarge, codeFileTooLarge, "the file is larger than the size limit").
			WithHeader("Connection", "close")
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, codeBodyTooLarge, "the request body is larger than the %d-byte limit", mbe.Limit).
			WithHeader("Connection", "close")
	case errors.Is(err, errIdle):
		return errorf(http.StatusRequestTimeout, codeBadRequest, "the upload stalled").WithHeader("Connection", "close")
	}
	return errorf(http.StatusBadRequest, codeMalformedMultipart, "%s", msg).WithCause(err)
}

// errIdle reports a body read that hit the idle deadline.
var errIdle = errors.New("upload body stalled")

// idleReader pushes the connection's read deadline forward by idle after
// every read, so an upload may take as long as it needs while it makes
// progress, and a stalled one is dropped.
type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
}

func (b *idleReader) extend() { _ = b.rc.SetReadDeadline(time.Now().Add(b.idle)) }

func (b *idleReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.extend()
	}
	var ne interface{ Timeout() bool }
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		return n, fmt.Errorf("%w: %w", errIdle, err)
	}
	return n, err
}

package tusupload

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/vidpipe/vidpipe/services/upload-api/apierror"
)

// Caps and quotas of the tus endpoint (see Hooks.Limits):
//
//   - POST (creation, creation-with-upload) and PATCH take an upload slot
//     for the request (429 with Retry-After when the caps are full).
//   - The storage quota is reserved at creation for Upload-Length (for a
//     deferred length: the POST body's Content-Length), before any byte
//     is stored (413 quota_exceeded), renewed by each PATCH for the
//     upload's length (a deferred-length upload reserves the Upload-Length
//     the PATCH declares, else its offset plus Content-Length), and checked
//     again with the final size in the request that completes the upload.
//     A PATCH body cannot go past the reservation. Terminated and rejected
//     uploads release it.
//   - POST and PATCH bodies slower on average than the minimum rate after
//     the grace period are cut off (408 upload_too_slow); the bytes that
//     arrived are kept, so the client resumes.

// tusCreate carries what the creation request knows into preCreate and
// what preCreate reserved back to the body reader.
type tusCreate struct {
	contentLength int64
	reserved      int64 // -1 until preCreate reserved
}

type tusCreateKey struct{}

// limitCreate applies the caps to a creation request around next.
func (t *Handler) limitCreate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release, err := t.hooks.Limits.AcquireUpload(t.hooks.Owner(r.Context()))
		if err != nil {
			t.writeTusError(w, r, clientError(err))
			return
		}
		defer release()
		st := &tusCreate{contentLength: r.ContentLength, reserved: -1}
		r = r.WithContext(context.WithValue(r.Context(), tusCreateKey{}, st))
		body := apiErrorReader{t.hooks.Limits.Throttle(r.Body)}
		r.Body = readCloser{&lazyCap{r: body, max: func() int64 { return st.reserved }}, r.Body}
		next.ServeHTTP(w, r)
	})
}

// reserveCreate reserves the quota of a new upload (preCreate).
func (t *Handler) reserveCreate(ctx context.Context, owner, id string, fi handler.FileInfo) error {
	st, _ := ctx.Value(tusCreateKey{}).(*tusCreate)
	want, atLeast := fi.Size, fi.Size
	if fi.SizeIsDeferred {
		want, atLeast = 0, 0
		if st != nil && st.contentLength > 0 {
			want, atLeast = st.contentLength, st.contentLength
		} else if st != nil && st.contentLength < 0 { // a chunked body
			want = t.cfg.MaxSize
		}
	}
	got, err := t.hooks.Limits.Reserve(ctx, owner, id, atLeast, want)
	if err != nil {
		return err
	}
	if st != nil {
		st.reserved = got
	}
	return nil
}

// limitPatch applies the caps to a PATCH of upload id (info fi, as
// stored: its ID is the store's, not the video id): it returns the body
// to hand to tusd and the release of the upload slot, or the error to
// answer.
func (t *Handler) limitPatch(r *http.Request, id string, fi handler.FileInfo) (io.ReadCloser, func(), error) {
	ctx := r.Context()
	owner := t.hooks.Owner(ctx)
	release, err := t.hooks.Limits.AcquireUpload(owner)
	if err != nil {
		return nil, nil, err
	}
	body := apiErrorReader{t.hooks.Limits.Throttle(r.Body)}
	// The stored info's offset is not kept up to date; tusd refuses a
	// PATCH whose Upload-Offset is not the upload's offset before it
	// reads the body.
	offset, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || offset < 0 {
		offset = 0
	}
	if !fi.SizeIsDeferred && offset >= fi.Size {
		return readCloser{body, r.Body}, release, nil // nothing more to store
	}
	atLeast, want := fi.Size, fi.Size
	if fi.SizeIsDeferred {
		if n, err := strconv.ParseInt(r.Header.Get("Upload-Length"), 10, 64); err == nil && n >= 0 {
			atLeast, want = n, n
		} else if r.ContentLength >= 0 {
			atLeast, want = offset+r.ContentLength, offset+r.ContentLength
		} else {
			atLeast, want = offset+1, max(offset+1, t.cfg.MaxSize)
		}
	}
	got, err := t.hooks.Limits.Reserve(ctx, owner, id, min(atLeast, want), want)
	if err != nil {
		release()
		return nil, nil, err
	}
	capped := &capReader{r: body, max: got - offset, err: tusError(apierror.Errorf(http.StatusRequestEntityTooLarge, apierror.CodeQuotaExceeded,
		"the upload is larger than what is left of your storage quota (GET /v1/usage)"))}
	return readCloser{capped, r.Body}, release, nil
}

// checkFinished checks the quota with the final size of a completed
// upload (preFinish). Over it, the upload is terminated (413).
func (t *Handler) checkFinished(ctx context.Context, fi handler.FileInfo) error {
	owner := fi.MetaData[metaOwner]
	if _, err := t.hooks.Limits.Reserve(ctx, owner, fi.ID, fi.Size, fi.Size); err != nil {
		var ae *apierror.Error
		if errors.As(err, &ae) && ae.Code == apierror.CodeQuotaExceeded {
			t.terminate(context.WithoutCancel(ctx), fi.ID)
			t.hooks.Outcome(ae.Code)
		}
		return err
	}
	return nil
}

// lazyCap fails with a 413 once more than max() bytes were read (max < 0:
// not known yet, no cap).
type lazyCap struct {
	r   io.Reader
	max func() int64
	n   int64
}

func (c *lazyCap) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if m := c.max(); m >= 0 && c.n > m {
		return n, tusError(apierror.Errorf(http.StatusRequestEntityTooLarge, apierror.CodeQuotaExceeded,
			"the upload is larger than what is left of your storage quota (GET /v1/usage)"))
	}
	return n, err
}

// clientError is err as an API error (a 500 "internal error" when it is
// not one).
func clientError(err error) *apierror.Error {
	var ae *apierror.Error
	if errors.As(err, &ae) {
		return ae
	}
	return apierror.Internal()
}

// capReader fails with err once more than max bytes were read; it never
// reads more than one byte past max.
type capReader struct {
	r   io.Reader
	max int64
	n   int64
	err error
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n > c.max {
		return 0, c.err
	}
	if rest := c.max + 1 - c.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return n, c.err
	}
	return n, err
}

// readCloser reads from one reader and closes another (the request body).
type readCloser struct {
	io.Reader
	io.Closer
}

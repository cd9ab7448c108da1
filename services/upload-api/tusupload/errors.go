package tusupload

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/vidpipe/vidpipe/services/upload-api/apierror"
)

// errNotFound answers a request on an upload that does not exist or is
// another user's.
var errNotFound = apierror.Errorf(http.StatusNotFound, apierror.CodeNotFound, "video not found")

// tusError makes an API error a tusd error with the API's JSON body.
func tusError(ae *apierror.Error) handler.Error {
	b, _ := json.Marshal(apierror.Body{Error: apierror.Detail{Code: ae.Code, Message: ae.Message}})
	h := handler.HTTPHeader{"Content-Type": "application/json; charset=utf-8"}
	for k := range ae.Header {
		h[k] = ae.Header.Get(k)
	}
	return handler.Error{
		ErrorCode: ae.Code,
		Message:   ae.Message,
		HTTPResponse: handler.HTTPResponse{
			StatusCode: ae.Status,
			Body:       string(b) + "\n",
			Header:     h,
		},
	}
}

// asTusError converts any error for tusd: API errors keep their status;
// others are logged and become a 500 "internal error".
func (t *Handler) asTusError(ctx context.Context, err error) error {
	var he handler.Error
	if errors.As(err, &he) {
		return err
	}
	var ae *apierror.Error
	if !errors.As(err, &ae) {
		t.log.ErrorContext(ctx, "tus: internal error", "err", err)
		ae = apierror.Internal()
	} else if ae.Status >= 500 && ae.Cause() != nil {
		t.log.WarnContext(ctx, "tus: upload failed", "status", ae.Status, "code", ae.Code, "err", ae.Cause())
	}
	return tusError(ae)
}

// writeTusError answers a tus request with ae (and the Tus-Resumable header).
func (t *Handler) writeTusError(w http.ResponseWriter, r *http.Request, ae *apierror.Error) {
	w.Header().Set("Tus-Resumable", "1.0.0")
	apierror.Write(w, r, t.log, ae)
}

// apiErrorReader turns an API error of its reader (a body too slow) into
// the tusd error that answers with it.
type apiErrorReader struct{ r io.Reader }

func (a apiErrorReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	var ae *apierror.Error
	if err != nil && errors.As(err, &ae) {
		return n, tusError(ae)
	}
	return n, err
}

package server

import (
	"errors"

	"github.com/vidpipe/vidpipe/services/upload-api/apierror"
	"github.com/vidpipe/vidpipe/services/webhooks/endpoints"
)

// webhookError turns an error of the webhook API (package endpoints) into
// this API's error answer; anything else stays as it is (logged, 500).
func webhookError(err error) error {
	var e *endpoints.Error
	if errors.As(err, &e) {
		ae := apierror.Errorf(e.Status, e.Code, "%s", e.Message)
		if e.Status == 401 {
			ae = ae.WithHeader("WWW-Authenticate", `Bearer realm="vidpipe"`)
		}
		return ae
	}
	return err
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/pflag"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// listen runs a receiver that verifies each delivery with the Standard
// Webhooks reference library (github.com/standard-webhooks/standard-webhooks/libraries/go)
// and prints it: "webhooks listen --secret whsec_... [--addr 127.0.0.1:9999]".
// It answers 204 to a verified delivery and 401 to any other request.
func listen(ctx context.Context, args []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("webhooks listen", pflag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9999", "listen address")
	secret := fs.String("secret", "", "the endpoint's signing secret, whsec_... (from POST /v1/webhooks)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" {
		return errors.New("listen: --secret whsec_... is required")
	}
	wh, err := standardwebhooks.NewWebhook(*secret)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Fprintf(stdout, "listening on http://%s/ (verifying with the Standard Webhooks reference library)\n", ln.Addr())
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body", http.StatusBadRequest)
			return
		}
		if err := wh.Verify(body, r.Header); err != nil {
			fmt.Fprintf(stdout, "REFUSED %s %s: %v\n", r.Method, r.URL.Path, err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var pretty bytes.Buffer
		if json.Indent(&pretty, body, "", "  ") != nil {
			pretty.Reset()
			pretty.Write(body)
		}
		fmt.Fprintf(stdout, "verified webhook-id=%s webhook-timestamp=%s\n%s\n", r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), pretty.String())
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

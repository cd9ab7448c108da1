package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	uploadapi "github.com/vidpipe/vidpipe/services/upload-api"
	"github.com/vidpipe/vidpipe/services/upload-api/server"
)

// serve listens on api.addr and api.ops_addr and serves until ctx is
// cancelled or a server fails, then shuts down.
func serve(ctx context.Context, cfg uploadapi.Config, a *api, log *slog.Logger) error {
	srv := server.NewHTTPServer(cfg.API.Addr, server.NewServer(a.deps), cfg.API.ReadHeaderTimeout, cfg.API.IdleTimeout, log)
	srv.RegisterOnShutdown(func() { close(a.stopping) })
	opsSrv := server.NewOpsHTTPServer(cfg.API.OpsAddr, server.NewOpsServer(a.deps), log)
	ln, err := net.Listen("tcp", cfg.API.Addr)
	if err != nil {
		return fmt.Errorf("listen %s (api.addr): %w", cfg.API.Addr, err)
	}
	opsLn, err := net.Listen("tcp", cfg.API.OpsAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen %s (api.ops_addr): %w", cfg.API.OpsAddr, err)
	}
	log.Info("serving", "addr", ln.Addr().String(), "ops_addr", opsLn.Addr().String())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	opsServed := make(chan error, 1)
	go func() { opsServed <- opsSrv.Serve(opsLn) }()

	select {
	case err := <-served:
		_ = opsSrv.Close()
		<-opsServed
		return fmt.Errorf("serve: %w", err)
	case err := <-opsServed:
		_ = srv.Close()
		<-served
		return fmt.Errorf("serve operations: %w", err)
	case <-ctx.Done():
	}
	return shutdown(cfg, srv, opsSrv, served, opsServed, log)
}

// shutdown drains in-flight requests for up to api.shutdown_timeout, then
// closes what is left. The operations listener stays up while requests
// drain (probes and a last scrape still answer), then closes.
func shutdown(cfg uploadapi.Config, srv, opsSrv *http.Server, served, opsServed <-chan error, log *slog.Logger) error {
	log.Info("shutting down", "timeout", cfg.API.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.API.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("graceful shutdown incomplete; closing connections", "err", err)
		_ = srv.Close()
	}
	_ = opsSrv.Close()
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	if err := <-opsServed; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve operations: %w", err)
	}
	log.Info("stopped")
	return nil
}

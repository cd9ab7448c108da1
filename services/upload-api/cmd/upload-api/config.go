package main

import (
	"cmp"
	"errors"
	"io"
	"log/slog"

	"github.com/vidpipe/vidpipe/platform/config"
	uploadapi "github.com/vidpipe/vidpipe/services/upload-api"
	"github.com/vidpipe/vidpipe/services/upload-api/server"
)

// loadConfig reads the configuration from args, the environment (getenv)
// and the configuration file, and returns it with the service's logger on
// stdout. After -h (the keys are printed) it returns a nil logger and no
// error.
func loadConfig(args []string, getenv func(string) string, stdout io.Writer) (uploadapi.Config, *slog.Logger, error) {
	var cfg uploadapi.Config
	if err := config.Load(uploadapi.Service, args, getenv, &cfg); err != nil {
		if errors.Is(err, config.ErrHelp) {
			return cfg, nil, nil
		}
		return cfg, nil, err
	}
	return cfg, config.NewLogger(cfg.Log, stdout, uploadapi.Service), nil
}

// serverOptions returns the request handling options of the api and s3
// sections; stopping is closed when the API server starts shutting down.
func serverOptions(cfg uploadapi.Config, stopping chan struct{}) server.Options {
	return server.Options{
		MaxUploadBytes:  cfg.API.MaxUploadBytes,
		MaxFieldBytes:   cfg.API.MaxFieldBytes,
		MaxBodyBytes:    cfg.API.MaxBodyBytes,
		PublicURL:       cfg.API.PublicURL,
		PresignExpiry:   cfg.S3.PresignExpiry,
		RequestTimeout:  cfg.API.RequestTimeout,
		BodyIdleTimeout: cfg.API.BodyIdleTimeout,
		SSEHeartbeat:    cfg.API.SSEHeartbeat,
		SigningKey:      []byte(cfg.API.SigningKey),
		Stopping:        stopping,
		// 0 in the config (no spare buffers) is negative for the server.
		UploadParallelParts: cfg.API.UploadParallelParts,
		UploadBufferBytes:   cmp.Or(cfg.API.UploadBufferBytes, -1),
	}
}

// limitOptions returns the caps and quotas of the api section for the
// server package (0 in the config, "off", is a negative value there).
func limitOptions(a uploadapi.API) server.LimitOptions {
	off := func(v int64) int64 {
		if v == 0 {
			return -1
		}
		return v
	}
	return server.LimitOptions{
		MaxUploads:         int(off(int64(a.MaxConcurrentUploads))),
		MaxUploadsPerUser:  int(off(int64(a.MaxConcurrentUploadsPerUser))),
		MinUploadRate:      off(a.MinUploadRate),
		MinUploadRateGrace: a.MinUploadRateGrace,
		QuotaBytes:         off(a.UserQuotaBytes),
		ReservationTTL:     a.QuotaReservationTTL,
		MaxStreams:         int(off(int64(a.SSEMaxStreams))),
		MaxStreamsPerUser:  int(off(int64(a.SSEMaxStreamsPerUser))),
		StreamLifetime:     a.SSEMaxLifetime,
		StreamWriteTimeout: a.SSEWriteTimeout,
		PlaylistCacheBytes: off(a.HLSCacheBytes),
		MaxPlaylistBytes:   a.HLSMaxPlaylistBytes,
	}
}

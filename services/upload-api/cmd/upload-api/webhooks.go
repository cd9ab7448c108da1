package main

import (
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	uploadapi "github.com/vidpipe/vidpipe/services/upload-api"
	"github.com/vidpipe/vidpipe/services/webhooks/endpoints"
	"github.com/vidpipe/vidpipe/services/webhooks/ssrf"
)

// webhooksAPI is /v1/webhooks on the webhook tables of pool (migrated by
// connect), configured by the webhooks section.
func webhooksAPI(cfg uploadapi.Config, pool *pgxpool.Pool, log *slog.Logger) *endpoints.API {
	w := cfg.Webhooks
	if w.AllowPrivate {
		log.Warn("webhooks.allow_private is on: webhook endpoints may be http and internal addresses (development only)")
	}
	return endpoints.NewAPI(endpoints.NewStore(pool), endpoints.APIOptions{
		Guard:        ssrf.Guard{AllowPrivate: w.AllowPrivate},
		MaxEndpoints: w.MaxEndpoints,
		SecretGrace:  w.SecretGrace,
		Retention:    w.EventRetention,
		Logger:       log,
	})
}

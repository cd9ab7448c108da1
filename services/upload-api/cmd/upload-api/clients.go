package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vidpipe/vidpipe/platform/catalog"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/platform/topics"
	uploadapi "github.com/vidpipe/vidpipe/services/upload-api"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
	"github.com/vidpipe/vidpipe/services/upload-api/publish"
	"github.com/vidpipe/vidpipe/services/upload-api/tusupload"
	"github.com/vidpipe/vidpipe/services/webhooks/endpoints"
)

// clients are the connections to PostgreSQL, object storage and Kafka.
type clients struct {
	// pool serves the status projection and the catalog reads.
	pool    *pgxpool.Pool
	status  *projection.Store
	objects *storage.Store
	// s3 is the client of tusd's S3 store.
	s3  *s3.Client
	pub *publish.Publisher
	// locks are the tus uploads' locks, shared with the other replicas
	// through PostgreSQL (a pool of their own, api.tus_lock_conns).
	locks *tusupload.PGLocker
}

// connect opens the clients, waiting (see retry) for each dependency that
// is still starting: the projection's database (applying its migrations),
// the bucket, and Kafka's topics, whose durability it checks (below
// kafka.replication_factor / min_insync_replicas: a warning in
// development, a refusal to start in production settings). Cancelled while
// waiting, it returns errStopped. On error it closes what it opened.
func connect(ctx context.Context, cfg uploadapi.Config, log *slog.Logger) (_ *clients, err error) {
	c := &clients{}
	defer func() {
		if err != nil {
			c.close(log)
		}
	}()
	if c.pool, err = catalog.Connect(ctx, cfg.Postgres); err != nil {
		return nil, err
	}
	if err := retry(ctx, log, "open status projection", func(ctx context.Context) error {
		c.status, err = projection.Open(ctx, c.pool, projection.WithLogger(log))
		return err
	}); err != nil {
		return nil, stoppedOr(ctx, err)
	}
	// The webhooks service's tables, which /v1/webhooks serves.
	if err := retry(ctx, log, "migrate webhook tables", func(ctx context.Context) error {
		return endpoints.Migrate(ctx, c.pool)
	}); err != nil {
		return nil, stoppedOr(ctx, err)
	}

	if c.locks, err = tusupload.NewPGLocker(ctx, cfg.Postgres.URL, tusupload.PGLockerOptions{
		MaxConns: cfg.API.TusLockConns, Logger: log,
	}); err != nil {
		return nil, err
	}

	if c.objects, err = storage.New(cfg.S3); err != nil {
		return nil, err
	}
	if err := retry(ctx, log, "ensure bucket", c.objects.EnsureBucket); err != nil {
		return nil, stoppedOr(ctx, err)
	}
	if c.s3, err = tusupload.NewS3Client(ctx, cfg.S3); err != nil {
		return nil, err
	}

	if c.pub, err = publish.New(cfg.Kafka, publish.Options{
		Service:     uploadapi.Service,
		MaxAttempts: cfg.API.PublishAttempts,
		Timeout:     cfg.API.PublishTimeout,
	}); err != nil {
		return nil, err
	}
	var refused error
	if err := retry(ctx, log, "check topic durability", func(ctx context.Context) error {
		err := topics.StartupCheck(ctx, nil, cfg.Kafka, log)
		if errors.As(err, new(*topics.DurabilityError)) {
			refused, err = err, nil
		}
		return err // other errors: Kafka is not reachable yet
	}); err != nil {
		return nil, stoppedOr(ctx, err)
	}
	if refused != nil {
		return nil, refused
	}
	return c, nil
}

// close closes the publisher, then the tus locks and the database pool.
func (c *clients) close(log *slog.Logger) {
	if c.pub != nil {
		if err := c.pub.Close(); err != nil {
			log.Warn("close publisher", "err", err)
		}
	}
	if c.locks != nil {
		c.locks.Close()
	}
	if c.pool != nil {
		c.pool.Close()
	}
}

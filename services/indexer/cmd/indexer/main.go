// Command indexer runs the vidpipe indexer stage: it consumes
// video.thumbnailed, upserts the video into the PostgreSQL catalog and
// publishes video.ready. Run with -h for the configuration keys.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/catalog"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/services/indexer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "indexer:", err)
		os.Exit(1)
	}
}

// run loads the configuration, applies the catalog migrations (waiting for
// PostgreSQL up to indexer.migrate_wait) and runs the stage until ctx is
// cancelled. Logs go to stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var cfg indexer.Config
	if err := config.Load(string(contract.StageIndexer), args, getenv, &cfg); err != nil {
		if errors.Is(err, config.ErrHelp) {
			return nil
		}
		return err
	}
	log := config.NewLogger(cfg.Log, stdout, string(contract.StageIndexer))
	log.Info("starting", "config", config.Redacted(cfg))

	pool, err := catalog.Connect(ctx, cfg.Postgres)
	if err != nil {
		return err
	}
	defer pool.Close()
	if cfg.Indexer.Migrate {
		if err := indexer.MigrateWithRetry(ctx, pool, cfg.Indexer.MigrateWait, log); err != nil {
			if ctx.Err() != nil {
				return nil // stopped while waiting for the database
			}
			return err
		}
	}
	cat := catalog.New(pool)
	w := indexer.NewWorker(cat, log)
	main := stage.Options{
		Stage:    contract.StageIndexer,
		Consumer: "stage",
		Kafka:    cfg.Kafka,
		Runtime:  cfg.Stage,
		Logger:   log,
		Checks:   []stage.Check{{Name: "postgres", Fn: cat.Ping}},
		// The fence: the catalog's deleted_videos (indexer.Fence).
		Fence: indexer.Fence{Catalog: cat},
	}
	// video.deleted, video.updated and video.captions, all in group
	// indexer-lifecycle.
	deleted := stage.LifecycleOptions(main, contract.TopicDeleted, "lifecycle-deleted")
	updated := stage.LifecycleOptions(main, contract.TopicUpdated, "lifecycle-updated")
	captions := stage.LifecycleOptions(main, contract.TopicCaptions, "lifecycle-captions")
	return stage.RunConsumers(ctx,
		stage.Consumer{Options: main, Run: func(ctx context.Context, o stage.Options) error { return stage.Run(ctx, o, w.Handle) }},
		stage.Consumer{Options: deleted, Run: func(ctx context.Context, o stage.Options) error { return stage.Run(ctx, o, w.HandleDeleted) }},
		stage.Consumer{Options: updated, Run: func(ctx context.Context, o stage.Options) error { return stage.Run(ctx, o, w.HandleUpdated) }},
		stage.Consumer{Options: captions, Run: func(ctx context.Context, o stage.Options) error { return stage.Run(ctx, o, w.HandleCaptions) }},
	)
}

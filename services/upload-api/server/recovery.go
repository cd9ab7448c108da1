package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
	"github.com/vidpipe/vidpipe/services/upload-api/publish"
	"github.com/vidpipe/vidpipe/services/upload-api/tusupload"
)

// RecoveryDeps are what the background recovery is built from.
type RecoveryDeps struct {
	Logger    *slog.Logger
	Objects   *storage.Store
	Publisher *publish.Publisher
	Status    *projection.Store
	// Tus is swept for finished, unannounced uploads; nil: not swept.
	Tus     *tusupload.Handler
	Metrics *Metrics
	// MinAge is how old a pending marker must be before it is settled:
	// longer than a publish can still be running (api.publish_timeout
	// plus the read-back) in any replica.
	MinAge time.Duration
}

// Recovery makes sure every stored upload ends either announced
// (video.uploaded in Kafka) or removed, after failures and crashes:
//   - a finished tus upload that was never announced is announced
//     (Tus.Sweep);
//   - a multipart upload whose announcement could not be confirmed (or
//     whose process died mid-publish) is read back from Kafka: kept when
//     the record is there, removed when it is not (intake.resolvePending);
//   - a DELETE whose video.deleted could not be published is announced
//     (resendDeletes).
type Recovery struct {
	tus    *tusupload.Handler
	in     *intake
	log    *slog.Logger
	minAge time.Duration
}

// NewRecovery returns the recovery of d.
func NewRecovery(d RecoveryDeps) *Recovery {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics()
	}
	return &Recovery{
		tus:    d.Tus,
		in:     &intake{log: d.Logger, objects: d.Objects, pub: d.Publisher, status: d.Status, metrics: d.Metrics},
		log:    d.Logger,
		minAge: d.MinAge,
	}
}

// Sweep runs one pass and returns how many uploads it settled.
func (r *Recovery) Sweep(ctx context.Context) (int, error) {
	var errs []error
	n := 0
	if r.tus != nil {
		k, err := r.tus.Sweep(ctx)
		n += k
		errs = append(errs, err)
	}
	k, err := r.in.resolvePending(ctx, r.minAge)
	n += k
	errs = append(errs, err)
	k, err = resendDeletes(ctx, r.log, r.in.objects, r.in.pub, r.minAge) // lifecycle.go
	n += k
	errs = append(errs, err)
	return n, errors.Join(errs...)
}

// Run sweeps at once and then every interval until ctx is done.
func (r *Recovery) Run(ctx context.Context, interval time.Duration) {
	for {
		n, err := r.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "upload recovery sweep incomplete; retrying next interval", "settled", n, "err", err, "next_in", interval)
		} else if n > 0 {
			r.log.InfoContext(ctx, "upload recovery sweep", "settled", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
	"github.com/vidpipe/vidpipe/services/upload-api/publish"
	"github.com/vidpipe/vidpipe/services/upload-api/tusupload"
)

// TusDeps are what the resumable upload endpoint is built from.
type TusDeps struct {
	Logger  *slog.Logger
	Options Options
	// S3 is the client tusd's S3 store uses (see tusupload.NewS3Client).
	S3 tusupload.S3API
	// PartSize is the S3 part size of tus uploads (api.tus_part_size);
	// below 5 MiB, tusd's default (50 MiB) applies.
	PartSize int64
	// TempDir is where tusd buffers parts (api.tus_temp_dir; empty: the
	// OS temp dir). tusupload.SweepTemp removes what it leaves behind.
	TempDir   string
	Objects   *storage.Store
	Publisher *publish.Publisher
	Status    *projection.Store
	Metrics   *Metrics
	// Limits are the caps and quotas; nil: the defaults.
	Limits *Limits
	// Locker holds the uploads' locks; nil: in memory (one process). The
	// service passes a tusupload.PGLocker, shared by its replicas.
	Locker handler.Locker
}

// NewTus builds the tus endpoint (package tusupload) with this package's
// policies as its hooks — the token's owner, the caps and quotas, the
// metadata rules of the multipart fields and the publication of
// video.uploaded — and registers tusd's metrics on d.Metrics. Mount it
// with Deps.Tus.
func NewTus(d TusDeps) (*tusupload.Handler, error) {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Metrics == nil {
		return nil, errors.New("tus: Metrics is required")
	}
	d.Options.defaults()
	if d.Limits == nil {
		d.Limits = NewLimits(LimitOptions{}, d.Status, d.Logger)
	}
	in := &intake{log: d.Logger, objects: d.Objects, pub: d.Publisher, status: d.Status, metrics: d.Metrics}
	return tusupload.New(tusupload.Config{
		Logger:           d.Logger,
		S3:               d.S3,
		Bucket:           d.Objects.Bucket(),
		PartSize:         d.PartSize,
		TempDir:          d.TempDir,
		MaxSize:          d.Options.MaxUploadBytes,
		MaxMetadataBytes: d.Options.MaxFieldBytes * 2,
		NetworkTimeout:   d.Options.BodyIdleTimeout,
		Registry:         d.Metrics.Registry(),
		Locker:           d.Locker,
	}, tusupload.Hooks{
		Owner:    ownerFrom,
		Limits:   tusLimits{d.Limits},
		Intake:   tusIntake{in},
		Location: func(id string) string { return d.Options.link("/v1/videos/" + id) },
		Outcome:  func(code string) { d.Metrics.uploads.WithLabelValues("tus", code).Inc() },
	})
}

// tusLimits are the caps and quotas as tusupload.Limits.
type tusLimits struct{ l *Limits }

func (t tusLimits) AcquireUpload(owner string) (func(), error) {
	release, busy := t.l.acquireUpload(owner)
	if busy != nil {
		return nil, busy
	}
	return release, nil
}

func (t tusLimits) Throttle(body io.Reader) io.Reader { return t.l.rateReader(body) }

func (t tusLimits) Reserve(ctx context.Context, owner, id string, min, max int64) (int64, error) {
	return t.l.reserve(ctx, owner, id, min, max)
}

func (t tusLimits) Release(ctx context.Context, id string) { t.l.release(ctx, id) }

// tusIntake is the intake as tusupload.Intake: the metadata follows the
// rules of the multipart fields, and a finished upload is published like
// a multipart one but never removed when that fails (keep).
type tusIntake struct{ in *intake }

func (t tusIntake) CheckMetadata(m tusupload.Metadata) (tusupload.Metadata, error) {
	f, err := metaFields(m)
	if err != nil {
		return tusupload.Metadata{}, err
	}
	return tusupload.Metadata{Filename: f.Filename, Title: f.Title, Description: f.Description, Tags: strings.Join(f.Tags, ",")}, nil
}

func (t tusIntake) Announced(ctx context.Context, owner, id string) bool {
	return t.in.announced(ctx, owner, id)
}

func (t tusIntake) Announce(ctx context.Context, u tusupload.Finished) error {
	f, err := metaFields(u.Meta)
	if err != nil {
		return fmt.Errorf("tus upload %s: stored metadata: %w", u.ID, err)
	}
	ev := uploadedEvent(u.ID, u.Owner, t.in.objects.Bucket(), f, u.Size, u.ContentType)
	if !u.CompletedAt.IsZero() {
		// The source's completion time, not now: a recovery that publishes
		// again (the first publication's outcome was unknown) writes the
		// very same event, so the pipeline's outputs stay the same.
		ev.Video.UploadedAt = u.CompletedAt
	}
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("tus upload %s: event does not validate: %w", u.ID, err)
	}
	if err := t.in.discardIfDeleted(ctx, u.ID); err != nil { // lifecycle.go
		return err
	}
	return t.in.submit(ctx, ev, keep)
}

// metaFields checks tus metadata like the multipart fields.
func metaFields(m tusupload.Metadata) (videoFields, error) {
	var f videoFields
	var err error
	f.Filename = cleanFilename(m.Filename)
	if f.Title, err = parseTitle(m.Title); err != nil {
		return f, err
	}
	if f.Description, err = parseDescription(m.Description); err != nil {
		return f, err
	}
	if f.Tags, err = parseTags(m.Tags); err != nil {
		return f, err
	}
	return f, nil
}

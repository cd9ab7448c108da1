package tusupload

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tus/tusd/v2/pkg/handler"
)

// Config is what the adapter needs besides the hooks.
type Config struct {
	// Logger defaults to slog.Default(); tusd's own lines go to its
	// "tusd" group, below Warn at Debug.
	Logger *slog.Logger
	// S3 is the client tusd's S3 store uses (see NewS3Client). Required.
	S3 S3API
	// Bucket holds the sources, tusd's info objects and the markers.
	// Required.
	Bucket string
	// PartSize is the S3 part size of tus uploads (api.tus_part_size);
	// below 5 MiB, tusd's default (50 MiB) applies.
	PartSize int64
	// TempDir is where tusd buffers parts (api.tus_temp_dir; empty: the
	// OS temp dir). SweepTemp removes what it leaves behind.
	TempDir string
	// MaxSize is the largest upload in bytes (api.max_upload_bytes); it is
	// also what a creation with a chunked body or a deferred length
	// reserves of the quota until the length is known.
	MaxSize int64
	// MaxMetadataBytes caps the Upload-Metadata header (413 above).
	MaxMetadataBytes int64
	// NetworkTimeout is how long a PATCH body may stall
	// (api.body_idle_timeout).
	NetworkTimeout time.Duration
	// Registry gets tusd's metrics, its S3 store's and the locker's (a
	// Locker with a RegisterMetrics method, such as [PGLocker]). Required.
	Registry prometheus.Registerer
	// Locker holds the uploads' locks (tusd's handler.Locker). With
	// several API replicas it must be shared by all of them: a
	// [PGLocker]. Default: tusd's in-memory locker, which is correct for
	// one process only.
	Locker handler.Locker
}

// Hooks are the API's policies the adapter calls. All are required.
type Hooks struct {
	// Owner returns the user the request was authenticated as (the HTTP
	// package's middleware put it in the context), "" when none.
	Owner func(ctx context.Context) string
	// Limits are the caps and quotas.
	Limits Limits
	// Intake checks metadata and announces finished uploads.
	Intake Intake
	// Location is the URL of video id, sent as Location by the request
	// that finishes an upload.
	Location func(id string) string
	// Outcome counts an upload's outcome: "accepted", or the code of the
	// error that ended it.
	Outcome func(code string)
}

// Limits are the caps and quotas (see limits.go for how they apply to tus
// requests). Errors meant for the client are *apierror.Error values.
type Limits interface {
	// AcquireUpload takes one of owner's upload slots for the request
	// (429 when the caps are full); release frees it.
	AcquireUpload(owner string) (release func(), err error)
	// Throttle wraps a request body so that a body too slow on average
	// fails (408); it may return body as is.
	Throttle(body io.Reader) io.Reader
	// Reserve reserves between min and max bytes of owner's storage quota
	// for video id and returns the bytes reserved (413 quota_exceeded
	// over the quota).
	Reserve(ctx context.Context, owner, id string, min, max int64) (int64, error)
	// Release drops the reservation of video id.
	Release(ctx context.Context, id string)
}

// Intake is the API's side of a video's arrival.
type Intake interface {
	// CheckMetadata checks and normalises the client's metadata like the
	// multipart fields; its error is shown to the client (400
	// invalid_field).
	CheckMetadata(m Metadata) (Metadata, error)
	// Announced reports whether video id of owner was announced before
	// (the status projection knows it).
	Announced(ctx context.Context, owner, id string) bool
	// Announce publishes video.uploaded for a finished upload, removing
	// nothing when that fails (an *apierror.Error, e.g. 503
	// broker_unavailable): the adapter announces it again later.
	Announce(ctx context.Context, u Finished) error
}

// Metadata is an upload's metadata as the client sent it (Upload-Metadata)
// or as stored after CheckMetadata. Tags are comma-separated.
type Metadata struct {
	Filename, Title, Description, Tags string
}

// Finished is an upload whose last byte is stored and whose content is a
// video.
type Finished struct {
	// ID is the video id.
	ID    string
	Owner string
	// Meta is the metadata as stored (checked).
	Meta Metadata
	// Size is the source's size in bytes.
	Size int64
	// ContentType is the sniffed MIME type of the container.
	ContentType string
	// CompletedAt is when the source object was completed (zero when
	// unknown): an announcement repeated after an unknown outcome carries
	// the same time, so it is the same event.
	CompletedAt time.Time
}

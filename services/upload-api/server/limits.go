package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// Error codes of the caps and quotas.
const (
	codeTooManyUploads = "too_many_uploads"
	codeTooManyStreams = "too_many_streams"
	codeUploadTooSlow  = "upload_too_slow"
)

// retryAfterBusy is the Retry-After (seconds) of a 429 for a full
// concurrency cap.
const retryAfterBusy = 5

// LimitOptions are the caps and quotas (config keys api.*). A zero field
// takes the default named on it; a negative one switches the cap off.
type LimitOptions struct {
	// MaxUploads caps the uploads in progress in this process (multipart
	// requests and tus POST/PATCH requests). Default: 128.
	MaxUploads int
	// MaxUploadsPerUser caps one user's uploads in progress in this
	// process. Default: 16.
	MaxUploadsPerUser int
	// MinUploadRate is the average rate in bytes/s an upload body must
	// keep up after MinUploadRateGrace. Default: 4096.
	MinUploadRate int64
	// MinUploadRateGrace is when the rate check starts. Default: 1m.
	MinUploadRateGrace time.Duration
	// QuotaBytes is each user's storage quota: the sizes of their stored
	// sources plus the uploads in progress. Default: 100 GiB.
	QuotaBytes int64
	// ReservationTTL is how long an upload in progress holds its bytes of
	// the quota without a request (tus uploads resumed later reserve
	// again). Default: 24h.
	ReservationTTL time.Duration
	// MaxStreams caps the event streams (SSE) of this process. Default: 1024.
	MaxStreams int
	// MaxStreamsPerUser caps one user's event streams in this process. Default: 16.
	MaxStreamsPerUser int
	// StreamLifetime ends an event stream after this long (the client
	// reconnects with Last-Event-ID). Default: 1h.
	StreamLifetime time.Duration
	// StreamWriteTimeout bounds each write to an event stream. Default: 10s.
	StreamWriteTimeout time.Duration
	// PlaylistCacheBytes bounds the memory of rewritten (signed) playlists
	// kept per (video, path, expiry). Default: 64 MiB.
	PlaylistCacheBytes int64
	// MaxPlaylistBytes bounds a playlist read from storage and the
	// rewritten playlist. Default: 8 MiB.
	MaxPlaylistBytes int64
}

func (o *LimitOptions) defaults() {
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def64 := func(v *int64, d int64) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defInt(&o.MaxUploads, 128)
	defInt(&o.MaxUploadsPerUser, 16)
	def64(&o.MinUploadRate, 4096)
	defDur(&o.MinUploadRateGrace, time.Minute)
	def64(&o.QuotaBytes, 100<<30)
	defDur(&o.ReservationTTL, 24*time.Hour)
	defInt(&o.MaxStreams, 1024)
	defInt(&o.MaxStreamsPerUser, 16)
	defDur(&o.StreamLifetime, time.Hour)
	defDur(&o.StreamWriteTimeout, 10*time.Second)
	def64(&o.PlaylistCacheBytes, 64<<20)
	def64(&o.MaxPlaylistBytes, 8<<20)
	if o.MaxPlaylistBytes < 0 {
		o.MaxPlaylistBytes = 8 << 20 // never unbounded
	}
	if o.ReservationTTL < 0 {
		o.ReservationTTL = 24 * time.Hour
	}
	if o.StreamWriteTimeout < 0 {
		o.StreamWriteTimeout = 10 * time.Second
	}
}

// Limits holds the caps and quotas shared by the multipart endpoint, the
// tus endpoint, the event streams and the playlists of one process.
// Concurrency caps count in this process only (with several replicas,
// each has its own); the storage quota lives in PostgreSQL and holds
// across replicas.
type Limits struct {
	opts      LimitOptions
	status    *projection.Store
	log       *slog.Logger
	uploads   *slots
	streams   *slots
	playlists *playlistCache
}

// NewLimits returns the limits of one process; status holds the quota
// (nil: no quota).
func NewLimits(o LimitOptions, status *projection.Store, log *slog.Logger) *Limits {
	o.defaults()
	if log == nil {
		log = slog.Default()
	}
	return &Limits{
		opts:      o,
		status:    status,
		log:       log,
		uploads:   newSlots(o.MaxUploads, o.MaxUploadsPerUser),
		streams:   newSlots(o.MaxStreams, o.MaxStreamsPerUser),
		playlists: newPlaylistCache(o.PlaylistCacheBytes),
	}
}

// Options returns the options with defaults applied.
func (l *Limits) Options() LimitOptions { return l.opts }

// slots is a counting semaphore with a total and a per-user cap (<= 0:
// no cap).
type slots struct {
	mu      sync.Mutex
	max     int
	perUser int
	n       int
	byUser  map[string]int
}

func newSlots(max, perUser int) *slots {
	return &slots{max: max, perUser: perUser, byUser: map[string]int{}}
}

// acquire takes a slot for user; release gives it back (once). It fails
// with whichever cap is full ("user" or "server").
func (s *slots) acquire(user string) (release func(), full string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.max > 0 && s.n >= s.max {
		return nil, "server"
	}
	if s.perUser > 0 && s.byUser[user] >= s.perUser {
		return nil, "user"
	}
	s.n++
	s.byUser[user]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.n--
			if s.byUser[user]--; s.byUser[user] <= 0 {
				delete(s.byUser, user)
			}
		})
	}, ""
}

// inUse returns the slots held in total and by user.
func (s *slots) inUse(user string) (total, byUser int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, s.byUser[user]
}

// acquireUpload takes an upload slot or returns a 429.
func (l *Limits) acquireUpload(user string) (func(), *apiError) {
	release, full := l.uploads.acquire(user)
	if release != nil {
		return release, nil
	}
	if full == "user" {
		return nil, tooMany(codeTooManyUploads, "you have %d uploads in progress, the most allowed at once; retry when one has finished", l.opts.MaxUploadsPerUser)
	}
	return nil, tooMany(codeTooManyUploads, "the server has %d uploads in progress, the most it takes at once; retry later", l.opts.MaxUploads)
}

// acquireStream takes an event stream slot or returns a 429.
func (l *Limits) acquireStream(user string) (func(), *apiError) {
	release, full := l.streams.acquire(user)
	if release != nil {
		return release, nil
	}
	if full == "user" {
		return nil, tooMany(codeTooManyStreams, "you have %d event streams open, the most allowed at once", l.opts.MaxStreamsPerUser)
	}
	return nil, tooMany(codeTooManyStreams, "the server has %d event streams open, the most it serves at once; retry later", l.opts.MaxStreams)
}

func tooMany(code, format string, args ...any) *apiError {
	return errorf(http.StatusTooManyRequests, code, format, args...).WithHeader("Retry-After", strconv.Itoa(retryAfterBusy))
}

// quotaOn reports whether a storage quota applies.
func (l *Limits) quotaOn() bool { return l.status != nil && l.opts.QuotaBytes > 0 }

// reserve reserves between min and max bytes of owner's quota for video
// id (see projection.Store.Reserve) and returns the bytes reserved.
// Without a quota it reserves nothing and returns max. Over the quota:
// 413 quota_exceeded (Connection: close, so that a body is not read).
func (l *Limits) reserve(ctx context.Context, owner, id string, min, max int64) (int64, error) {
	if !l.quotaOn() {
		return max, nil
	}
	got, _, err := l.status.Reserve(ctx, owner, id, min, max, l.opts.QuotaBytes, l.opts.ReservationTTL)
	var qe *projection.QuotaError
	switch {
	case errors.As(err, &qe):
		return 0, quotaError(qe.Usage.Total(), qe.Want, qe.Quota)
	case err != nil:
		return 0, unavailable(codeDatabaseUnavailable, "the quota store is unavailable; try again later", err)
	}
	return got, nil
}

func quotaError(used, want, quota int64) *apiError {
	left := quota - used
	if left < 0 {
		left = 0
	}
	return errorf(http.StatusRequestEntityTooLarge, codeQuotaExceeded,
		"the upload needs %d bytes of your storage quota, %d of %d bytes are left (GET /v1/usage)", want, left, quota).
		WithHeader("Connection", "close")
}

// release drops the reservation of video id (a failed or rejected upload).
func (l *Limits) release(ctx context.Context, id string) {
	if !l.quotaOn() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := l.status.Release(ctx, id); err != nil {
		// It expires after ReservationTTL anyway.
		l.log.WarnContext(ctx, "release quota reservation", "video_id", id, "err", err)
	}
}

// rateReader fails with err once, after grace, the average rate
// since the start is below min bytes/s. A stalled body (no byte at all)
// is the idle timeout's business.
type rateReader struct {
	r     io.Reader
	start time.Time
	min   int64
	grace time.Duration
	n     int64
	// err is returned once the body is too slow.
	err error
}

// rateReader wraps an upload body in a rateReader (or returns it as is
// when there is no minimum rate); its error is an *apiError (408).
func (l *Limits) rateReader(r io.Reader) io.Reader {
	if l.opts.MinUploadRate <= 0 || l.opts.MinUploadRateGrace <= 0 {
		return r
	}
	return &rateReader{r: r, start: time.Now(), min: l.opts.MinUploadRate, grace: l.opts.MinUploadRateGrace,
		err: tooSlowError(l.opts.MinUploadRate, l.opts.MinUploadRateGrace)}
}

func (b *rateReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if el := time.Since(b.start); el > b.grace && float64(b.n) < float64(b.min)*el.Seconds() {
		return n, b.err
	}
	return n, err
}

func tooSlowError(min int64, grace time.Duration) *apiError {
	return errorf(http.StatusRequestTimeout, codeUploadTooSlow,
		"the upload was slower than %d bytes/s on average after %s", min, grace).WithHeader("Connection", "close")
}

// usageResponse is the body of GET /v1/usage.
type usageResponse struct {
	User string `json:"user"`
	// UsedBytes = StoredBytes + ReservedBytes.
	UsedBytes     int64 `json:"used_bytes"`
	StoredBytes   int64 `json:"stored_bytes"`
	ReservedBytes int64 `json:"reserved_bytes"`
	// QuotaBytes and AvailableBytes are null without a quota.
	QuotaBytes     *int64 `json:"quota_bytes"`
	AvailableBytes *int64 `json:"available_bytes"`
	// Uploads and streams in progress on this API process, and their caps
	// (null: no cap).
	UploadsInProgress    int  `json:"uploads_in_progress"`
	MaxConcurrentUploads *int `json:"max_concurrent_uploads"`
	StreamsOpen          int  `json:"streams_open"`
	MaxStreams           *int `json:"max_streams"`
}

// handleUsage serves GET /v1/usage: the caller's storage usage and quota,
// and their uploads and event streams in progress on this process.
func handleUsage(log *slog.Logger, l *Limits, status *projection.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		owner := ownerFrom(ctx)
		u, err := status.Usage(ctx, owner, l.opts.ReservationTTL)
		if err != nil {
			writeError(w, r, log, unavailable(codeDatabaseUnavailable, "the quota store is unavailable; try again later", err))
			return
		}
		out := usageResponse{User: owner, UsedBytes: u.Total(), StoredBytes: u.StoredBytes, ReservedBytes: u.ReservedBytes}
		if l.quotaOn() {
			q, left := l.opts.QuotaBytes, l.opts.QuotaBytes-u.Total()
			if left < 0 {
				left = 0
			}
			out.QuotaBytes, out.AvailableBytes = &q, &left
		}
		_, out.UploadsInProgress = l.uploads.inUse(owner)
		_, out.StreamsOpen = l.streams.inUse(owner)
		if n := l.opts.MaxUploadsPerUser; n > 0 {
			out.MaxConcurrentUploads = &n
		}
		if n := l.opts.MaxStreamsPerUser; n > 0 {
			out.MaxStreams = &n
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// limits returns d.Limits, else the tus endpoint's (one set of caps for
// both upload protocols), else the defaults.
func (d Deps) limits() *Limits {
	switch {
	case d.Limits != nil:
		return d.Limits
	case d.Tus != nil:
		if tl, ok := d.Tus.Limits().(tusLimits); ok {
			return tl.l
		}
	}
	return NewLimits(LimitOptions{}, d.Status, d.Logger)
}

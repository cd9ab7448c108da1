// Package server is the upload-api HTTP API: uploads (multipart and tus),
// video status, search, status event streams, health and metrics.
//
// It has two listeners: the API (NewServer, api.addr) for clients, and
// the operations listener (NewOpsServer, api.ops_addr) with /healthz,
// /readyz and /metrics for probes and Prometheus. The API listener
// serves /healthz too (load balancers check it), but not /readyz or
// /metrics.
//
// Every route is listed in routes.go; handlers are made by functions that
// take exactly the dependencies they use. Errors reach clients as
// {"error": {"code": "...", "message": "..."}}; unexpected ones are logged
// in full and answered "internal error".
package server

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/catalog"
	"github.com/vidpipe/vidpipe/platform/dlq"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
	"github.com/vidpipe/vidpipe/services/upload-api/publish"
	"github.com/vidpipe/vidpipe/services/upload-api/tusupload"
	"github.com/vidpipe/vidpipe/services/webhooks/endpoints"
)

// Options are the API's limits and timeouts. Zero values take the
// defaults named on each field.
type Options struct {
	// MaxUploadBytes bounds one video file. Default: 10 GiB.
	MaxUploadBytes int64
	// MaxFieldBytes bounds one form field or the tus metadata. Default: 32 KiB.
	MaxFieldBytes int64
	// MaxBodyBytes bounds the body of non-upload routes. Default: 1 MiB.
	MaxBodyBytes int64
	// PublicURL prefixes links ("" means relative links).
	PublicURL string
	// PresignExpiry is the validity of presigned URLs and signed playlist
	// URLs. Default: 1h.
	PresignExpiry time.Duration
	// RequestTimeout is the read and write deadline of ordinary requests. Default: 30s.
	RequestTimeout time.Duration
	// BodyIdleTimeout is how long an upload body may stall. Default: 1m.
	BodyIdleTimeout time.Duration
	// SSEHeartbeat is the comment interval on event streams. Default: 15s.
	SSEHeartbeat time.Duration
	// SSEWait is how long an event stream waits for a video that is not
	// (yet) known before answering 404. Default: 5s.
	SSEWait time.Duration
	// SigningKey signs playlist URLs. Default: random (per process).
	SigningKey []byte
	// Stopping, when closed, ends the event streams (graceful shutdown:
	// http.Server.Shutdown does not cancel running requests). Optional.
	Stopping <-chan struct{}
	// UploadParallelParts is how many S3 parts one multipart upload
	// (POST /v1/videos) sends at the same time while it reads the next
	// part (storage.StreamOptions.Parallel). Default: 1.
	UploadParallelParts int
	// UploadBufferBytes is the memory shared by all multipart uploads for
	// parts on their way to S3 beyond each upload's own part buffer
	// (rounded down to whole parts of the store's part size). Default:
	// 32 MiB; negative: none (each upload sends one part at a time, after
	// reading it).
	UploadBufferBytes int64
}

func (o *Options) defaults() {
	def := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxUploadBytes, 10<<30)
	def(&o.MaxFieldBytes, 32<<10)
	def(&o.MaxBodyBytes, 1<<20)
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur(&o.PresignExpiry, time.Hour)
	defDur(&o.RequestTimeout, 30*time.Second)
	defDur(&o.BodyIdleTimeout, time.Minute)
	defDur(&o.SSEHeartbeat, 15*time.Second)
	defDur(&o.SSEWait, 5*time.Second)
	if o.UploadParallelParts <= 0 {
		o.UploadParallelParts = 1
	}
	if o.UploadBufferBytes == 0 {
		o.UploadBufferBytes = 32 << 20
	}
	if len(o.SigningKey) == 0 {
		o.SigningKey = make([]byte, 32)
		_, _ = rand.Read(o.SigningKey)
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
}

// Check is a readiness check; a nil error means ready.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Deps are what the API is built from.
type Deps struct {
	Logger    *slog.Logger
	Options   Options
	Auth      *Auth
	Objects   *storage.Store
	Publisher *publish.Publisher
	Status    *projection.Store
	Catalog   *catalog.Catalog
	// Tus serves /v1/uploads/; nil disables resumable uploads.
	Tus *tusupload.Handler
	// Metrics are counted by NewServer's handler and served by
	// NewOpsServer's: give both the same.
	Metrics *Metrics
	// Limits are the caps and quotas; nil: Tus's, else the defaults.
	Limits *Limits
	// Ready lists the checks of /readyz (operations listener).
	Ready []Check
	// Redriver redrives dead letters for POST /v1/videos/{id}/retry
	// (a *dlq.Admin); nil: retry answers 503.
	Redriver Redriver
	// DeadLetters lists and redrives dead letters for /v1/admin/... (a
	// *dlq.Admin); nil: Redriver, when it is one, else the admin
	// dead-letter endpoints answer 503.
	DeadLetters DeadLetterAdmin
	// Kafka reads consumer-group lag for GET /v1/admin/stages; nil: the
	// Client of Redriver when it is a *dlq.Admin, else 503.
	Kafka *kafka.Client
	// Webhooks serves /v1/webhooks (the webhooks service's endpoints
	// API, behind this server's bearer auth); nil: no webhook routes.
	Webhooks *endpoints.API
}

// NewServer returns the API handler.
func NewServer(d Deps) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics()
	}
	d.Options.defaults()
	d.Limits = d.limits()
	mux := http.NewServeMux()
	addRoutes(mux, d)
	var h http.Handler = mux
	h = limitOrdinary(d.Options, h)
	if d.Auth != nil {
		h = limitAuthFailures(d.Auth.failures, d.Logger, h)
	}
	h = recoverPanics(d.Logger, h)
	h = d.Metrics.instrument(h)
	return h
}

// pipeline is the pipeline the status projection follows (the default
// pipeline without one).
func (d Deps) pipeline() contract.Pipeline {
	if d.Status == nil {
		return contract.DefaultPipeline()
	}
	return d.Status.Pipeline()
}

// admin returns what the admin endpoints read Kafka with: DeadLetters and
// Kafka, or else what Redriver (a *dlq.Admin) offers.
func (d Deps) admin() (DeadLetterAdmin, *kafka.Client) {
	dl, client := d.DeadLetters, d.Kafka
	if a, ok := d.Redriver.(*dlq.Admin); ok {
		if dl == nil {
			dl = a
		}
		if client == nil {
			client = a.Client
		}
	}
	return dl, client
}

// NewOpsServer returns the handler of the operations listener: GET
// /healthz, /readyz (d.Ready) and /metrics (d.Metrics, which must be the
// Metrics given to NewServer). It asks for no credentials, so it belongs
// on an address that only probes and Prometheus reach; its requests are
// not counted in the API's request metrics.
func NewOpsServer(d Deps) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics()
	}
	mux := http.NewServeMux()
	addOpsRoutes(mux, d)
	return recoverPanics(d.Logger, mux)
}

// NewOpsHTTPServer returns an http.Server for the operations handler h:
// short requests only, so fixed read and write deadlines (a readiness
// check takes at most 3s) and small headers.
func NewOpsHTTPServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// NewHTTPServer returns an http.Server for h with the API's connection
// limits: a header read timeout (slow-loris), an idle timeout, a header
// size limit and no global read or write timeout, since uploads and event
// streams run long; ordinary routes get per-request deadlines instead
// (see limitOrdinary) and upload bodies an idle deadline.
func NewHTTPServer(addr string, h http.Handler, readHeaderTimeout, idleTimeout time.Duration, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// longRunning reports whether a request is an upload or an event stream,
// which manage their own deadlines.
func longRunning(r *http.Request) bool {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodPost && p == "/v1/videos":
		return true
	case strings.HasPrefix(p, "/v1/uploads"):
		return true
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/v1/videos/") && strings.HasSuffix(p, "/events"):
		return true
	case r.Method == http.MethodGet && p == "/v1/events":
		return true
	}
	return false
}

// limitOrdinary gives every request that is not an upload or an event
// stream a read and write deadline and a bounded body.
func limitOrdinary(o Options, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !longRunning(r) {
			rc := http.NewResponseController(w)
			now := time.Now()
			_ = rc.SetReadDeadline(now.Add(o.RequestTimeout))
			_ = rc.SetWriteDeadline(now.Add(o.RequestTimeout))
			r.Body = http.MaxBytesReader(w, r.Body, o.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a handler panic into a logged 500.
func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic serving request", "method", r.Method, "route", r.Pattern, "panic", v)
				writeError(w, r, log, errorf(http.StatusInternalServerError, codeInternal, "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// link returns the URL of an API path for clients.
func (o Options) link(path string) string { return o.PublicURL + path }

// Package tusupload is the tus 1.0 adapter of the upload API: tusd's
// handler (creation, creation-with-upload, termination,
// creation-defer-length) on tusd's S3 store, with the upload's id being
// the video id, its caps and quotas, its logging, its part-buffer
// directory and the recovery sweep of finished uploads that were never
// announced.
//
// The HTTP package (server) mounts the handlers behind its authentication
// and hands in the API's policies as [Hooks]: who is asking, the caps and
// quotas, the metadata rules and the publication of video.uploaded. This
// package imports none of it.
//
// # Storage layout
//
// An upload's parts go to an S3 multipart upload at contract.SourceKey(id),
// which becomes the source object when the last byte arrives. tusd's info
// object is tus/{source key}.info; the marker written once video.uploaded
// was published is [SubmittedKey].
//
// # Locks
//
// Every tus request on an upload (and the recovery of a finished one)
// holds the upload's lock. [Config.Locker] says where locks live: tusd's
// memory locker by default (one process), or [PGLocker], a PostgreSQL
// advisory lock per upload shared by every API replica on the database,
// with release requests between replicas over LISTEN/NOTIFY: the service
// uses it, so any replica can serve any request of any upload.
package tusupload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	"github.com/tus/tusd/v2/pkg/prometheuscollector"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/services/upload-api/apierror"
)

// BasePath is where the tus 1.0 endpoint lives.
const BasePath = "/v1/uploads/"

// Tus metadata keys a client may send (Upload-Metadata); any other key is
// dropped. "owner" is set by the server from the token.
const (
	metaFilename    = "filename"
	metaTitle       = "title"
	metaDescription = "description"
	metaTags        = "tags"
	metaOwner       = "owner"
)

// cleanupTimeout bounds removing a rejected upload's objects.
const cleanupTimeout = 30 * time.Second

// Handler serves resumable uploads with tusd on S3.
//
// The tus upload id is the video id: Location is /v1/uploads/{id} and the
// video is then GET /v1/videos/{id}. Inside the final PATCH (before its
// response), the first bytes are sniffed (not a video, or empty: the
// upload is terminated, 415/400; the only case that removes a finished
// upload) and video.uploaded is published (Hooks.Intake). A marker object
// records the publication, so it happens once.
//
// If the publication fails (or the process dies first), the answer is 503
// and nothing is removed: a finished upload without the marker is
// announced by the next request of any method on it (HEAD, PATCH even at
// offset == size, DELETE) before tusd answers, and by the background
// sweep ([Handler.Sweep]) — never deleted on those paths.
//
// Every request sees only its owner's uploads (404 otherwise, as for a
// missing one). A finished upload cannot be terminated (409): it is the
// video's source.
type Handler struct {
	uh     *handler.UnroutedHandler
	store  *tusStore
	locker handler.Locker
	log    *slog.Logger
	cfg    Config
	hooks  Hooks
}

// New builds the tus endpoint and registers tusd's metrics on
// cfg.Registry.
func New(cfg Config, hooks Hooks) (*Handler, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	switch {
	case cfg.S3 == nil || cfg.Bucket == "":
		return nil, errors.New("tus: S3 and Bucket are required")
	case cfg.Registry == nil:
		return nil, errors.New("tus: Registry is required")
	case hooks.Owner == nil || hooks.Limits == nil || hooks.Intake == nil || hooks.Location == nil || hooks.Outcome == nil:
		return nil, errors.New("tus: every hook is required")
	}
	if cfg.Locker == nil {
		cfg.Locker = memorylocker.New()
	}
	t := &Handler{
		store:  newTusStore(cfg.S3, cfg.Bucket, cfg.PartSize, cfg.TempDir, cfg.Logger),
		locker: cfg.Locker,
		log:    cfg.Logger,
		cfg:    cfg,
		hooks:  hooks,
	}
	composer := handler.NewStoreComposer()
	t.store.UseIn(composer)
	composer.UseLocker(t.locker)
	uh, err := handler.NewUnroutedHandler(handler.Config{
		StoreComposer:                    composer,
		BasePath:                         BasePath,
		MaxSize:                          cfg.MaxSize,
		DisableDownload:                  true,
		DisableConcatenation:             true,
		PreUploadCreateCallback:          t.preCreate,
		PreFinishResponseCallback:        t.preFinish,
		PreUploadTerminateCallback:       t.preTerminate,
		NetworkTimeout:                   cfg.NetworkTimeout,
		GracefulRequestCompletionTimeout: 10 * time.Second,
		Logger:                           newTusLogger(cfg.Logger),
		Cors: &handler.CorsConfig{
			AllowOrigin:   handler.DefaultCorsConfig.AllowOrigin,
			AllowMethods:  handler.DefaultCorsConfig.AllowMethods,
			AllowHeaders:  handler.DefaultCorsConfig.AllowHeaders,
			MaxAge:        handler.DefaultCorsConfig.MaxAge,
			ExposeHeaders: handler.DefaultCorsConfig.ExposeHeaders,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("tus: %w", err)
	}
	t.uh = uh
	if err := cfg.Registry.Register(prometheuscollector.New(uh.Metrics)); err != nil {
		return nil, fmt.Errorf("tus: register metrics: %w", err)
	}
	t.store.inner.RegisterMetrics(cfg.Registry)
	if m, ok := cfg.Locker.(interface {
		RegisterMetrics(prometheus.Registerer) error
	}); ok {
		if err := m.RegisterMetrics(cfg.Registry); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// preCreate runs before an upload is created: it assigns the video id,
// checks and normalises the metadata and records the owner from the token.
func (t *Handler) preCreate(hook handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error) {
	var none handler.FileInfoChanges
	owner := t.hooks.Owner(hook.Context)
	if owner == "" {
		return handler.HTTPResponse{}, none, t.asTusError(hook.Context, errors.New("tus: create without an authenticated owner"))
	}
	if int64(len(hook.HTTPRequest.Header.Get("Upload-Metadata"))) > t.cfg.MaxMetadataBytes {
		return handler.HTTPResponse{}, none, tusError(apierror.Errorf(http.StatusRequestEntityTooLarge, apierror.CodeFieldTooLarge,
			"Upload-Metadata is larger than %d bytes", t.cfg.MaxMetadataBytes))
	}
	if hook.Upload.IsPartial || hook.Upload.IsFinal {
		return handler.HTTPResponse{}, none, tusError(apierror.Errorf(http.StatusBadRequest, apierror.CodeBadRequest, "concatenation is not supported"))
	}
	m, err := t.hooks.Intake.CheckMetadata(metadataOf(hook.Upload.MetaData))
	if err != nil {
		return handler.HTTPResponse{}, none, tusError(apierror.Errorf(http.StatusBadRequest, apierror.CodeInvalidField, "%v", err))
	}
	meta := handler.MetaData{metaOwner: owner}
	for k, v := range map[string]string{metaFilename: m.Filename, metaTitle: m.Title, metaDescription: m.Description, metaTags: m.Tags} {
		if v != "" {
			meta[k] = v
		}
	}
	id := contract.NewID()
	if err := t.reserveCreate(hook.Context, owner, id, hook.Upload); err != nil {
		return handler.HTTPResponse{}, none, t.asTusError(hook.Context, err)
	}
	return handler.HTTPResponse{}, handler.FileInfoChanges{ID: id, MetaData: meta}, nil
}

// metadataOf picks the metadata keys a client may send.
func metadataOf(m handler.MetaData) Metadata {
	return Metadata{Filename: m[metaFilename], Title: m[metaTitle], Description: m[metaDescription], Tags: m[metaTags]}
}

// preFinish runs in the request that completed the upload, under the
// upload's lock, before the response.
func (t *Handler) preFinish(hook handler.HookEvent) (handler.HTTPResponse, error) {
	if err := t.checkFinished(hook.Context, hook.Upload); err != nil {
		return handler.HTTPResponse{}, t.asTusError(hook.Context, err)
	}
	if err := t.finalize(hook.Context, hook.Upload); err != nil {
		return handler.HTTPResponse{}, t.asTusError(hook.Context, err)
	}
	return handler.HTTPResponse{Header: handler.HTTPHeader{"Location": t.hooks.Location(hook.Upload.ID)}}, nil
}

// preTerminate refuses to terminate a finished upload: it is the video's
// source, and the pipeline is processing it.
func (t *Handler) preTerminate(hook handler.HookEvent) (handler.HTTPResponse, error) {
	fi := hook.Upload
	if !fi.SizeIsDeferred && fi.Offset == fi.Size {
		return handler.HTTPResponse{}, tusError(apierror.Errorf(http.StatusConflict, apierror.CodeConflict,
			"the upload is complete and the video is being processed; it cannot be terminated"))
	}
	t.hooks.Limits.Release(hook.Context, fi.ID)
	return handler.HTTPResponse{}, nil
}

// Create serves POST /v1/uploads/ (creation, creation-with-upload).
func (t *Handler) Create() http.Handler {
	return fenced(t.limitCreate(t.uh.Middleware(http.HandlerFunc(t.uh.PostFile))))
}

// Options serves OPTIONS (tus discovery and CORS preflight; mount it
// without authentication).
func (t *Handler) Options() http.Handler {
	return t.uh.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
}

// Head serves HEAD /v1/uploads/{id}.
func (t *Handler) Head() http.Handler { return t.guard(t.uh.HeadFile) }

// Patch serves PATCH /v1/uploads/{id}.
func (t *Handler) Patch() http.Handler { return t.guard(t.uh.PatchFile) }

// Terminate serves DELETE /v1/uploads/{id}.
func (t *Handler) Terminate() http.Handler { return t.guard(t.uh.DelFile) }

// guard lets a request on upload {id} through to tusd only when the upload
// exists and belongs to the caller (else 404, the same for both). When
// the upload is finished but was never announced (the process stopped or
// Kafka failed between the last byte and the ack), it finishes the job
// first, whatever the method: tusd answers a PATCH at offset == size with
// 204 without calling the finish hook. If that fails the answer is the
// error (503), and the upload stays.
func (t *Handler) guard(h http.HandlerFunc) http.Handler {
	tusd := t.uh.Middleware(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(withFence(r.Context())) // see fence.go
		ctx := r.Context()
		id := r.PathValue("id")
		fi, err := t.store.readInfo(ctx, id)
		if err != nil || fi.MetaData[metaOwner] != t.hooks.Owner(ctx) {
			if err != nil && !errors.Is(err, handler.ErrNotFound) {
				apierror.Write(w, r, t.log, storageUnavailable(err))
				return
			}
			w.Header().Set("Tus-Resumable", "1.0.0")
			apierror.Write(w, r, t.log, errNotFound)
			return
		}
		if err := t.recover(ctx, id); err != nil {
			w.Header().Set("Tus-Resumable", "1.0.0")
			var he handler.Error
			if errors.As(t.asTusError(ctx, err), &he) {
				for k, v := range he.HTTPResponse.Header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(he.HTTPResponse.StatusCode)
				if r.Method != http.MethodHead {
					_, _ = io.WriteString(w, he.HTTPResponse.Body)
				}
			}
			return
		}
		r2 := r.Clone(ctx)
		r2.URL.Path = "/" + id
		r2.URL.RawPath = ""
		if r.Method == http.MethodPatch {
			body, release, err := t.limitPatch(r, id, fi)
			if err != nil {
				var ae *apierror.Error
				if !errors.As(err, &ae) {
					ae = apierror.Internal()
				}
				t.writeTusError(w, r, ae)
				return
			}
			defer release()
			r2.Body = body
		}
		tusd.ServeHTTP(w, r2)
	})
}

// Limits returns the caps and quotas it was built with (Hooks.Limits).
func (t *Handler) Limits() Limits { return t.hooks.Limits }

// Upload returns upload id as tusd's store sees it (handler.ErrNotFound
// when there is none), for tools and tests that act on the stored upload
// directly.
func (t *Handler) Upload(ctx context.Context, id string) (handler.Upload, error) {
	return t.store.GetUpload(ctx, id)
}

// Submitted reports whether the marker of upload id exists, i.e. its
// video.uploaded was published and confirmed.
func (t *Handler) Submitted(ctx context.Context, id string) (bool, error) {
	return t.store.submitted(ctx, id)
}

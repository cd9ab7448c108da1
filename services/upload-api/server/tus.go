package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	"github.com/tus/tusd/v2/pkg/prometheuscollector"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
	"github.com/vidpipe/vidpipe/services/upload-api/publish"
	"github.com/vidpipe/vidpipe/services/upload-api/sniff"
)

// TusBasePath is where the tus 1.0 endpoint lives.
const TusBasePath = "/v1/uploads/"

// Tus metadata keys a client may send (Upload-Metadata); any other key is
// dropped. "owner" is set by the server from the token.
const (
	metaFilename    = "filename"
	metaTitle       = "title"
	metaDescription = "description"
	metaTags        = "tags"
	metaOwner       = "owner"
)

// TusDeps are what the resumable upload endpoint is built from.
type TusDeps struct {
	Logger  *slog.Logger
	Options Options
	// S3 is the client tusd's S3 store uses (see NewS3Client).
	S3 *s3.Client
	// PartSize is the S3 part size of tus uploads (api.tus_part_size);
	// below 5 MiB, tusd's default (50 MiB) applies.
	PartSize int64
	// TempDir is where tusd buffers parts (api.tus_temp_dir; empty: the
	// OS temp dir). SweepTusTemp removes what it leaves behind.
	TempDir   string
	Objects   *storage.Store
	Publisher *publish.Publisher
	Status    *projection.Store
	Metrics   *Metrics
	// Limits are the caps and quotas (see tuslimits.go); nil: the defaults.
	Limits *Limits
}

// Tus serves resumable uploads (tus 1.0: creation, creation-with-upload,
// termination, creation-defer-length) with tusd on S3.
//
// The tus upload id is the video id: Location is /v1/uploads/{id} and the
// video is then GET /v1/videos/{id}. The upload's parts go to an S3
// multipart upload at contract.SourceKey(id), which becomes the source
// object when the last byte arrives. Then, inside the final PATCH (before
// its response), the first bytes are sniffed (not a video, or empty: the
// upload is terminated, 415/400; the only case that removes a finished
// upload) and video.uploaded is published. A marker object records the
// publication, so it happens once.
//
// If Kafka does not acknowledge (or the process dies first), the answer
// is 503 and nothing is removed: a finished upload without the marker is
// announced by the next request of any method on it (HEAD, PATCH even at
// offset == size, DELETE) before tusd answers, and by the background
// sweep (Sweep, api.recovery_interval) — never deleted on those paths.
// The event's ce_id is derived from the video id, so a repeated
// publication is recognisably the same event.
//
// Every request needs a bearer token and sees only its owner's uploads
// (404 otherwise, as for a missing one). A finished upload cannot be
// terminated (409): it is the video's source. Locks are in memory: with
// several replicas, route each upload to one replica (or use a shared
// tusd locker).
type Tus struct {
	uh      *handler.UnroutedHandler
	store   *tusStore
	locker  *memorylocker.MemoryLocker
	in      *intake
	log     *slog.Logger
	opts    Options
	metrics *Metrics
	limits  *Limits
}

// NewTus builds the tus endpoint and registers tusd's metrics on d.Metrics.
func NewTus(d TusDeps) (*Tus, error) {
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
	t := &Tus{
		limits:  d.Limits,
		store:   newTusStore(d.S3, d.Objects.Bucket(), d.PartSize, d.TempDir, d.Logger),
		locker:  memorylocker.New(),
		log:     d.Logger,
		opts:    d.Options,
		metrics: d.Metrics,
		in:      &intake{log: d.Logger, objects: d.Objects, pub: d.Publisher, status: d.Status, metrics: d.Metrics},
	}
	composer := handler.NewStoreComposer()
	t.store.UseIn(composer)
	t.locker.UseIn(composer)
	uh, err := handler.NewUnroutedHandler(handler.Config{
		StoreComposer:                    composer,
		BasePath:                         TusBasePath,
		MaxSize:                          d.Options.MaxUploadBytes,
		DisableDownload:                  true,
		DisableConcatenation:             true,
		PreUploadCreateCallback:          t.preCreate,
		PreFinishResponseCallback:        t.preFinish,
		PreUploadTerminateCallback:       t.preTerminate,
		NetworkTimeout:                   d.Options.BodyIdleTimeout,
		GracefulRequestCompletionTimeout: 10 * time.Second,
		Logger:                           newTusLogger(d.Logger),
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
	reg := d.Metrics.Registry()
	if err := reg.Register(prometheuscollector.New(uh.Metrics)); err != nil {
		return nil, fmt.Errorf("tus: register metrics: %w", err)
	}
	t.store.inner.RegisterMetrics(reg)
	return t, nil
}

// NewS3Client returns an aws-sdk-go-v2 S3 client for cfg (MinIO or AWS):
// endpoint and path style from cfg, static credentials when set (else the
// AWS default chain), checksums only where S3 requires them.
func NewS3Client(ctx context.Context, cfg config.S3) (*s3.Client, error) {
	scheme := "http://"
	if cfg.UseSSL {
		scheme = "https://"
	}
	opts := s3.Options{
		BaseEndpoint:               aws.String(scheme + cfg.Endpoint),
		UsePathStyle:               cfg.PathStyle,
		Region:                     cfg.Region,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if cfg.AccessKey != "" {
		opts.Credentials = credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")
		return s3.New(opts), nil
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(opts.Region))
	if err != nil {
		return nil, fmt.Errorf("s3 client: %w", err)
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.BaseEndpoint = opts.BaseEndpoint
		o.UsePathStyle = opts.UsePathStyle
		o.RequestChecksumCalculation = opts.RequestChecksumCalculation
		o.ResponseChecksumValidation = opts.ResponseChecksumValidation
	}), nil
}

// tusError makes an apiError a tusd error with our JSON body.
func tusError(ae *apiError) handler.Error {
	b, _ := json.Marshal(errorBody{Error: errorDetail{Code: ae.Code, Message: ae.Message}})
	h := handler.HTTPHeader{"Content-Type": "application/json; charset=utf-8"}
	for k := range ae.Header {
		h[k] = ae.Header.Get(k)
	}
	return handler.Error{
		ErrorCode: ae.Code,
		Message:   ae.Message,
		HTTPResponse: handler.HTTPResponse{
			StatusCode: ae.Status,
			Body:       string(b) + "\n",
			Header:     h,
		},
	}
}

// asTusError converts any error for tusd: apiErrors keep their status;
// others are logged and become a 500 "internal error".
func (t *Tus) asTusError(ctx context.Context, err error) error {
	var he handler.Error
	if errors.As(err, &he) {
		return err
	}
	var ae *apiError
	if !errors.As(err, &ae) {
		t.log.ErrorContext(ctx, "tus: internal error", "err", err)
		ae = errorf(http.StatusInternalServerError, codeInternal, "internal error")
	} else if ae.Status >= 500 && ae.cause != nil {
		t.log.WarnContext(ctx, "tus: upload failed", "status", ae.Status, "code", ae.Code, "err", ae.cause)
	}
	return tusError(ae)
}

// preCreate runs before an upload is created: it assigns the video id,
// checks and normalises the metadata and records the owner from the token.
func (t *Tus) preCreate(hook handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error) {
	var none handler.FileInfoChanges
	owner := ownerFrom(hook.Context)
	if owner == "" {
		return handler.HTTPResponse{}, none, t.asTusError(hook.Context, errors.New("tus: create without an authenticated owner"))
	}
	if int64(len(hook.HTTPRequest.Header.Get("Upload-Metadata"))) > t.opts.MaxFieldBytes*2 {
		return handler.HTTPResponse{}, none, tusError(errorf(http.StatusRequestEntityTooLarge, codeFieldTooLarge,
			"Upload-Metadata is larger than %d bytes", t.opts.MaxFieldBytes*2))
	}
	if hook.Upload.IsPartial || hook.Upload.IsFinal {
		return handler.HTTPResponse{}, none, tusError(errorf(http.StatusBadRequest, codeBadRequest, "concatenation is not supported"))
	}
	f, err := metaFields(hook.Upload.MetaData)
	if err != nil {
		return handler.HTTPResponse{}, none, tusError(errorf(http.StatusBadRequest, codeInvalidField, "%v", err))
	}
	meta := handler.MetaData{metaOwner: owner}
	if f.Filename != "" {
		meta[metaFilename] = f.Filename
	}
	if f.Title != "" {
		meta[metaTitle] = f.Title
	}
	if f.Description != "" {
		meta[metaDescription] = f.Description
	}
	if len(f.Tags) > 0 {
		meta[metaTags] = strings.Join(f.Tags, ",")
	}
	id := newVideoID()
	if err := t.reserveCreate(hook.Context, owner, id, hook.Upload); err != nil {
		return handler.HTTPResponse{}, none, t.asTusError(hook.Context, err)
	}
	return handler.HTTPResponse{}, handler.FileInfoChanges{ID: id, MetaData: meta}, nil
}

// metaFields checks the client's metadata like the multipart fields.
func metaFields(m handler.MetaData) (videoFields, error) {
	var f videoFields
	var err error
	f.Filename = cleanFilename(m[metaFilename])
	if f.Title, err = parseTitle(m[metaTitle]); err != nil {
		return f, err
	}
	if f.Description, err = parseDescription(m[metaDescription]); err != nil {
		return f, err
	}
	if f.Tags, err = parseTags(m[metaTags]); err != nil {
		return f, err
	}
	return f, nil
}

// preFinish runs in the request that completed the upload, under the
// upload's lock, before the response.
func (t *Tus) preFinish(hook handler.HookEvent) (handler.HTTPResponse, error) {
	if err := t.checkFinished(hook.Context, hook.Upload); err != nil {
		return handler.HTTPResponse{}, t.asTusError(hook.Context, err)
	}
	if err := t.finalize(hook.Context, hook.Upload); err != nil {
		return handler.HTTPResponse{}, t.asTusError(hook.Context, err)
	}
	return handler.HTTPResponse{Header: handler.HTTPHeader{"Location": t.opts.link("/v1/videos/" + hook.Upload.ID)}}, nil
}

// preTerminate refuses to terminate a finished upload: it is the video's
// source, and the pipeline is processing it.
func (t *Tus) preTerminate(hook handler.HookEvent) (handler.HTTPResponse, error) {
	fi := hook.Upload
	if !fi.SizeIsDeferred && fi.Offset == fi.Size {
		return handler.HTTPResponse{}, tusError(errorf(http.StatusConflict, codeConflict,
			"the upload is complete and the video is being processed; it cannot be terminated"))
	}
	t.limits.release(hook.Context, fi.ID)
	return handler.HTTPResponse{}, nil
}

// finalize checks a finished upload and publishes video.uploaded once. The
// caller holds the upload's lock. Only a rejected upload (empty, not a
// video) is terminated, so the client starts over: it was never announced,
// since announcing follows the same checks. A failed publication removes
// nothing (503): the request path and the sweep retry it.
func (t *Tus) finalize(ctx context.Context, fi handler.FileInfo) error {
	id := fi.ID
	done, err := t.store.submitted(ctx, id)
	if err != nil {
		return unavailable(codeStorageUnavailable, "object storage is unavailable; try again later", err)
	}
	if done {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	owner := fi.MetaData[metaOwner]
	if t.in.announced(ctx, owner, id) {
		// Published before, but the marker was not written.
		return t.mark(ctx, id)
	}
	reject := func(ae *apiError) error {
		t.terminate(ctx, id)
		t.metrics.uploads.WithLabelValues("tus", ae.Code).Inc()
		return ae
	}
	if fi.Size <= 0 {
		return reject(errorf(http.StatusBadRequest, codeEmptyFile, "the file is empty"))
	}
	head, completed, err := t.readHead(ctx, id)
	if err != nil {
		return err
	}
	c, err := sniff.Detect(head)
	if err != nil {
		return reject(errorf(http.StatusUnsupportedMediaType, codeUnsupportedMedia,
			"the file is not a supported video container (%v); supported: MP4/MOV/3GP, Matroska/WebM, AVI, MPEG-TS/PS, Ogg, FLV", err))
	}
	f, err := metaFields(fi.MetaData)
	if err != nil { // checked at creation; only a tampered .info gets here
		return reject(errorf(http.StatusBadRequest, codeInvalidField, "%v", err))
	}
	ev := uploadedEvent(id, owner, t.in.objects.Bucket(), f, fi.Size, c.MIME)
	if !completed.IsZero() {
		// The source's completion time, not now: a recovery that publishes
		// again (the first publication's outcome was unknown) writes the
		// very same event, so the pipeline's outputs stay the same.
		ev.Video.UploadedAt = completed
	}
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("tus upload %s: event does not validate: %w", id, err)
	}
	if err := t.in.submit(ctx, ev, keep); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			t.metrics.uploads.WithLabelValues("tus", ae.Code).Inc()
		}
		return err
	}
	t.metrics.uploads.WithLabelValues("tus", "accepted").Inc()
	// The video is accepted (Kafka holds the event) whatever happens to
	// the marker: without it, a later request or sweep finds the video in
	// the status projection, or publishes the same event (same ce_id)
	// again; neither path ever removes the upload.
	if err := t.mark(ctx, id); err != nil {
		t.log.WarnContext(ctx, "tus: mark upload submitted; recovery will retry", "video_id", id, "err", err)
	}
	return nil
}

// mark writes the submitted marker, trying a few times.
func (t *Tus) mark(ctx context.Context, id string) error {
	var err error
	for i := 0; i < 3; i++ {
		if i > 0 {
			time.Sleep(time.Duration(i) * 200 * time.Millisecond)
		}
		if err = t.store.markSubmitted(ctx, id); err == nil {
			return nil
		}
	}
	return unavailable(codeStorageUnavailable, "object storage is unavailable; try again later", err)
}

// readHead returns the first sniff.HeadSize bytes of the stored source
// and the source object's last-modified time (when the upload completed).
func (t *Tus) readHead(ctx context.Context, id string) ([]byte, time.Time, error) {
	out, err := t.store.s3.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(t.store.bucket), Key: aws.String(contract.SourceKey(id)),
		Range: aws.String(fmt.Sprintf("bytes=0-%d", sniff.HeadSize-1)),
	})
	if err != nil {
		return nil, time.Time{}, unavailable(codeStorageUnavailable, "object storage is unavailable; try again later",
			fmt.Errorf("tus: read head of %s: %w", id, err))
	}
	defer out.Body.Close()
	head, err := io.ReadAll(io.LimitReader(out.Body, sniff.HeadSize))
	if err != nil {
		return nil, time.Time{}, unavailable(codeStorageUnavailable, "object storage is unavailable; try again later",
			fmt.Errorf("tus: read head of %s: %w", id, err))
	}
	var completed time.Time
	if out.LastModified != nil {
		completed = out.LastModified.UTC()
	}
	return head, completed, nil
}

// terminate removes every object of upload id and its quota reservation.
func (t *Tus) terminate(ctx context.Context, id string) {
	defer t.limits.release(ctx, id)
	ctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
	defer cancel()
	up, err := t.store.GetUpload(ctx, id)
	if err == nil {
		err = t.store.AsTerminatableUpload(up).Terminate(ctx)
	}
	if err != nil && !errors.Is(err, handler.ErrNotFound) {
		t.log.ErrorContext(ctx, "tus: terminate rejected upload", "video_id", id, "err", err)
	}
}

// handlers for routes.go.

// create serves POST /v1/uploads/.
func (t *Tus) create() http.Handler {
	return t.limitCreate(t.uh.Middleware(http.HandlerFunc(t.uh.PostFile)))
}

// options serves OPTIONS (tus discovery and CORS preflight, no auth).
func (t *Tus) options() http.Handler {
	return t.uh.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
}

// head serves HEAD /v1/uploads/{id}.
func (t *Tus) head() http.Handler { return t.guard(t.uh.HeadFile) }

// patch serves PATCH /v1/uploads/{id}.
func (t *Tus) patch() http.Handler { return t.guard(t.uh.PatchFile) }

// terminateUpload serves DELETE /v1/uploads/{id}.
func (t *Tus) terminateUpload() http.Handler { return t.guard(t.uh.DelFile) }

// guard lets a request on upload {id} through to tusd only when the upload
// exists and belongs to the caller (else 404, the same for both). When
// the upload is finished but was never announced (the process stopped or
// Kafka failed between the last byte and the ack), it finishes the job
// first, whatever the method: tusd answers a PATCH at offset == size with
// 204 without calling the finish hook. If that fails the answer is the
// error (503), and the upload stays.
func (t *Tus) guard(h http.HandlerFunc) http.Handler {
	tusd := t.uh.Middleware(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id := r.PathValue("id")
		fi, err := t.store.readInfo(ctx, id)
		if err != nil || fi.MetaData[metaOwner] != ownerFrom(ctx) {
			if err != nil && !errors.Is(err, handler.ErrNotFound) {
				writeError(w, r, t.log, unavailable(codeStorageUnavailable, "object storage is unavailable; try again later", err))
				return
			}
			w.Header().Set("Tus-Resumable", "1.0.0")
			writeError(w, r, t.log, errNotFound)
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
				var ae *apiError
				if !errors.As(err, &ae) {
					ae = errorf(http.StatusInternalServerError, codeInternal, "internal error")
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

// recover announces upload id if it is finished but unannounced (see
// guard). It never removes anything unless the upload is rejected (see
// finalize).
func (t *Tus) recover(ctx context.Context, id string) error {
	if done, err := t.store.submitted(ctx, id); err != nil || done {
		if err != nil {
			return unavailable(codeStorageUnavailable, "object storage is unavailable; try again later", err)
		}
		return nil
	}
	// Unfinished uploads have no source object yet (s3store completes the
	// S3 multipart upload at the source key on the last byte).
	if finished, err := t.store.sourceExists(ctx, id); err != nil || !finished {
		if err != nil {
			return unavailable(codeStorageUnavailable, "object storage is unavailable; try again later", err)
		}
		return nil
	}
	lock, err := t.locker.NewLock(id)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := lock.Lock(lctx, func() {}); err != nil {
		return unavailable(codeConflict, "the upload is busy; try again", err)
	}
	defer lock.Unlock()
	up, err := t.store.GetUpload(ctx, id)
	if err != nil {
		return err
	}
	fi, err := up.GetInfo(ctx)
	if err != nil {
		return err
	}
	if fi.SizeIsDeferred || fi.Offset != fi.Size {
		return nil // not finished: nothing to do
	}
	return t.finalize(ctx, fi)
}

// Sweep announces every finished tus upload that was never announced
// (video.uploaded not acknowledged, the process killed mid-publish) and
// returns how many it announced. It removes nothing, except uploads that
// fail the sniff, which were never announced. cmd/upload-api runs it at
// start and every api.recovery_interval.
func (t *Tus) Sweep(ctx context.Context) (int, error) {
	infos, err := t.in.objects.List(ctx, tusMetaPrefix+"uploads/")
	if err != nil {
		return 0, fmt.Errorf("tus sweep: %w", err)
	}
	type state struct{ info, submitted bool }
	byID := map[string]*state{}
	for _, o := range infos {
		rest, ok := strings.CutPrefix(o.Key, tusMetaPrefix)
		if !ok {
			continue
		}
		// rest is uploads/{id}/source.info or uploads/{id}/source.submitted.
		id, _, _ := strings.Cut(strings.TrimPrefix(rest, "uploads/"), "/")
		suffix := strings.TrimPrefix(rest, contract.SourceKey(id))
		if !contract.IsUUID(id) || (suffix != ".info" && suffix != ".submitted") {
			continue
		}
		st := byID[id]
		if st == nil {
			st = &state{}
			byID[id] = st
		}
		switch suffix {
		case ".info":
			st.info = true
		case ".submitted":
			st.submitted = true
		}
	}
	var errs []error
	n := 0
	for id, st := range byID {
		if !st.info || st.submitted {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if finished, err := t.store.sourceExists(ctx, id); err != nil || !finished {
			if err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := t.recover(ctx, id); err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.Status < 500 {
				t.log.InfoContext(ctx, "tus sweep: finished upload rejected", "video_id", id, "code", ae.Code)
				continue
			}
			errs = append(errs, fmt.Errorf("video %s: %w", id, err))
			continue
		}
		t.log.InfoContext(ctx, "tus sweep: finished upload announced", "video_id", id)
		n++
	}
	return n, errors.Join(errs...)
}

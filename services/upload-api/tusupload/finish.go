package tusupload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/backoff"
	"github.com/vidpipe/vidpipe/services/upload-api/apierror"
	"github.com/vidpipe/vidpipe/services/upload-api/sniff"
)

// storageUnavailable is the 503 of a failed object storage call.
func storageUnavailable(cause error) *apierror.Error {
	return apierror.Unavailable(apierror.CodeStorageUnavailable, "object storage is unavailable; try again later", cause)
}

// finalize checks a finished upload and publishes video.uploaded once. The
// caller holds the upload's lock. Only a rejected upload (empty, not a
// video) is terminated, so the client starts over: it was never announced,
// since announcing follows the same checks. A failed publication removes
// nothing (503): the request path and the sweep retry it.
func (t *Handler) finalize(ctx context.Context, fi handler.FileInfo) error {
	id := fi.ID
	done, err := t.store.submitted(ctx, id)
	if err != nil {
		return storageUnavailable(err)
	}
	if done {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	owner := fi.MetaData[metaOwner]
	if t.hooks.Intake.Announced(ctx, owner, id) {
		// Published before, but the marker was not written.
		return t.mark(ctx, id)
	}
	reject := func(ae *apierror.Error) error {
		t.terminate(ctx, id)
		t.hooks.Outcome(ae.Code)
		return ae
	}
	if fi.Size <= 0 {
		return reject(apierror.Errorf(http.StatusBadRequest, apierror.CodeEmptyFile, "the file is empty"))
	}
	head, completed, err := t.readHead(ctx, id)
	if err != nil {
		return err
	}
	c, err := sniff.Detect(head)
	if err != nil {
		return reject(apierror.Errorf(http.StatusUnsupportedMediaType, apierror.CodeUnsupportedMedia,
			"the file is not a supported video container or audio file (%v); supported: MP4/MOV/3GP, Matroska/WebM, AVI, MPEG-TS/PS, Ogg, FLV; audio: M4A, MP3, WAV, FLAC, Ogg Opus/Vorbis, AAC", err))
	}
	meta, err := t.hooks.Intake.CheckMetadata(metadataOf(fi.MetaData))
	if err != nil { // checked at creation; only a tampered .info gets here
		return reject(apierror.Errorf(http.StatusBadRequest, apierror.CodeInvalidField, "%v", err))
	}
	if err := t.hooks.Intake.Announce(ctx, Finished{
		ID: id, Owner: owner, Meta: meta, Size: fi.Size, ContentType: c.MIME, CompletedAt: completed,
	}); err != nil {
		var ae *apierror.Error
		if errors.As(err, &ae) {
			t.hooks.Outcome(ae.Code)
		}
		return err
	}
	t.hooks.Outcome("accepted")
	// The video is accepted (Kafka holds the event) whatever happens to
	// the marker: without it, a later request or sweep finds the video
	// announced, or publishes the same event again; neither path ever
	// removes the upload.
	if err := t.mark(ctx, id); err != nil {
		t.log.WarnContext(ctx, "tus: mark upload submitted; recovery will retry", "video_id", id, "err", err)
	}
	return nil
}

// markPace spaces the marker's three tries: 200ms, then 400ms.
var markPace = backoff.Policy{Initial: 200 * time.Millisecond, Max: 400 * time.Millisecond}

// mark writes the submitted marker, trying three times while ctx lasts.
func (t *Handler) mark(ctx context.Context, id string) error {
	var err error
	for i := 0; i < 3; i++ {
		if i > 0 && !backoff.Sleep(ctx, markPace.Delay(i)) {
			break
		}
		if err = t.store.markSubmitted(ctx, id); err == nil {
			return nil
		}
	}
	return storageUnavailable(err)
}

// readHead returns the first sniff.HeadSize bytes of the stored source
// and the source object's last-modified time (when the upload completed).
func (t *Handler) readHead(ctx context.Context, id string) ([]byte, time.Time, error) {
	out, err := t.store.s3.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(t.store.bucket), Key: aws.String(contract.SourceKey(id)),
		Range: aws.String(fmt.Sprintf("bytes=0-%d", sniff.HeadSize-1)),
	})
	if err != nil {
		return nil, time.Time{}, storageUnavailable(fmt.Errorf("tus: read head of %s: %w", id, err))
	}
	defer out.Body.Close()
	head, err := io.ReadAll(io.LimitReader(out.Body, sniff.HeadSize))
	if err != nil {
		return nil, time.Time{}, storageUnavailable(fmt.Errorf("tus: read head of %s: %w", id, err))
	}
	var completed time.Time
	if out.LastModified != nil {
		completed = out.LastModified.UTC()
	}
	return head, completed, nil
}

// terminate removes every object of upload id and its quota reservation.
func (t *Handler) terminate(ctx context.Context, id string) {
	defer t.hooks.Limits.Release(ctx, id)
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

// recover announces upload id if it is finished but unannounced (see
// guard). It never removes anything unless the upload is rejected (see
// finalize).
func (t *Handler) recover(ctx context.Context, id string) error {
	if done, err := t.store.submitted(ctx, id); err != nil || done {
		if err != nil {
			return storageUnavailable(err)
		}
		return nil
	}
	// Unfinished uploads have no source object yet (s3store completes the
	// S3 multipart upload at the source key on the last byte).
	if finished, err := t.store.sourceExists(ctx, id); err != nil || !finished {
		if err != nil {
			return storageUnavailable(err)
		}
		return nil
	}
	lock, err := t.locker.NewLock(id)
	if err != nil {
		return err
	}
	ctx = withFence(ctx) // this lock's writes (see fence.go)
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := lock.Lock(lctx, func() {}); err != nil {
		return apierror.Unavailable(apierror.CodeConflict, "the upload is busy; try again", err)
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

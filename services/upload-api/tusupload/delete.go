package tusupload

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/vidpipe/vidpipe/contract"
)

// Deleting a video (DELETE /v1/videos/{id}) also ends its tus upload: the
// API asks Owner whether an upload of that id is the caller's, and its
// video.deleted consumer calls Remove.

// deleteLockWait bounds waiting for the upload's lock in Remove: a PATCH in
// progress is asked to stop and release it (tusd's requestRelease).
const deleteLockWait = 10 * time.Second

// ObjectsPrefix is the prefix of every bookkeeping object of tus upload id
// (its .info, its .part buffer, the .submitted marker):
// tus/uploads/{id}/.
func ObjectsPrefix(id string) string { return tusMetaPrefix + "uploads/" + id + "/" }

// Owner returns the owner of tus upload id, finished or not;
// handler.ErrNotFound when there is no such upload (any more).
func (t *Handler) Owner(ctx context.Context, id string) (string, error) {
	fi, err := t.store.readInfo(ctx, id)
	if err != nil {
		return "", err
	}
	return fi.MetaData[metaOwner], nil
}

// Remove ends tus upload id for a deleted video: a PATCH in progress is
// asked to stop (its lock), the S3 multipart upload of an unfinished
// upload is aborted and its objects (.info, .part, marker, and the source
// of a finished one) removed, and its quota reservation released. It is
// idempotent: an upload that is gone already is no error. Other errors
// are transient (storage unavailable); the caller retries.
func (t *Handler) Remove(ctx context.Context, id string) error {
	if !contract.IsUUID(id) {
		return fmt.Errorf("tus: remove %q: not a video id", id)
	}
	if lock, err := t.locker.NewLock(id); err == nil {
		lctx, cancel := context.WithTimeout(ctx, deleteLockWait)
		err := lock.Lock(lctx, func() {})
		cancel()
		if err == nil {
			defer func() { _ = lock.Unlock() }()
		} else {
			// Go on without it: the upload's objects go anyway, and the
			// request holding it fails on its next write.
			t.log.WarnContext(ctx, "tus: remove without the upload's lock", "video_id", id, "err", err)
		}
	}
	up, err := t.store.GetUpload(ctx, id)
	if err == nil {
		err = t.store.AsTerminatableUpload(up).Terminate(ctx)
	}
	if err != nil && !errors.Is(err, handler.ErrNotFound) {
		return fmt.Errorf("tus: terminate upload %s: %w", id, err)
	}
	t.hooks.Limits.Release(ctx, id)
	return nil
}

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
	"github.com/vidpipe/vidpipe/services/upload-api/publish"
	"github.com/vidpipe/vidpipe/services/upload-api/tusupload"
)

// lifecycle serves DELETE and PATCH /v1/videos/{id}.
type lifecycle struct {
	log     *slog.Logger
	objects *storage.Store
	pub     *publish.Publisher
	status  *projection.Store
	tus     *tusupload.Handler // nil: no resumable uploads
}

// deleteAnswer is the body of a 202 to DELETE /v1/videos/{id}.
type deleteAnswer struct {
	VideoID   string    `json:"video_id"`
	Status    string    `json:"status"` // "deleted"
	DeletedAt time.Time `json:"deleted_at"`
}

// tombstone is the JSON content of contract.TombstoneKey.
type tombstone struct {
	VideoID   string    `json:"video_id"`
	Owner     string    `json:"owner"`
	DeletedAt time.Time `json:"deleted_at"`
}

// handleDeleteVideo serves DELETE /v1/videos/{id}: 202 once the delete is
// fenced and announced. Only the owner may delete (someone else's video,
// and one that never existed, answer 404). It works in every state, and
// for an upload that never finished (tus). In order:
//
//  1. the tombstone (contract.TombstoneKey) is written: from then on no
//     stage stores anything for the video or publishes for it (stage.Fence);
//  2. the status row is marked deleted (projection.MarkDeleted): GET
//     answers 404, event streams end, late events are dropped, the quota
//     reservation is released and the source stops counting;
//  3. an unfinished tus upload is terminated (tusupload.Handler.Remove);
//  4. video.deleted is published (key: the id; acks=all, retried; ce_id
//     derived from the id) and every owner of data removes its part. A
//     marker (pending/deletes/{id}.json) is stored before and removed
//     after: when the publish fails (503), the recovery sweep publishes
//     it again later.
//
// Idempotent: deleting again answers 202 and runs the same steps (the
// status row stays as a tombstone for good, so ownership is still known),
// which also completes a delete whose publish failed (503) before.
func handleDeleteVideo(log *slog.Logger, lc *lifecycle) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, owner := r.PathValue("id"), ownerFrom(ctx)
		if !contract.IsUUID(id) {
			writeError(w, r, log, errNotFound)
			return
		}
		tusUpload, err := lc.owns(ctx, owner, id)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		// Past this point the delete must not be cut short by a client
		// that hangs up: each step stays done, and a retry completes it.
		ctx = context.WithoutCancel(ctx)
		at := time.Now().UTC().Truncate(time.Microsecond)
		body, _ := json.Marshal(tombstone{VideoID: id, Owner: owner, DeletedAt: at})
		if _, err := lc.objects.Put(ctx, contract.TombstoneKey(id), bytes.NewReader(body), int64(len(body)), "application/json"); err != nil {
			writeError(w, r, log, unavailable(codeStorageUnavailable, "object storage is unavailable; nothing was deleted, try again later", err))
			return
		}
		if _, err := lc.status.MarkDeleted(ctx, owner, id, at); err != nil {
			if errors.Is(err, projection.ErrNotFound) {
				writeError(w, r, log, errNotFound)
				return
			}
			writeError(w, r, log, unavailable(codeDatabaseUnavailable, "the status store is unavailable; try the DELETE again later", err))
			return
		}
		if tusUpload && lc.tus != nil {
			if err := lc.tus.Remove(ctx, id); err != nil {
				// The video.deleted consumer removes it too.
				log.WarnContext(ctx, "delete: terminate the tus upload", "video_id", id, "err", err)
			}
		}
		ev := contract.VideoDeleted{SchemaVersion: contract.SchemaVersion, VideoID: id, Owner: owner, DeletedAt: at}
		// The marker outlives a failed publish: the recovery sweep
		// publishes again (resendDeletes).
		marker, err := contract.Encode(ev)
		if err == nil {
			_, err = lc.objects.Put(ctx, pendingDeleteKey(id), bytes.NewReader(marker), int64(len(marker)), "application/json")
		}
		if err != nil {
			writeError(w, r, log, unavailable(codeStorageUnavailable, "object storage is unavailable; send the DELETE again", err))
			return
		}
		if _, err := lc.pub.Publish(ctx, ev); err != nil {
			writeError(w, r, log, unavailable(codeBrokerUnavailable,
				"the video is deleted; its removal will be announced once the broker answers (or send the DELETE again)", err))
			return
		}
		if err := lc.objects.Remove(ctx, pendingDeleteKey(id)); err != nil {
			log.WarnContext(ctx, "delete: remove the pending marker; the sweep announces it again", "video_id", id, "err", err)
		}
		log.InfoContext(ctx, "video deleted", "video_id", id, "owner", owner)
		writeJSON(w, http.StatusAccepted, deleteAnswer{VideoID: id, Status: "deleted", DeletedAt: at})
	})
}

// owns reports whether owner may delete video id: the status projection
// knows it as owner's (deleted already or not), or an upload of owner's
// holds that id (a quota reservation, or a tus upload: then tusUpload).
// Anything else is errNotFound.
func (lc *lifecycle) owns(ctx context.Context, owner, id string) (tusUpload bool, err error) {
	rowOwner, _, err := lc.status.Owner(ctx, id)
	switch {
	case err == nil && rowOwner != owner:
		return false, errNotFound
	case err != nil && !errors.Is(err, projection.ErrNotFound):
		return false, unavailable(codeDatabaseUnavailable, "the status store is unavailable; try again later", err)
	}
	known := err == nil
	if lc.tus != nil {
		tusOwner, terr := lc.tus.Owner(ctx, id)
		switch {
		case terr == nil && tusOwner != owner:
			return false, errNotFound
		case terr == nil:
			return true, nil
		case !errors.Is(terr, handler.ErrNotFound):
			return false, unavailable(codeStorageUnavailable, "object storage is unavailable; try again later", terr)
		}
	}
	if known {
		return false, nil
	}
	resOwner, err := lc.status.ReservationOwner(ctx, id)
	switch {
	case errors.Is(err, projection.ErrNotFound) || (err == nil && resOwner != owner):
		return false, errNotFound
	case err != nil:
		return false, unavailable(codeDatabaseUnavailable, "the status store is unavailable; try again later", err)
	}
	return false, nil
}

// RemoveDeleted returns the handler of upload-api's video.deleted consumer
// (group contract.LifecycleGroup("upload-api")): it removes what the API
// owns of the video — the tus upload (terminated, reservation released),
// the source and everything else under uploads/{id}/, the tus objects
// (tusupload.ObjectsPrefix), a pending marker, the caption tracks
// (contract.CaptionsPrefix and their rows) — and marks the status row
// deleted (a no-op after the DELETE itself did). Idempotent; errors are
// transient (the consumer retries them); an undecodable record matches
// projection.ErrUndecodable (skipped).
func RemoveDeleted(log *slog.Logger, objects *storage.Store, status *projection.Store, tus *tusupload.Handler) func(ctx context.Context, rec projection.Record) error {
	return func(ctx context.Context, rec projection.Record) error {
		ev, err := contract.Decode[contract.VideoDeleted](rec.Value)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", projection.ErrUndecodable, rec.Topic, err)
		}
		id := ev.VideoID
		if tus != nil {
			if err := tus.Remove(ctx, id); err != nil {
				return err
			}
		}
		for _, p := range []string{strings.TrimSuffix(contract.SourceKey(id), "source"), tusupload.ObjectsPrefix(id)} {
			if err := objects.RemovePrefix(ctx, p); err != nil {
				return err
			}
		}
		if err := objects.Remove(ctx, pendingKey(id)); err != nil {
			return err
		}
		// Caption tracks (captions.go): the WebVTTs, then their rows.
		if err := objects.RemovePrefix(ctx, contract.CaptionsPrefix(id)); err != nil {
			return err
		}
		if err := status.DeleteCaptions(ctx, id); err != nil {
			return err
		}
		if _, err := status.MarkDeleted(ctx, ev.Owner, id, ev.DeletedAt); err != nil && !errors.Is(err, projection.ErrNotFound) {
			return err
		}
		log.InfoContext(ctx, "deleted video's uploads removed", "video_id", id)
		return nil
	}
}

// patchBody is what PATCH /v1/videos/{id} may change (merge semantics:
// an absent field is unchanged).
type patchBody struct {
	Title       *string
	Description *string
	Tags        *[]string
}

// parsePatch decodes and checks a PATCH body: a JSON object with title,
// description and/or tags (an array of strings), validated like the
// upload's fields. null clears description and tags; a title cannot be
// cleared.
func parsePatch(body []byte) (patchBody, error) {
	var raw map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&raw); err != nil || raw == nil {
		return patchBody{}, errorf(http.StatusBadRequest, codeBadRequest, "the body must be a JSON object with title, description and/or tags")
	}
	if d.More() {
		return patchBody{}, errorf(http.StatusBadRequest, codeBadRequest, "the body must be one JSON object")
	}
	var p patchBody
	for k, v := range raw {
		null := string(bytes.TrimSpace(v)) == "null"
		switch k {
		case "title":
			var s string
			if null || json.Unmarshal(v, &s) != nil {
				return p, errorf(http.StatusBadRequest, codeInvalidField, "title must be a non-empty string")
			}
			t, err := parseTitle(s)
			if err == nil && t == "" {
				err = errors.New("title must not be empty")
			}
			if err != nil {
				return p, errorf(http.StatusBadRequest, codeInvalidField, "%v", err)
			}
			p.Title = &t
		case "description":
			var s string
			if !null && json.Unmarshal(v, &s) != nil {
				return p, errorf(http.StatusBadRequest, codeInvalidField, "description must be a string")
			}
			t, err := parseDescription(s)
			if err != nil {
				return p, errorf(http.StatusBadRequest, codeInvalidField, "%v", err)
			}
			p.Description = &t
		case "tags":
			var list []string
			if !null && json.Unmarshal(v, &list) != nil {
				return p, errorf(http.StatusBadRequest, codeInvalidField, "tags must be an array of strings")
			}
			for _, t := range list {
				if strings.Contains(t, ",") {
					return p, errorf(http.StatusBadRequest, codeInvalidField, "tag %q: contains a comma", clip(strings.ToValidUTF8(t, "\uFFFD"), 32))
				}
			}
			tags, err := parseTags(strings.Join(list, ","))
			if err != nil {
				return p, errorf(http.StatusBadRequest, codeInvalidField, "%v", err)
			}
			p.Tags = &tags
		default:
			return p, errorf(http.StatusBadRequest, codeUnknownField, "unknown field %q (allowed: title, description, tags)", clip(strings.ToValidUTF8(k, "\uFFFD"), 32))
		}
	}
	return p, nil
}

// handlePatchVideo serves PATCH /v1/videos/{id}: a JSON body (415 for any
// other Content-Type) with title, description and/or tags, merged into
// the video's metadata (an absent field is unchanged) and checked like the
// upload's fields (400 with the reason). Only the owner may edit (404
// otherwise, also for a deleted video). The status document shows the
// edit at once (200 with it); video.updated is published (key: the id;
// ce_id from the id and updated_at) and the indexer re-indexes the video,
// or indexes it with the edit once it is ready. Pipeline events still in
// flight with the old metadata do not undo the edit (the newest edit wins
// in the projection and in the catalog).
func handlePatchVideo(log *slog.Logger, v viewer, lc *lifecycle) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id, owner := r.PathValue("id"), ownerFrom(ctx)
		if !contract.IsUUID(id) {
			writeError(w, r, log, errNotFound)
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeError(w, r, log, errorf(http.StatusUnsupportedMediaType, codeUnsupportedContent,
				"the body must be JSON (Content-Type: application/json)"))
			return
		}
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(r.Body); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, r, log, errorf(http.StatusRequestEntityTooLarge, codeBodyTooLarge, "the body is larger than %d bytes", mbe.Limit))
				return
			}
			writeError(w, r, log, errorf(http.StatusBadRequest, codeBadRequest, "could not read the body"))
			return
		}
		p, err := parsePatch(buf.Bytes())
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		st, err := lc.status.Get(ctx, owner, id)
		if err == nil && st.Uploaded == nil {
			err = projection.ErrNotFound // known only from an undecodable dead letter: nothing to edit
		}
		if err != nil {
			if errors.Is(err, projection.ErrNotFound) {
				writeError(w, r, log, errNotFound)
				return
			}
			writeError(w, r, log, unavailable(codeDatabaseUnavailable, "the status store is unavailable; try again later", err))
			return
		}
		if p.Title == nil && p.Description == nil && p.Tags == nil {
			writeView(ctx, w, r, log, v, st) // nothing to change
			return
		}
		// The merge runs under the video's row lock: concurrent edits
		// apply one after the other, none is lost.
		merge := func(video contract.Video) (contract.Video, error) {
			if p.Title != nil {
				video.Title = *p.Title
			}
			if p.Description != nil {
				video.Description = *p.Description
			}
			if p.Tags != nil {
				video.Tags = *p.Tags
			}
			ev := contract.VideoUpdated{SchemaVersion: contract.SchemaVersion, Video: video, UpdatedAt: time.Now()}
			if err := ev.Validate(); err != nil {
				return video, errorf(http.StatusBadRequest, codeInvalidField, "%v", err)
			}
			return video, nil
		}
		ctx = context.WithoutCancel(ctx)
		st, video, err := lc.status.Patch(ctx, owner, id, time.Now(), merge)
		if err != nil {
			var ae *apiError
			switch {
			case errors.As(err, &ae):
				writeError(w, r, log, ae)
			case errors.Is(err, projection.ErrNotFound):
				writeError(w, r, log, errNotFound)
			default:
				writeError(w, r, log, unavailable(codeDatabaseUnavailable, "the status store is unavailable; try again later", err))
			}
			return
		}
		ev := contract.VideoUpdated{SchemaVersion: contract.SchemaVersion, Video: video, UpdatedAt: st.Edited}
		if _, err := lc.pub.Publish(ctx, ev); err != nil {
			writeError(w, r, log, unavailable(codeBrokerUnavailable,
				"the edit is saved but search will not see it until it is announced; send the PATCH again", err))
			return
		}
		log.InfoContext(ctx, "video edited", "video_id", id, "owner", owner)
		writeView(ctx, w, r, log, v, st)
	})
}

// writeView answers 200 with the status document of st.
func writeView(ctx context.Context, w http.ResponseWriter, r *http.Request, log *slog.Logger, v viewer, st projection.State) {
	view, err := v.state(ctx, st)
	if err != nil {
		writeError(w, r, log, err)
		return
	}
	writeJSON(w, http.StatusOK, view)
}

// errUploadDeleted answers the last PATCH of a tus upload whose video was
// deleted while it was being uploaded.
var errUploadDeleted = errorf(http.StatusNotFound, codeNotFound, "the video was deleted; the upload is discarded")

// discardIfDeleted is the fence of a finished tus upload (called before it
// is announced): when its video was deleted meanwhile (a DELETE that raced
// the last PATCH, or one the sweep finds later), the upload's objects are
// removed — the source, the tus objects — and errUploadDeleted is
// returned: nothing is announced. It returns nil for a video that is not
// deleted; an error of the status store is returned as is (the upload is
// kept and announced later).
func (in *intake) discardIfDeleted(ctx context.Context, id string) error {
	if in.status == nil {
		return nil
	}
	_, deleted, err := in.status.Owner(ctx, id)
	switch {
	case errors.Is(err, projection.ErrNotFound) || (err == nil && !deleted):
		return nil
	case err != nil:
		return unavailable(codeDatabaseUnavailable, "the status store is unavailable; the upload is kept, try again later", err)
	}
	for _, p := range []string{strings.TrimSuffix(contract.SourceKey(id), "source"), tusupload.ObjectsPrefix(id)} {
		if err := in.objects.RemovePrefix(ctx, p); err != nil {
			in.log.WarnContext(ctx, "discard the upload of a deleted video", "video_id", id, "err", err)
		}
	}
	in.log.InfoContext(ctx, "upload of a deleted video discarded", "video_id", id)
	return errUploadDeleted
}

// pendingDeletesPrefix holds one JSON object per DELETE whose video.deleted
// is being published or could not be published:
// pending/deletes/{id}.json (a contract.VideoDeleted). The recovery sweep
// publishes it again (resendDeletes), so that a delete answered 503 whose
// client never retries is completed all the same.
const pendingDeletesPrefix = "pending/deletes/"

func pendingDeleteKey(id string) string { return pendingDeletesPrefix + id + ".json" }

// resendDeletes publishes video.deleted again for every pending delete
// marker older than minAge (older than a publish can still be running)
// and removes the marker once Kafka acknowledged. The event is the same
// (its ce_id is derived from the video id), so an extra copy is a
// recognizable duplicate. It returns how many it settled.
func resendDeletes(ctx context.Context, log *slog.Logger, objects *storage.Store, pub *publish.Publisher, minAge time.Duration) (int, error) {
	infos, err := objects.List(ctx, pendingDeletesPrefix)
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, info := range infos {
		if time.Since(info.LastModified) < minAge || !strings.HasSuffix(info.Key, ".json") {
			continue
		}
		ev, err := readPendingDelete(ctx, objects, info.Key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := pub.Publish(ctx, ev); err != nil {
			errs = append(errs, fmt.Errorf("video %s: publish video.deleted: %w", ev.VideoID, err))
			continue
		}
		if err := objects.Remove(ctx, info.Key); err != nil {
			errs = append(errs, err)
			continue
		}
		log.InfoContext(ctx, "pending delete announced", "video_id", ev.VideoID)
		n++
	}
	return n, errors.Join(errs...)
}

func readPendingDelete(ctx context.Context, objects *storage.Store, key string) (contract.VideoDeleted, error) {
	var ev contract.VideoDeleted
	rc, err := objects.Get(ctx, key)
	if err != nil {
		return ev, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(rc, 64<<10)); err != nil {
		return ev, fmt.Errorf("pending delete %s: %w", key, err)
	}
	if ev, err = contract.Decode[contract.VideoDeleted](buf.Bytes()); err != nil || pendingDeleteKey(ev.VideoID) != key {
		return ev, fmt.Errorf("pending delete %s: not a video.deleted of its id (%v)", key, err)
	}
	return ev, nil
}

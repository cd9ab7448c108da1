package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/upload-api/captions"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
	"github.com/vidpipe/vidpipe/services/upload-api/publish"
)

// Caption tracks: POST, GET /v1/videos/{id}/captions and DELETE
// /v1/videos/{id}/captions/{language}, for the video's owner. A track is
// a WebVTT (an SRT upload is converted) stored at
// contract.CaptionKey(id, language); the list of tracks (language, label,
// cue count) is the projection's table video_captions. One track per
// language: a second POST of a language replaces its track. The tracks
// are published into the video's HLS master (hlscaptions.go).

// maxCaptionTracks bounds the caption tracks of one video.
const maxCaptionTracks = 32

// captionView is one caption track as the API shows it.
type captionView struct {
	Language  string    `json:"language"`
	Label     string    `json:"label"`
	Cues      int       `json:"cues"`
	Bytes     int64     `json:"bytes"`
	UpdatedAt time.Time `json:"updated_at"`
	// URL is a presigned URL of the WebVTT, valid until URLsExpireAt.
	URL string `json:"url"`
}

// captionsAnswer is the body of GET /v1/videos/{id}/captions.
type captionsAnswer struct {
	VideoID      string        `json:"video_id"`
	Captions     []captionView `json:"captions"`
	URLsExpireAt time.Time     `json:"urls_expire_at"`
}

// captionAnswer is the body of a 201 or 200 to POST /v1/videos/{id}/captions.
type captionAnswer struct {
	VideoID      string      `json:"video_id"`
	Replaced     bool        `json:"replaced"`
	Caption      captionView `json:"caption"`
	URLsExpireAt time.Time   `json:"urls_expire_at"`
}

// captionStore serves the caption routes.
type captionStore struct {
	log     *slog.Logger
	o       Options
	objects *storage.Store
	status  *projection.Store
	// published announces a stored, replaced or removed track
	// (video.captions, captionsevent.go); nil: nothing is announced.
	published func(ctx context.Context, ev contract.VideoCaptions) error
}

// videoDuration is the duration of the video of st when known (ready), else 0.
func videoDuration(st projection.State) time.Duration {
	if st.Ready == nil || st.Ready.Media.DurationSeconds <= 0 || math.IsNaN(st.Ready.Media.DurationSeconds) {
		return 0
	}
	return time.Duration(st.Ready.Media.DurationSeconds * float64(time.Second))
}

// captionUpload is what a POST carries.
type captionUpload struct {
	data            []byte
	language, label string
}

// readCaptionUpload reads the body of a POST: multipart/form-data with the
// part "file" (and optionally "language", "label"), or the file itself as
// text/vtt, application/x-subrip (also text/srt, application/srt) or
// text/plain; the query's language and label apply to both (a form field
// wins).
func readCaptionUpload(r *http.Request) (captionUpload, error) {
	q := r.URL.Query()
	up := captionUpload{language: q.Get("language"), label: q.Get("label")}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mt = ""
	}
	tooLarge := func(err error) error {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, codeBodyTooLarge, "the body is larger than %d bytes", mbe.Limit)
		}
		return errorf(http.StatusBadRequest, codeBadRequest, "reading the body failed")
	}
	readFile := func(rd io.Reader) ([]byte, error) {
		b, err := io.ReadAll(io.LimitReader(rd, captions.MaxBytes+1))
		if err != nil {
			return nil, tooLarge(err)
		}
		if len(b) > captions.MaxBytes {
			return nil, errorf(http.StatusRequestEntityTooLarge, codeFileTooLarge, "the caption file is larger than %d bytes", captions.MaxBytes)
		}
		if len(b) == 0 {
			return nil, errorf(http.StatusBadRequest, codeEmptyFile, "the caption file is empty")
		}
		return b, nil
	}
	switch mt {
	case "text/vtt", "application/x-subrip", "text/srt", "application/srt", "text/plain":
		up.data, err = readFile(r.Body)
		return up, err
	case "multipart/form-data":
	default:
		return up, errorf(http.StatusUnsupportedMediaType, codeUnsupportedContent,
			"the body must be multipart/form-data with a part \"file\", or the caption file itself as text/vtt or application/x-subrip")
	}
	if params["boundary"] == "" {
		return up, errorf(http.StatusBadRequest, codeMalformedMultipart, "the multipart body has no boundary")
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	seenFile := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return up, tooLarge(err)
			}
			return up, errorf(http.StatusBadRequest, codeMalformedMultipart, "the multipart body is malformed")
		}
		switch name := part.FormName(); name {
		case "file":
			if seenFile {
				return up, errorf(http.StatusBadRequest, codeInvalidField, "more than one part \"file\"")
			}
			seenFile = true
			if up.data, err = readFile(part); err != nil {
				return up, err
			}
		case "language", "label":
			b, err := io.ReadAll(io.LimitReader(part, 1024+1))
			if err != nil {
				return up, tooLarge(err)
			}
			if len(b) > 1024 {
				return up, errorf(http.StatusBadRequest, codeFieldTooLarge, "field %q is longer than 1024 bytes", name)
			}
			if name == "language" {
				up.language = string(b)
			} else {
				up.label = string(b)
			}
		default:
			return up, errorf(http.StatusBadRequest, codeUnknownField, "unknown field %q (file, language, label)", truncateRunes(name, 64))
		}
	}
	if !seenFile {
		return up, errorf(http.StatusBadRequest, codeMissingFile, "the part \"file\" (the WebVTT or SRT) is missing")
	}
	return up, nil
}

// checkLabel validates a track label: UTF-8, 1 to captions.MaxLabelLen
// characters, no control characters; "" gives the language.
func checkLabel(label, language string) (string, error) {
	label = strings.TrimSpace(label)
	if label == "" {
		return language, nil
	}
	if !utf8.ValidString(label) {
		return "", errorf(http.StatusBadRequest, codeInvalidField, "label is not UTF-8")
	}
	if n := utf8.RuneCountInString(label); n > captions.MaxLabelLen {
		return "", errorf(http.StatusBadRequest, codeInvalidField, "label is %d characters long, more than %d", n, captions.MaxLabelLen)
	}
	for _, r := range label {
		if unicode.IsControl(r) || r == '"' || contract.UnsafeTextRune(r) {
			return "", errorf(http.StatusBadRequest, codeInvalidField, "label must not contain control or invisible formatting characters or double quotes")
		}
	}
	return label, nil
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// view returns c with a presigned URL valid for ttl.
func (cs *captionStore) view(ctx context.Context, id string, c projection.Caption, ttl time.Duration) (captionView, error) {
	u, err := cs.objects.PresignGet(ctx, contract.CaptionKey(id, c.Language), ttl)
	if err != nil {
		return captionView{}, unavailable(codeStorageUnavailable, "object storage is unavailable", err)
	}
	return captionView{Language: c.Language, Label: c.Label, Cues: c.Cues, Bytes: c.Bytes, UpdatedAt: c.UpdatedAt, URL: u}, nil
}

// ownedVideo returns the state of owner's video id, or an API error.
func ownedVideo(ctx context.Context, status *projection.Store, owner, id string) (projection.State, error) {
	if !contract.IsUUID(id) {
		return projection.State{}, errNotFound
	}
	st, err := status.Get(ctx, owner, id)
	if errors.Is(err, projection.ErrNotFound) {
		return st, errNotFound
	}
	if err != nil {
		return st, unavailable(codeDatabaseUnavailable, "the status store is unavailable", err)
	}
	return st, nil
}

// handlePostCaption serves POST /v1/videos/{id}/captions: 201 with the new
// track, 200 when it replaced the track of its language. Validation
// (4xx, JSON reason): the body's type and size (captions.MaxBytes), the
// language (BCP 47 syntax, required), the label (at most
// captions.MaxLabelLen characters), the file (captions.Parse: UTF-8,
// well-formed timestamps in order, each cue ending after it starts and,
// once the video is ready, within its duration), at most
// maxCaptionTracks tracks per video (409).
func handlePostCaption(cs *captionStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, log := r.Context(), cs.log
		id, owner := r.PathValue("id"), ownerFrom(r.Context())
		st, err := ownedVideo(ctx, cs.status, owner, id)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		up, err := readCaptionUpload(r)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		lang, err := captions.Language(strings.TrimSpace(up.language))
		if err != nil {
			writeError(w, r, log, errorf(http.StatusBadRequest, codeInvalidField, "%s", err.Error()))
			return
		}
		label, err := checkLabel(up.label, lang)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		track, err := captions.Parse(up.data, videoDuration(st))
		if err != nil {
			writeError(w, r, log, errorf(http.StatusUnprocessableEntity, codeInvalidCaptions, "%s", err.Error()))
			return
		}
		ev := captionsEvent(owner, id, lang, label, track)
		if err := checkCaptionsEvent(ev); err != nil {
			writeError(w, r, log, err)
			return
		}
		existing, err := cs.status.Captions(ctx, id)
		if err != nil {
			writeError(w, r, log, unavailable(codeDatabaseUnavailable, "the status store is unavailable", err))
			return
		}
		if len(existing) >= maxCaptionTracks && !hasLanguage(existing, lang) {
			writeError(w, r, log, errorf(http.StatusConflict, codeConflict, "the video has %d caption tracks already, the most it may have; delete one first", len(existing)))
			return
		}
		vtt := track.WebVTT()
		if _, err := cs.objects.Put(ctx, contract.CaptionKey(id, lang), bytes.NewReader(vtt), int64(len(vtt)), "text/vtt; charset=utf-8"); err != nil {
			writeError(w, r, log, unavailable(codeStorageUnavailable, "object storage is unavailable; the caption track was not stored", err))
			return
		}
		c := projection.Caption{Language: lang, Label: label, Cues: len(track.Cues), Bytes: int64(len(vtt)), End: track.End()}
		updatedAt, replaced, err := cs.status.PutCaption(ctx, owner, id, c)
		if err != nil {
			if errors.Is(err, projection.ErrNotFound) { // deleted meanwhile
				if rerr := cs.objects.Remove(context.WithoutCancel(ctx), contract.CaptionKey(id, lang)); rerr != nil {
					log.WarnContext(ctx, "captions: remove the track of a deleted video", "video_id", id, "err", rerr)
				}
				writeError(w, r, log, errNotFound)
				return
			}
			writeError(w, r, log, unavailable(codeDatabaseUnavailable, "the status store is unavailable; send the caption track again", err))
			return
		}
		c.UpdatedAt = updatedAt
		if cs.published != nil {
			ev.UpdatedAt = updatedAt
			if err := cs.published(ctx, ev); err != nil {
				writeError(w, r, log, unavailable(codeBrokerUnavailable, "the caption track is stored, but search will not find it until it is sent again", err))
				return
			}
		}
		ttl := cs.o.PresignExpiry
		v, err := cs.view(ctx, id, c, ttl)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		code := http.StatusCreated
		if replaced {
			code = http.StatusOK
		}
		w.Header().Set("Location", cs.o.link("/v1/videos/"+id+"/captions"))
		log.InfoContext(ctx, "caption track stored", "video_id", id, "language", lang, "cues", c.Cues, "replaced", replaced)
		writeJSON(w, code, captionAnswer{VideoID: id, Replaced: replaced, Caption: v, URLsExpireAt: time.Now().Add(ttl).UTC().Truncate(time.Second)})
	})
}

func hasLanguage(cs []projection.Caption, lang string) bool {
	for _, c := range cs {
		if c.Language == lang {
			return true
		}
	}
	return false
}

// handleListCaptions serves GET /v1/videos/{id}/captions: the video's
// tracks by language, each with a presigned URL of its WebVTT.
func handleListCaptions(cs *captionStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, log := r.Context(), cs.log
		id := r.PathValue("id")
		if _, err := ownedVideo(ctx, cs.status, ownerFrom(ctx), id); err != nil {
			writeError(w, r, log, err)
			return
		}
		tracks, err := cs.status.Captions(ctx, id)
		if err != nil {
			writeError(w, r, log, unavailable(codeDatabaseUnavailable, "the status store is unavailable", err))
			return
		}
		ttl := cs.o.PresignExpiry
		out := captionsAnswer{VideoID: id, Captions: []captionView{}, URLsExpireAt: time.Now().Add(ttl).UTC().Truncate(time.Second)}
		for _, c := range tracks {
			v, err := cs.view(ctx, id, c, ttl)
			if err != nil {
				writeError(w, r, log, err)
				return
			}
			out.Captions = append(out.Captions, v)
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// handleDeleteCaption serves DELETE /v1/videos/{id}/captions/{language}:
// 204 once the track is gone (404 when there is none; the language is
// matched in any case: en-us names the track en-US).
func handleDeleteCaption(cs *captionStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, log := r.Context(), cs.log
		id, owner := r.PathValue("id"), ownerFrom(ctx)
		if _, err := ownedVideo(ctx, cs.status, owner, id); err != nil {
			writeError(w, r, log, err)
			return
		}
		lang, err := captions.Language(r.PathValue("language"))
		if err != nil {
			writeError(w, r, log, errorf(http.StatusNotFound, codeNotFound, "caption track not found"))
			return
		}
		var announce func(at time.Time) error
		if cs.published != nil {
			announce = func(at time.Time) error {
				return cs.published(ctx, contract.VideoCaptions{SchemaVersion: contract.SchemaVersion, VideoID: id, Owner: owner,
					Language: lang, ObjectKey: contract.CaptionKey(id, lang), Deleted: true, UpdatedAt: at})
			}
		}
		if err := cs.status.DeleteCaption(ctx, owner, id, lang, announce); err != nil {
			if errors.Is(err, projection.ErrNotFound) {
				writeError(w, r, log, errorf(http.StatusNotFound, codeNotFound, "caption track not found"))
				return
			}
			var pe *publish.Error
			if errors.As(err, &pe) {
				writeError(w, r, log, unavailable(codeBrokerUnavailable, "the broker is unavailable; the caption track was not deleted, try again later", err))
				return
			}
			writeError(w, r, log, unavailable(codeDatabaseUnavailable, "the status store is unavailable", err))
			return
		}
		ctx = context.WithoutCancel(ctx)
		if err := cs.objects.Remove(ctx, contract.CaptionKey(id, lang)); err != nil {
			// The row is gone, so nothing serves the object; the
			// video's delete removes it at the latest.
			log.WarnContext(ctx, "captions: remove the WebVTT of a deleted track", "video_id", id, "language", lang, "err", err)
		}
		log.InfoContext(ctx, "caption track deleted", "video_id", id, "language", lang)
		w.WriteHeader(http.StatusNoContent)
	})
}

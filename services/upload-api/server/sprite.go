package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// The sprite WebVTT (thumbnails.sprite_vtt_key) maps time ranges to tiles
// of the sprite sheet with cues such as "sprite.jpg#xywh=0,0,160,90",
// relative to the VTT. Through a presigned URL of the VTT such a reference
// resolves to an unsigned storage URL, which storage refuses. So the API
// serves the VTT itself at /v1/videos/{id}/thumbnails/sprite.vtt, signed
// like the HLS playlists (the same exp/sig/g query) or with the owner's
// bearer token, and rewrites each cue's image reference into an absolute
// presigned URL of the image, keeping its "#xywh=" fragment.

// maxSpriteVTTBytes bounds the VTT read from storage.
const maxSpriteVTTBytes = 4 << 20

func spriteVTTPath(id string) string { return "/v1/videos/" + id + "/thumbnails/sprite.vtt" }

// spriteVTTURL is the signed API URL of video id's sprite VTT, output
// generation gen, valid until expires.
func (o Options) spriteVTTURL(id string, gen int, expires time.Time) string {
	return o.link(spriteVTTPath(id) + "?" + signHLSGeneration(o.SigningKey, id, gen, expires))
}

// handleSpriteVTT serves GET /v1/videos/{id}/thumbnails/sprite.vtt: the
// sprite WebVTT of the served output generation of a ready video, each
// cue's image reference rewritten to an absolute presigned URL (valid
// until the signed URL's expiry, or PresignExpiry with a token) that keeps
// its "#xywh=x,y,w,h" fragment. Authorised by a valid exp/sig query (as
// the HLS URLs: 403 when invalid or expired), or else by a bearer token of
// the owner (401 without either). A query of another generation than the
// one served, a video without a sprite, someone else's or a missing video:
// 404. A cue whose reference is not one of the video's own thumbnail
// objects (another video's, an absolute URL, a path leaving the thumbnail
// directory) is dropped, never signed.
func handleSpriteVTT(log *slog.Logger, o Options, auth *Auth, objects *storage.Store, status *projection.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id := r.PathValue("id")
		if !contract.IsUUID(id) {
			writeError(w, r, log, errNotFound)
			return
		}
		q := r.URL.Query()
		gen, genOK := hlsGeneration(q)
		if !genOK {
			writeError(w, r, log, errNotFound)
			return
		}
		var (
			expires time.Time
			owner   string
		)
		if q.Has("sig") {
			if !verifyHLS(o.SigningKey, id, q, time.Now()) {
				writeError(w, r, log, errorf(http.StatusForbidden, codeForbidden, "the sprite URL is invalid or expired"))
				return
			}
			n, _ := strconv.ParseInt(q.Get("exp"), 10, 64)
			expires = time.Unix(n, 0)
			var deleted bool
			var err error
			owner, deleted, err = status.Owner(ctx, id)
			if err != nil && !errors.Is(err, projection.ErrNotFound) {
				writeError(w, r, log, unavailable(codeDatabaseUnavailable, "the status store is unavailable", err))
				return
			}
			if err != nil || deleted {
				writeError(w, r, log, errNotFound)
				return
			}
		} else {
			token, ok := bearerToken(r)
			user, known := auth.User(token)
			if !ok || !known {
				writeError(w, r, log, errorf(http.StatusUnauthorized, codeUnauthorized, "a bearer token or a signed URL is required").
					WithHeader("WWW-Authenticate", `Bearer realm="vidpipe"`))
				return
			}
			owner = user
			expires = time.Now().Add(o.PresignExpiry)
			if !q.Has("g") {
				gen = -1 // the served generation, whichever it is
			}
		}
		st, err := status.Get(ctx, owner, id)
		if err != nil {
			if !errors.Is(err, projection.ErrNotFound) {
				writeError(w, r, log, unavailable(codeDatabaseUnavailable, "the status store is unavailable", err))
				return
			}
			writeError(w, r, log, errNotFound)
			return
		}
		doc := st.Ready
		if doc == nil || st.Status == projection.StatusFailed || doc.Thumbnails.SpriteVTTKey == "" || (gen >= 0 && doc.Generation != gen) {
			writeError(w, r, log, errorf(http.StatusNotFound, codeNotFound, "this video has no sprite preview (of this generation)"))
			return
		}
		vttKey := doc.Thumbnails.SpriteVTTKey
		if !contract.VideoOwnsKey(id, vttKey) {
			writeError(w, r, log, fmt.Errorf("sprite vtt of %s: refusing %q: not an object of this video", id, vttKey))
			return
		}
		raw, err := readObject(ctx, objects, vttKey, maxSpriteVTTBytes)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		if len(raw) > maxSpriteVTTBytes {
			writeError(w, r, log, fmt.Errorf("sprite vtt %s is larger than %d bytes", vttKey, maxSpriteVTTBytes))
			return
		}
		ttl := time.Until(expires)
		thumbs := contract.Outputs{VideoID: id, Generation: doc.Generation}.ThumbnailPrefix()
		out, dropped, err := rewriteSpriteVTT(raw, path.Dir(vttKey), thumbs, func(key string) (string, error) {
			return objects.PresignGet(ctx, key, ttl)
		})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		if dropped > 0 {
			log.WarnContext(ctx, "sprite vtt: cues dropped: their image is not one of the video's thumbnail objects",
				"video_id", id, "key", vttKey, "dropped", dropped)
		}
		writePlayerDoc(w, "text/vtt; charset=utf-8", "private, max-age=30", out)
	})
}

// rewriteSpriteVTT rewrites the cue payloads of a sprite WebVTT that lives
// in directory dir: a payload line that is a relative image reference
// ("sprite.jpg#xywh=0,0,160,90") resolving to a key under prefix (the
// video's thumbnail directory) becomes presign(key) with the same
// fragment. A cue whose reference resolves elsewhere (or is absolute) is
// dropped whole and counted in dropped. Header, timing and NOTE lines are
// kept as they are. Each key is presigned once.
func rewriteSpriteVTT(raw []byte, dir, prefix string, presign func(key string) (string, error)) (out []byte, dropped int, err error) {
	signed := map[string]string{}
	resolve := func(ref string) (string, bool, error) {
		refPath, frag, _ := strings.Cut(strings.TrimSpace(ref), "#")
		u, err := url.Parse(refPath)
		if err != nil || u.IsAbs() || u.Host != "" || u.Path == "" || strings.HasPrefix(u.Path, "/") || u.RawQuery != "" {
			return "", false, nil
		}
		key := path.Join(dir, u.Path)
		if !strings.HasPrefix(key, prefix) || strings.ContainsAny(key, "\\\x00") || strings.Contains(key[len(prefix):], "..") {
			return "", false, nil
		}
		s, ok := signed[key]
		if !ok {
			if s, err = presign(key); err != nil {
				return "", false, err
			}
			signed[key] = s
		}
		if frag != "" {
			s += "#" + frag
		}
		return s, true, nil
	}
	var buf bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64<<10), maxSpriteVTTBytes)
	// A block is the lines between blank lines: the header, a NOTE/STYLE/
	// REGION block, or a cue (optional identifier, timing line, payload).
	var block []string
	flush := func() error {
		defer func() { block = block[:0] }()
		if len(block) == 0 {
			return nil
		}
		timing := -1
		for i, l := range block {
			if strings.Contains(l, "-->") {
				timing = i
				break
			}
		}
		isCue := timing >= 0 && !strings.HasPrefix(block[0], "WEBVTT") && !strings.HasPrefix(block[0], "NOTE")
		if isCue {
			for i := timing + 1; i < len(block); i++ {
				if strings.TrimSpace(block[i]) == "" {
					continue
				}
				s, ok, err := resolve(block[i])
				if err != nil {
					return err
				}
				if !ok {
					dropped++
					return nil
				}
				block[i] = s
			}
		}
		if buf.Len() > 0 {
			buf.WriteByte('\n')
		}
		for _, l := range block {
			buf.WriteString(l)
			buf.WriteByte('\n')
		}
		return nil
	}
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			if err := flush(); err != nil {
				return nil, 0, err
			}
			continue
		}
		block = append(block, line)
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("read sprite vtt: %w", err)
	}
	if err := flush(); err != nil {
		return nil, 0, err
	}
	return buf.Bytes(), dropped, nil
}

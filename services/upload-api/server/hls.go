package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// Serving HLS through presigned URLs alone does not work: a master
// playlist fetched from a presigned URL refers to its media playlists and
// segments by relative paths, which a player resolves to unsigned URLs.
// So the API serves the playlists itself at /v1/videos/{id}/hls/{path},
// rewriting each reference: a playlist reference keeps pointing at the API
// with the same signature, a segment (or init section, key, ...) reference
// becomes a presigned storage URL. The master URL the API hands out is
// signed (HMAC of the video id and an expiry), so players that cannot send
// an Authorization header (Safari, <video src>) can play it; with a bearer
// token instead, the caller must own the ready video.

// maxPlaylistBytes bounds one line of a playlist; the whole playlist is
// bounded by api.hls_max_playlist_bytes (LimitOptions.MaxPlaylistBytes).
const maxPlaylistBytes = 4 << 20

func hlsPath(id, p string) string { return "/v1/videos/" + id + "/hls/" + p }

// signHLS returns the query (exp=...&sig=...) that authorises reading the
// HLS playlists of video id until expires (output generation 0).
func signHLS(key []byte, id string, expires time.Time) string {
	return signHLSGeneration(key, id, 0, expires)
}

// signHLSGeneration returns the query that authorises reading the HLS
// playlists of output generation gen of video id until expires: for
// generation 0 "exp=...&sig=..." (as before generations existed), for gen
// > 0 "g=N&exp=...&sig=..." with N signed too. Playlist references keep
// the whole query, so a player stays on the generation it started with.
func signHLSGeneration(key []byte, id string, gen int, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	if gen <= 0 {
		return "exp=" + exp + "&sig=" + hlsMAC(key, id, exp)
	}
	g := strconv.Itoa(gen)
	return "g=" + g + "&exp=" + exp + "&sig=" + hlsMAC(key, id, exp+"\x00g"+g)
}

func hlsMAC(key []byte, id, exp string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("vidpipe-hls\x00" + id + "\x00" + exp))
	return hex.EncodeToString(m.Sum(nil))
}

// hlsGeneration reads the output generation of a playlist query: its "g"
// (a positive integer without leading zeros), 0 without one; ok is false
// for a malformed one.
func hlsGeneration(q url.Values) (gen int, ok bool) {
	if !q.Has("g") {
		return 0, true
	}
	s := q.Get("g")
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > contract.MaxGeneration || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}

// verifyHLS checks a signed query for video id (and its generation, "g").
func verifyHLS(key []byte, id string, q url.Values, now time.Time) bool {
	exp, sig := q.Get("exp"), q.Get("sig")
	n, err := strconv.ParseInt(exp, 10, 64)
	gen, ok := hlsGeneration(q)
	if err != nil || !ok || now.Unix() > n {
		return false
	}
	signed := exp
	if gen > 0 {
		signed += "\x00g" + strconv.Itoa(gen)
	}
	want := hlsMAC(key, id, signed)
	return hmac.Equal([]byte(want), []byte(sig))
}

// cleanHLSPath validates the {path...} of a playlist request: a relative
// path inside the video's HLS prefix that names a .m3u8 file.
func cleanHLSPath(p string) (string, bool) {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") || !strings.HasSuffix(p, ".m3u8") {
		return "", false
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "", false
		}
	}
	c := path.Clean(p)
	if c != p || c == ".." || strings.HasPrefix(c, "../") {
		return "", false
	}
	return c, true
}

// handleHLS serves GET /v1/videos/{id}/hls/{path...}: a playlist of a
// playable video (video.playable reached: status playable or later) with
// its references rewritten (see above), of the output generation the
// query names ("g", signed with the rest; none: generation 0), so that a
// player keeps the package it started with while a reprocess makes the
// next one. Authorised by a valid exp/sig
// query, or else by a bearer token of the owner. While the video is being
// transcoded its media playlists are HLS EVENT playlists that grow as
// segments land: those are served with Cache-Control no-cache and never
// kept in the playlist cache (see playlistFinal).
func handleHLS(log *slog.Logger, o Options, lim *Limits, auth *Auth, objects *storage.Store, status *projection.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id := r.PathValue("id")
		p, ok := cleanHLSPath(r.PathValue("path"))
		vttLang, isVTT := captionSegmentLanguage(r.PathValue("path")) // hlscaptions.go
		if !contract.IsUUID(id) || (!ok && !isVTT) {
			writeError(w, r, log, errNotFound)
			return
		}
		gen, expires, ok := authorizePackage(w, r, log, o, auth, status, id, func(st projection.State) bool {
			// Playable (video.playable) or later.
			return st.Ready != nil || st.HLSMasterKey != ""
		})
		if !ok {
			return
		}
		// Caption tracks (hlscaptions.go): a subtitle playlist is made
		// here, the master lists the tracks.
		if lang, ok := captionPlaylistLanguage(p); ok {
			serveSubtitlePlaylist(w, r, log, status, id, lang, signHLSGeneration(o.SigningKey, id, gen, expires))
			return
		}
		if isVTT {
			serveCaptionSegment(w, r, log, objects, status, id, vttLang, contract.Outputs{VideoID: id, Generation: gen}.HLSPrefix())
			return
		}
		var tracks []projection.Caption
		if p == "master.m3u8" {
			var err error
			if tracks, err = status.Captions(ctx, id); err != nil {
				writeError(w, r, log, unavailable(codeDatabaseUnavailable, "the status store is unavailable", err))
				return
			}
		}
		// The output generation's package (generation 0: videos/{id}/hls/).
		hlsPrefix := contract.Outputs{VideoID: id, Generation: gen}.HLSPrefix()
		cacheKey := playlistKey(id, "g"+strconv.Itoa(gen)+"/"+p+captionsFingerprint(tracks), expires)
		if out, ok := lim.playlists.get(cacheKey, time.Now()); ok {
			writePlaylist(w, out)
			return
		}
		maxBytes := lim.opts.MaxPlaylistBytes
		raw, err := readObject(ctx, objects, hlsPrefix+p, maxBytes)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		if int64(len(raw)) > maxBytes {
			writeError(w, r, log, fmt.Errorf("playlist %s of %s is larger than %d bytes", p, id, maxBytes))
			return
		}
		sig := signHLSGeneration(o.SigningKey, id, gen, expires)
		ttl := time.Until(expires)
		out, err := rewritePlaylist(raw, path.Dir(p), sig, func(key string) (string, error) {
			return objects.PresignGet(ctx, hlsPrefix+key, ttl)
		})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		out = addCaptionsToMaster(out, tracks, sig)
		if int64(len(out)) > maxBytes {
			writeError(w, r, log, fmt.Errorf("rewritten playlist %s of %s is larger than %d bytes", p, id, maxBytes))
			return
		}
		if playlistFinal(out) {
			lim.playlists.put(cacheKey, out, expires, time.Now())
		}
		writePlaylist(w, out)
	})
}

// authorizePackage authorises a request for the streaming package (HLS
// playlists, the DASH manifest) of video id: a valid exp/sig query (with
// its output generation "g"), or else a bearer token of the owner whose
// video is not failed and for which available(state) holds. It answers
// the request itself when it is refused (ok false). expires is when the
// URLs written into the answer expire: the signed query's expiry, or for
// a bearer request the presign expiry rounded up to a minute boundary (so
// that the rewritten document is cached for a minute of bearer requests,
// see playlistCache).
func authorizePackage(w http.ResponseWriter, r *http.Request, log *slog.Logger, o Options, auth *Auth, status *projection.Store,
	id string, available func(projection.State) bool) (gen int, expires time.Time, ok bool) {
	q := r.URL.Query()
	gen, genOK := hlsGeneration(q)
	if !genOK {
		writeError(w, r, log, errNotFound)
		return 0, time.Time{}, false
	}
	if q.Has("sig") {
		if !verifyHLS(o.SigningKey, id, q, time.Now()) {
			writeError(w, r, log, errorf(http.StatusForbidden, "forbidden", "the playlist URL is invalid or expired"))
			return 0, time.Time{}, false
		}
		n, _ := strconv.ParseInt(q.Get("exp"), 10, 64)
		return gen, time.Unix(n, 0), true
	}
	token, tokOK := bearerToken(r)
	user, known := auth.User(token)
	if !tokOK || !known {
		writeError(w, r, log, errorf(http.StatusUnauthorized, codeUnauthorized, "a bearer token or a signed URL is required").
			WithHeader("WWW-Authenticate", `Bearer realm="vidpipe"`))
		return 0, time.Time{}, false
	}
	st, err := status.Get(r.Context(), user, id)
	if err != nil || !available(st) || st.Status == projection.StatusFailed {
		if err != nil && !errors.Is(err, projection.ErrNotFound) {
			writeError(w, r, log, unavailable(codeDatabaseUnavailable, "the status store is unavailable", err))
			return 0, time.Time{}, false
		}
		writeError(w, r, log, errNotFound)
		return 0, time.Time{}, false
	}
	return gen, time.Now().Add(o.PresignExpiry).Truncate(time.Minute).Add(time.Minute), true
}

// writePlaylist answers with playlist out: cacheable by the client for 30
// s when it no longer changes (playlistFinal), else (a growing EVENT
// playlist) to be revalidated on every poll.
func writePlaylist(w http.ResponseWriter, out []byte) {
	cache := "private, max-age=30"
	if !playlistFinal(out) {
		cache = "private, no-cache"
	}
	writePlayerDoc(w, "application/vnd.apple.mpegurl", cache, out)
}

// writePlayerDoc answers with body, a document a player fetches (a
// playlist, an MPD, a WebVTT): its content type and cache policy, readable
// from any origin (players on other sites fetch it with CORS), not sniffed.
func writePlayerDoc(w http.ResponseWriter, contentType, cacheControl string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", cacheControl)
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(body)
}

var uriAttr = regexp.MustCompile(`URI="([^"]*)"`)

// rewritePlaylist rewrites the references of an m3u8 playlist that lives
// at dir (relative to the HLS prefix): references to other playlists stay
// relative and get the signature query sig; other references inside the
// HLS prefix become presign(key). Absolute URLs and references that leave
// the prefix are dropped (a URI line is removed, a URI attribute emptied),
// so nothing outside the video's package is ever signed.
func rewritePlaylist(raw []byte, dir, sig string, presign func(key string) (string, error)) ([]byte, error) {
	var out bytes.Buffer
	var firstErr error
	rewrite := func(ref string) (string, bool) {
		u, target, ok := packageRef(dir, ref)
		if !ok {
			return "", false
		}
		if strings.HasSuffix(target, ".m3u8") {
			// Re-encoded from the decoded path: an escaped scheme or
			// host ("https%3a//elsewhere/x.m3u8") stays a relative path
			// (URL.String prefixes "./" to a first segment with a colon)
			// and never becomes a link, carrying sig, to another site.
			return (&url.URL{Path: u.Path, RawQuery: sig}).String(), true
		}
		s, err := presign(target)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return "", false
		}
		return s, true
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64<<10), maxPlaylistBytes)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "#"):
			line = uriAttr.ReplaceAllStringFunc(line, func(m string) string {
				ref := uriAttr.FindStringSubmatch(m)[1]
				if s, ok := rewrite(ref); ok {
					return `URI="` + s + `"`
				}
				return `URI=""`
			})
		default:
			s, ok := rewrite(line)
			if !ok {
				continue
			}
			line = s
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read playlist: %w", err)
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return out.Bytes(), nil
}

// packageRef resolves reference ref of a document at dir (relative to
// the package's root: "" or "." for the root) to the path of its target
// inside the package; ok is false for an absolute URL, a rooted path, an
// empty one, or one that leaves the package (the query is not looked at).
func packageRef(dir, ref string) (u *url.URL, target string, ok bool) {
	u, err := url.Parse(strings.TrimSpace(ref))
	if err != nil || u.IsAbs() || u.Host != "" || u.Path == "" || strings.HasPrefix(u.Path, "/") {
		return nil, "", false
	}
	target = path.Join(dir, u.Path)
	if target == ".." || strings.HasPrefix(target, "../") || strings.ContainsAny(target, "\\\x00") {
		return nil, "", false
	}
	return u, target, true
}

// readObject reads up to max+1 bytes of object key (so that a caller can
// tell an object over max from one of max bytes), as API errors: a
// missing object is errNotFound, any other storage failure 503.
func readObject(ctx context.Context, objects *storage.Store, key string, max int64) ([]byte, error) {
	rc, err := objects.Get(ctx, key)
	if err == nil {
		defer rc.Close()
		var raw []byte
		if raw, err = io.ReadAll(io.LimitReader(rc, max+1)); err == nil {
			return raw, nil
		}
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errNotFound
	}
	return nil, unavailable(codeStorageUnavailable, "object storage is unavailable", err)
}

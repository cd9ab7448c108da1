package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/upload-api/captions"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// Caption tracks in HLS. When a video has caption tracks, the API adds to
// the master playlist it serves (of every output generation) one
//
//	#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="<label>",LANGUAGE="<tag>",DEFAULT=NO,AUTOSELECT=YES,URI="captions/<tag>.m3u8?<signature>"
//
// per track, before the first variant, and SUBTITLES="subs" to each
// #EXT-X-STREAM-INF. It serves each track's subtitle media playlist at
// hls/captions/<tag>.m3u8 under the same signature (or bearer token): a
// VOD playlist of one segment, hls/captions/<tag>.vtt (same signature), as
// long as the video (or the track, if that ends later), which also is its
// #EXT-X-TARGETDURATION. The segment is the track's WebVTT with an
// X-TIMESTAMP-MAP (serveCaptionSegment): the API serves it rather than a
// presigned URL because the map depends on the package's first MPEG-TS
// timestamp. Caption tracks are not per generation: every generation's
// master lists the same ones.

// captionGroup is the GROUP-ID of the subtitle renditions.
const captionGroup = "subs"

// captionPlaylistPrefix is where, relative to the HLS prefix, the subtitle
// media playlists are served (never read from storage).
const captionPlaylistPrefix = "captions/"

// captionPlaylistLanguage returns the language of a subtitle playlist path
// ("captions/en-US.m3u8"); ok is false for any other path.
func captionPlaylistLanguage(p string) (string, bool) { return captionPathLanguage(p, ".m3u8") }

// captionSegmentLanguage returns the language of a subtitle segment path
// ("captions/en-US.vtt"); ok is false for any other path.
func captionSegmentLanguage(p string) (string, bool) { return captionPathLanguage(p, ".vtt") }

// captionPathLanguage returns the language of "captions/<tag><ext>" when
// tag is a BCP 47 tag in canonical case.
func captionPathLanguage(p, ext string) (string, bool) {
	rest, ok := strings.CutPrefix(p, captionPlaylistPrefix)
	if !ok {
		return "", false
	}
	tag, ok := strings.CutSuffix(rest, ext)
	if !ok {
		return "", false
	}
	lang, err := captions.Language(tag)
	if err != nil || lang != tag {
		return "", false
	}
	return lang, true
}

// captionsFingerprint identifies a set of tracks for the playlist cache
// ("" for none): a changed track changes the cached master's key.
func captionsFingerprint(tracks []projection.Caption) string {
	if len(tracks) == 0 {
		return ""
	}
	var b strings.Builder
	for _, t := range tracks {
		b.WriteString("|" + t.Language + "@" + strconv.FormatInt(t.UpdatedAt.UnixNano(), 36))
	}
	return b.String()
}

// addCaptionsToMaster adds the tracks to master playlist out (see above);
// sig is the signature query of the master request.
func addCaptionsToMaster(out []byte, tracks []projection.Caption, sig string) []byte {
	if len(tracks) == 0 {
		return out
	}
	var media bytes.Buffer
	names := map[string]bool{}
	for _, t := range tracks {
		name := strings.ReplaceAll(t.Label, `"`, "'")
		if names[name] {
			name += " (" + t.Language + ")"
		}
		names[name] = true
		fmt.Fprintf(&media, "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=%q,NAME=\"%s\",LANGUAGE=\"%s\",DEFAULT=NO,AUTOSELECT=YES,URI=\"%s%s.m3u8?%s\"\n",
			captionGroup, name, t.Language, captionPlaylistPrefix, t.Language, sig)
	}
	var b bytes.Buffer
	inserted := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), maxPlaylistBytes)
	for sc.Scan() {
		line := sc.Text()
		if attrs, ok := strings.CutPrefix(line, "#EXT-X-STREAM-INF:"); ok {
			if !inserted {
				b.Write(media.Bytes())
				inserted = true
			}
			if !strings.Contains(attrs, "SUBTITLES=") {
				line += `,SUBTITLES="` + captionGroup + `"`
			}
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	if !inserted { // no variant: nothing refers to the group
		return out
	}
	return b.Bytes()
}

// subtitlePlaylist returns the media playlist of track t of a video of
// the given duration (0: unknown), whose one segment is vttURL.
func subtitlePlaylist(t projection.Caption, duration time.Duration, vttURL string) []byte {
	d := max(duration, t.End, time.Second)
	target := int64(math.Ceil(d.Seconds()))
	var b bytes.Buffer
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n", target)
	fmt.Fprintf(&b, "#EXTINF:%.3f,\n%s\n#EXT-X-ENDLIST\n", d.Seconds(), vttURL)
	return b.Bytes()
}

// captionTrack returns the track of language of video id (ErrNotFound
// when it has none) and the video's duration (0 when not known yet).
func captionTrack(ctx context.Context, status *projection.Store, id, language string) (projection.Caption, time.Duration, error) {
	tracks, err := status.Captions(ctx, id)
	if err != nil {
		return projection.Caption{}, 0, err
	}
	for _, t := range tracks {
		if t.Language != language {
			continue
		}
		owner, deleted, err := status.Owner(ctx, id)
		if err != nil {
			return projection.Caption{}, 0, err
		}
		if deleted {
			return projection.Caption{}, 0, projection.ErrNotFound
		}
		st, err := status.Get(ctx, owner, id)
		if err != nil {
			return projection.Caption{}, 0, err
		}
		return t, videoDuration(st), nil
	}
	return projection.Caption{}, 0, projection.ErrNotFound
}

// serveSubtitlePlaylist answers the subtitle media playlist of the track
// of language of video id (the request is authorised already): its one
// segment is captions/<language>.vtt under the same signature sig
// (serveCaptionSegment).
func serveSubtitlePlaylist(w http.ResponseWriter, r *http.Request, log *slog.Logger, status *projection.Store, id, language, sig string) {
	ctx := r.Context()
	t, duration, err := captionTrack(ctx, status, id, language)
	if err != nil {
		writeCaptionTrackError(w, r, log, err)
		return
	}
	writePlaylist(w, subtitlePlaylist(t, duration, t.Language+".vtt?"+sig))
}

func writeCaptionTrackError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if errors.Is(err, projection.ErrNotFound) {
		writeError(w, r, log, errorf(http.StatusNotFound, codeNotFound, "caption track not found"))
		return
	}
	writeError(w, r, log, unavailable(codeDatabaseUnavailable, "the status store is unavailable", err))
}

// serveCaptionSegment answers the subtitle segment of the track of
// language of video id (authorised already): the stored WebVTT with an
// X-TIMESTAMP-MAP header that maps its time 0 to the MPEG-TS timestamp at
// which the package under hlsPrefix starts (firstPTS), so that cues show
// with the frames they belong to. When that cannot be read (no segment
// yet), the WebVTT is served as stored.
func serveCaptionSegment(w http.ResponseWriter, r *http.Request, log *slog.Logger, objects *storage.Store, status *projection.Store, id, language, hlsPrefix string) {
	ctx := r.Context()
	t, _, err := captionTrack(ctx, status, id, language)
	if err != nil {
		writeCaptionTrackError(w, r, log, err)
		return
	}
	vtt, err := readSmall(ctx, objects, contract.CaptionKey(id, t.Language), captions.MaxBytes+1)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			writeError(w, r, log, errorf(http.StatusNotFound, codeNotFound, "caption track not found"))
			return
		}
		writeError(w, r, log, unavailable(codeStorageUnavailable, "object storage is unavailable", err))
		return
	}
	if pts, err := firstPTS(ctx, objects, hlsPrefix); err == nil {
		vtt = withTimestampMap(vtt, pts)
	} else {
		log.DebugContext(ctx, "captions: no package start for X-TIMESTAMP-MAP", "video_id", id, "err", err)
	}
	writePlayerDoc(w, "text/vtt; charset=utf-8", "private, max-age=30", vtt)
}

// withTimestampMap adds "X-TIMESTAMP-MAP=MPEGTS:<pts>,LOCAL:00:00:00.000"
// after the WEBVTT line of vtt (as stored: captions.Track.WebVTT).
func withTimestampMap(vtt []byte, pts int64) []byte {
	first, rest, _ := bytes.Cut(vtt, []byte("\n"))
	var b bytes.Buffer
	b.Write(first)
	fmt.Fprintf(&b, "\nX-TIMESTAMP-MAP=MPEGTS:%d,LOCAL:00:00:00.000\n", pts)
	b.Write(rest)
	return b.Bytes()
}

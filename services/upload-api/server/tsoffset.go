package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/vidpipe/vidpipe/platform/storage"
)

// The subtitle segments of a video's HLS package need the timestamp (90
// kHz, "MPEGTS") at which the video starts: an HLS client maps a WebVTT
// cue time of 0 to timestamp 0 unless the WebVTT says otherwise (RFC 8216
// 3.5, X-TIMESTAMP-MAP). A CMAF package starts at 0 (fmp4offset.go); the
// MPEG-TS packages written before it started at 10 s plus the muxer's
// delay. firstPTS reads it from the package itself: the first segment of
// the master's first variant.

// maxTSProbeBytes bounds what firstPTS reads of a segment.
const maxTSProbeBytes = 256 << 10

// firstPTS returns where the first segment of the first variant of the
// HLS package under hlsPrefix starts, in 90 kHz units: the smallest PES
// presentation timestamp in its first bytes (MPEG-TS), or its first
// sample's presentation time (fMP4, with the EXT-X-MAP init).
func firstPTS(ctx context.Context, objects *storage.Store, hlsPrefix string) (int64, error) {
	master, err := readSmall(ctx, objects, hlsPrefix+"master.m3u8", maxPlaylistBytes)
	if err != nil {
		return 0, err
	}
	variant := firstURI(master, "#EXT-X-STREAM-INF:")
	if variant == "" {
		return 0, fmt.Errorf("master playlist has no variant")
	}
	media, err := readSmall(ctx, objects, hlsPrefix+variant, maxPlaylistBytes)
	if err != nil {
		return 0, err
	}
	seg := firstURI(media, "#EXTINF:")
	if seg == "" {
		return 0, fmt.Errorf("media playlist %s has no segment yet", variant)
	}
	key := path.Join(hlsPrefix+path.Dir(variant), seg)
	if !strings.HasPrefix(key, hlsPrefix) {
		return 0, fmt.Errorf("segment %q leaves the package", seg)
	}
	ts, err := readSmall(ctx, objects, key, maxTSProbeBytes)
	if err != nil && len(ts) == 0 {
		return 0, err
	}
	if len(ts) > 0 && ts[0] == 0x47 {
		return tsFirstPTS(ts)
	}
	// A CMAF (fMP4) package (fmp4offset.go): the timescale is in the
	// initialization section the playlist names in EXT-X-MAP.
	initURI := mapURI(media)
	if initURI == "" {
		return 0, fmt.Errorf("media playlist %s: segment %s is not MPEG-TS and there is no EXT-X-MAP", variant, seg)
	}
	initKey := path.Join(hlsPrefix+path.Dir(variant), initURI)
	if !strings.HasPrefix(initKey, hlsPrefix) {
		return 0, fmt.Errorf("initialization section %q leaves the package", initURI)
	}
	init, err := readSmall(ctx, objects, initKey, maxTSProbeBytes)
	if err != nil {
		return 0, err
	}
	return fmp4FirstPTS(init, ts)
}

// mapURI returns the URI of the first EXT-X-MAP tag of a media playlist
// (without any query), "" when there is none or it is absolute.
func mapURI(playlist []byte) string {
	for line := range strings.SplitSeq(string(playlist), "\n") {
		attrs, ok := strings.CutPrefix(strings.TrimSpace(line), "#EXT-X-MAP:")
		if !ok {
			continue
		}
		m := uriAttr.FindStringSubmatch(attrs)
		if m == nil {
			return ""
		}
		u, _, _ := strings.Cut(m[1], "?")
		if strings.Contains(u, "://") || strings.HasPrefix(u, "/") || strings.Contains(u, "..") {
			return ""
		}
		return u
	}
	return ""
}

// readSmall reads at most max bytes of object key (a longer object is cut).
func readSmall(ctx context.Context, objects *storage.Store, key string, max int64) ([]byte, error) {
	rc, err := objects.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, max))
}

// firstURI returns the URI line after the first tag line starting with
// tag (without any query), "" when there is none or it is absolute.
func firstURI(playlist []byte, tag string) string {
	sc := bufio.NewScanner(bytes.NewReader(playlist))
	sc.Buffer(make([]byte, 64<<10), maxPlaylistBytes)
	after := false
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(l, tag):
			after = true
		case l == "" || strings.HasPrefix(l, "#"):
		case after:
			u, _, _ := strings.Cut(l, "?")
			if strings.Contains(u, "://") || strings.HasPrefix(u, "/") || strings.Contains(u, "..") {
				return ""
			}
			return u
		}
	}
	return ""
}

// tsFirstPTS returns the smallest PTS of the PES packets that start in
// the MPEG-TS bytes ts.
func tsFirstPTS(ts []byte) (int64, error) {
	const packet = 188
	best := int64(-1)
	for off := 0; off+packet <= len(ts); off += packet {
		p := ts[off : off+packet]
		if p[0] != 0x47 {
			return 0, fmt.Errorf("not MPEG-TS (no sync byte at %d)", off)
		}
		if p[1]&0x40 == 0 { // payload_unit_start_indicator
			continue
		}
		i := 4
		switch p[3] & 0x30 >> 4 { // adaptation_field_control
		case 1:
		case 3:
			i += 1 + int(p[4])
		default:
			continue
		}
		if i+14 > packet || p[i] != 0 || p[i+1] != 0 || p[i+2] != 1 {
			continue // not a PES start (a PSI table)
		}
		if p[i+7]&0x80 == 0 { // PTS_DTS_flags: no PTS
			continue
		}
		b := p[i+9:]
		pts := int64(b[0]>>1&0x07)<<30 | int64(b[1])<<22 | int64(b[2]>>1)<<15 | int64(b[3])<<7 | int64(b[4]>>1)
		if best < 0 || pts < best {
			best = pts
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("no PES timestamp in the first %d bytes", len(ts))
	}
	return best, nil
}

package e2e_test

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/Eyevinn/dash-mpd/mpd"
	"github.com/grafov/m3u8"

	"github.com/vidpipe/vidpipe/dev/harness"
)

// checkPackage checks the streaming package of ready document doc as a
// player sees it through the API (no token: the signed URLs):
//
//   - stock parsers read it: the HLS master and every media playlist
//     (grafov/m3u8: a VOD playlist with EXT-X-MAP, closed), the MPD
//     (Eyevinn/dash-mpd: static, one video Representation per rendition,
//     each with codecs, an Initialization and a SegmentList);
//   - the MPD and the HLS playlists reference the same objects: per
//     rendition the same init section and the same segments, in order;
//   - ffprobe plays both over HTTP and reads the same video frames, at the
//     document's duration.
func checkPackage(t *testing.T, doc map[string]any) {
	t.Helper()
	masterURL, manifestURL := str(doc, "hls", "master_url"), str(doc, "dash", "manifest_url")
	if masterURL == "" || manifestURL == "" {
		t.Fatalf("ready document without hls.master_url or dash.manifest_url: %v", doc)
	}
	renditions, _ := doc["renditions"].([]any)

	// HLS: master, then every media playlist, by stock parser.
	master, typ := decodeM3U8(t, masterURL)
	if typ != m3u8.MASTER {
		t.Fatalf("hls.master_url is not a master playlist")
	}
	mp := master.(*m3u8.MasterPlaylist)
	base, _ := url.Parse(masterURL)
	hlsObjects := map[string][]string{} // resolution → init + segment object paths
	for _, v := range mp.Variants {
		ref, err := url.Parse(v.URI)
		if err != nil {
			t.Fatal(err)
		}
		pl, typ := decodeM3U8(t, base.ResolveReference(ref).String())
		media, ok := pl.(*m3u8.MediaPlaylist)
		if typ != m3u8.MEDIA || !ok || media.Map == nil || !media.Closed || media.MediaType != m3u8.VOD && media.MediaType != m3u8.EVENT || media.Count() == 0 {
			t.Fatalf("variant %s: not a closed fMP4 media playlist (map %v, closed %v, %d segments)", v.URI, media.Map, media.Closed, media.Count())
		}
		objs := []string{objectPath(t, media.Map.URI)}
		for _, s := range media.Segments[:media.Count()] {
			objs = append(objs, objectPath(t, s.URI))
		}
		hlsObjects[v.Resolution] = objs
	}
	if len(mp.Variants) < len(renditions) {
		t.Fatalf("master lists %d variants for %d renditions", len(mp.Variants), len(renditions))
	}

	// DASH: the MPD, by stock parser; the same objects as HLS.
	code, body := get(t, manifestURL)
	if code != http.StatusOK {
		t.Fatalf("GET dash.manifest_url: %d %s", code, body)
	}
	m, err := mpd.MPDFromBytes(body)
	if err != nil {
		t.Fatalf("dash-mpd cannot parse the MPD: %v\n%s", err, body)
	}
	if m.GetType() != mpd.STATIC_TYPE || len(m.Periods) != 1 || m.MediaPresentationDuration == nil {
		t.Fatalf("MPD: type %s, %d periods, duration %v", m.GetType(), len(m.Periods), m.MediaPresentationDuration)
	}
	videoReps := 0
	for _, a := range m.Periods[0].AdaptationSets {
		for _, r := range a.Representations {
			mime := r.MimeType
			if mime == "" {
				mime = a.MimeType
			}
			if !strings.HasPrefix(mime, "video/") {
				continue
			}
			videoReps++
			codecs := r.Codecs
			if codecs == "" {
				codecs = a.Codecs
			}
			if codecs == "" || r.SegmentList == nil || r.SegmentList.Initialization == nil {
				t.Fatalf("video representation %s: codecs %q, segment list %+v", r.Id, codecs, r.SegmentList)
			}
			objs := []string{objectPath(t, string(r.SegmentList.Initialization.SourceURL))}
			for _, s := range r.SegmentList.SegmentURL {
				objs = append(objs, objectPath(t, string(s.Media)))
			}
			res := strconv.Itoa(int(r.Width)) + "x" + strconv.Itoa(int(r.Height))
			if want := hlsObjects[res]; strings.Join(objs, " ") != strings.Join(want, " ") {
				t.Errorf("representation %s (%s) references %v; the HLS variant of that size %v", r.Id, res, objs, want)
			}
		}
	}
	if videoReps != len(renditions) {
		t.Errorf("MPD has %d video representations for %d renditions", videoReps, len(renditions))
	}

	// Both play, with the same frames, at the document's duration.
	dur, _ := field(doc, "media", "duration_seconds").(float64)
	hlsFrames := probeFrames(t, masterURL, dur)
	// ffmpeg 5.1's DASH demuxer cuts segment URLs longer than the
	// manifest URL: pad the manifest URL (the API ignores the parameter).
	dashFrames := probeFrames(t, manifestURL+"&pad="+strings.Repeat("p", 2048), dur)
	if hlsFrames == 0 || hlsFrames != dashFrames {
		t.Errorf("ffprobe read %d video frames through HLS and %d through DASH", hlsFrames, dashFrames)
	}
}

// probeFrames counts the video frames ffprobe reads from u (a master
// playlist or an MPD: the first video stream), and checks its audio and
// its duration against dur (seconds, ±0.2).
func probeFrames(t *testing.T, u string, dur float64) int {
	t.Helper()
	out, err := exec.Command(harness.MustTool(t, "ffprobe"), "-v", "error", "-count_frames", "-of", "json",
		"-show_entries", "stream=codec_type,nb_read_frames:format=duration", u).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v: %s", u, err, out)
	}
	var p struct {
		Streams []struct {
			CodecType  string `json:"codec_type"`
			ReadFrames string `json:"nb_read_frames"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe output: %v: %s", err, out)
	}
	frames, audio := 0, false
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			if frames == 0 {
				frames, _ = strconv.Atoi(s.ReadFrames)
			}
		case "audio":
			audio = true
		}
	}
	d, _ := strconv.ParseFloat(p.Format.Duration, 64)
	if !audio || frames == 0 || math.Abs(d-dur) > 0.2 {
		t.Errorf("ffprobe %s: %d video frames, audio %v, duration %.3f s (document: %.3f s)", u, frames, audio, d, dur)
	}
	return frames
}

func decodeM3U8(t *testing.T, u string) (m3u8.Playlist, m3u8.ListType) {
	t.Helper()
	code, body := get(t, u)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, code, body)
	}
	pl, typ, err := m3u8.DecodeFrom(bytes.NewReader(body), true)
	if err != nil {
		t.Fatalf("m3u8 cannot parse %s: %v\n%s", u, err, body)
	}
	return pl, typ
}

// objectPath is the path of a presigned storage URL (the object's key
// under its bucket), the signature removed.
func objectPath(t *testing.T, ref string) string {
	t.Helper()
	u, err := url.Parse(ref)
	if err != nil || !u.IsAbs() || u.Query().Get("X-Amz-Signature") == "" {
		t.Fatalf("reference %q is not a presigned storage URL", ref)
	}
	return u.Path
}

func get(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp.StatusCode, b
}

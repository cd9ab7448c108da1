package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/dash-mpd/mpd"
	"github.com/grafov/m3u8"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// cmafFixture is a real CMAF package made by ffmpeg's dash muxer (3 s of
// testsrc at 25 fps with B-frames, and a sine; 1 s fMP4 segments): a
// static MPD with SegmentList references and HLS playlists (EXT-X-MAP)
// over the same segment files, all in dir.
func cmafFixture(tb testing.TB) (dir string) {
	tb.Helper()
	dir = tb.TempDir()
	cmd := exec.Command(harness.MustTool(tb, "ffmpeg"), "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc=size=320x180:rate=25:duration=3",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=3",
		"-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
		"-f", "dash", "-use_template", "0", "-use_timeline", "0", "-seg_duration", "1", "-hls_playlist", "1",
		filepath.Join(dir, "manifest.mpd"))
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("ffmpeg dash: %v: %s", err, out)
	}
	// ffmpeg's segment files are numbered from 1 and its MPD says
	// startNumber="1", which ffmpeg 5.1's own DASH demuxer takes as an
	// index into the SegmentList: it skips the first segment (50 of 75
	// frames). startNumber only matters to templates; transcode's MPD
	// does not write it.
	mpdFile := filepath.Join(dir, "manifest.mpd")
	b, err := os.ReadFile(mpdFile)
	if err == nil {
		err = os.WriteFile(mpdFile, bytes.ReplaceAll(b, []byte(` startNumber="1"`), nil), 0o644)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// mustReadyCMAF takes an uploaded video to ready with cmafFixture's
// package stored where transcode writes its package (the HLS master at
// hls/master.m3u8, the MPD at hls/manifest.mpd, the rest next to them),
// and dash.manifest_key on its events. It returns the fixture's dir.
func (e *env) mustReadyCMAF(tb testing.TB, up contract.VideoUploaded) string {
	tb.Helper()
	id := up.VideoID
	dir := cmafFixture(tb)
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		e.put(tb, contract.HLSPrefix(id)+filepath.Base(f), b, "application/octet-stream")
	}
	now := time.Now().UTC()
	rs := []contract.Rendition{{Name: "180p", Width: 320, Height: 180, Bitrate: 400000, Key: contract.RenditionKey(id, "180p"), Size: 1,
		PlaylistKey: contract.HLSPrefix(id) + "media_0.m3u8"}}
	tr := up.Transcoded(contract.Media{DurationSeconds: 3, Width: 320, Height: 180, Format: "mov,mp4", VideoCodec: "h264"}, rs,
		contract.HLS{MasterKey: contract.HLSMasterKey(id)}, now)
	tr.DASH = &contract.DASH{ManifestKey: up.Outputs().DASHManifestKey()}
	th := tr.Thumbnailed(contract.Thumbnails{
		Poster: contract.Image{Key: contract.ThumbnailPrefix(id) + "poster.jpg", Width: 320, Height: 180, Size: 1},
		Small:  contract.Image{Key: contract.ThumbnailPrefix(id) + "small.jpg", Width: 160, Height: 90, Size: 1},
	}, now)
	e.apply(tb, contract.TopicTranscoded, 0, tr)
	e.apply(tb, contract.TopicThumbnailed, 0, th)
	e.apply(tb, contract.TopicReady, 0, th.Ready(now))
	return dir
}

// ffprobeJSON runs ffprobe with args and decodes its JSON output.
func ffprobeJSON(tb testing.TB, v any, args ...string) {
	tb.Helper()
	out, err := exec.Command(harness.MustTool(tb, "ffprobe"), append([]string{"-v", "error", "-of", "json"}, args...)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("ffprobe %v: %v: %s", args, err, out)
	}
	if err := json.Unmarshal(out, v); err != nil {
		tb.Fatalf("ffprobe output: %v: %s", err, out)
	}
}

type probedStreams struct {
	Streams []struct {
		CodecType  string `json:"codec_type"`
		CodecName  string `json:"codec_name"`
		ReadFrames string `json:"nb_read_frames"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// TestDASHManifest: a ready video with a CMAF package has
// dash.manifest_url (and links.dash) in its status document; the API
// serves the MPD signed like the HLS master, every segment and
// initialization reference presigned (the stored bytes, no token needed),
// so that a stock parser (dash-mpd) reads it and ffprobe plays it over
// HTTP frame for frame; bearer tokens are checked like for HLS; caption
// tracks appear as WebVTT AdaptationSets.
func TestDASHManifest(t *testing.T) {
	e := mustEnv(t)
	up := e.mustUploadedEvent(t, aliceToken, "dash")
	id := up.VideoID
	dir := e.mustReadyCMAF(t, up)
	v := e.getView(t, id, aliceToken)
	if v.DASH == nil || v.Links["dash"] != v.DASH.ManifestURL || v.HLS == nil {
		t.Fatalf("view: dash %+v, links %v, hls %+v", v.DASH, v.Links, v.HLS)
	}
	manifestURL := e.URL + strings.TrimPrefix(v.DASH.ManifestURL, e.Opts.PublicURL)
	mu, _ := url.Parse(manifestURL)
	hu, _ := url.Parse(v.HLS.MasterURL)
	if mu.Path != dashPath(id) || mu.RawQuery != hu.RawQuery {
		t.Fatalf("manifest URL %s, want %s signed like the HLS master (%s)", manifestURL, dashPath(id), hu.RawQuery)
	}

	resp, err := http.Get(manifestURL) // no token: signed
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != dashContentType {
		t.Fatalf("GET manifest: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	m, err := mpd.MPDFromBytes(body.Bytes())
	if err != nil {
		t.Fatalf("dash-mpd cannot parse the served MPD: %v\n%s", err, body)
	}
	refs := 0
	for _, p := range m.Periods {
		for _, a := range p.AdaptationSets {
			for _, r := range a.Representations {
				// 3 s in 1 s segments: the audio's last AAC frames may make a fourth.
				if r.SegmentList == nil || r.SegmentList.Initialization == nil || len(r.SegmentList.SegmentURL) < 3 || len(r.SegmentList.SegmentURL) > 4 {
					t.Fatalf("representation %s: segment list %+v", r.Id, r.SegmentList)
				}
				check := []string{string(r.SegmentList.Initialization.SourceURL)}
				for _, s := range r.SegmentList.SegmentURL {
					check = append(check, string(s.Media))
				}
				for _, ref := range check {
					u, err := url.Parse(ref)
					if err != nil || !u.IsAbs() || u.Query().Get("X-Amz-Signature") == "" {
						t.Fatalf("reference %q is not a presigned URL", ref)
					}
					code, got := getURL(t, ref)
					want, err := os.ReadFile(filepath.Join(dir, filepath.Base(u.Path)))
					if err != nil || code != http.StatusOK || !bytes.Equal(got, want) {
						t.Fatalf("GET %s: %d, %d bytes; want the stored %s (%v)", ref, code, len(got), filepath.Base(u.Path), err)
					}
					refs++
				}
			}
		}
	}
	if refs < 8 {
		t.Fatalf("%d references checked, want at least 8 (2 representations × init + 3 segments)", refs)
	}

	// A stock player reads it over HTTP: both streams, every frame.
	var pr probedStreams
	// ffmpeg 5.1's DASH demuxer sizes its URL buffer from the manifest
	// URL's length (and BaseURLs'): a presigned segment URL longer than
	// that is cut ("invalid:truncated"). Other players have no such
	// limit; for ffprobe the manifest URL gets a padding parameter, which
	// the API ignores.
	padded := manifestURL + "&pad=" + strings.Repeat("p", 2048)
	ffprobeJSON(t, &pr, "-count_frames", "-show_entries", "stream=codec_type,codec_name,nb_read_frames:format=duration", padded)
	kinds := map[string]string{}
	for _, s := range pr.Streams {
		kinds[s.CodecType] = s.CodecName
		if s.CodecType == "video" && s.ReadFrames != "75" {
			t.Errorf("ffprobe read %s video frames through the MPD, want 75", s.ReadFrames)
		}
	}
	if kinds["video"] != "h264" || kinds["audio"] != "aac" {
		t.Fatalf("ffprobe streams through the MPD: %+v", pr)
	}

	// Bearer tokens, like HLS: the owner, not another user, not nobody; a
	// tampered signature is refused.
	if resp, b := e.do(t, http.MethodGet, dashPath(id), aliceToken, nil, nil); resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("<MPD")) {
		t.Errorf("alice's token: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, http.MethodGet, dashPath(id), bobToken, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob's token: %d, want 404", resp.StatusCode)
	}
	if code, _ := getURL(t, e.URL+dashPath(id)); code != http.StatusUnauthorized {
		t.Errorf("no token, no signature: %d, want 401", code)
	}
	q := mu.Query()
	q.Set("sig", strings.Repeat("0", len(q.Get("sig"))))
	if code, _ := getURL(t, e.URL+dashPath(id)+"?"+q.Encode()); code != http.StatusForbidden {
		t.Errorf("tampered signature: %d, want 403", code)
	}
	q = mu.Query()
	q.Set("exp", fmt.Sprint(time.Now().Add(-time.Minute).Unix()))
	if code, _ := getURL(t, e.URL+dashPath(id)+"?"+q.Encode()); code != http.StatusForbidden {
		t.Errorf("expired signature: %d, want 403", code)
	}

	// Caption tracks become WebVTT text AdaptationSets.
	if resp, b := e.postCaptionRaw(t, aliceToken, id, "text/vtt", "language=en&label=English", []byte(testVTT)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST caption: %d %s", resp.StatusCode, b)
	}
	code, b := getURL(t, manifestURL)
	if code != http.StatusOK {
		t.Fatalf("manifest with captions: %d %s", code, b)
	}
	if m, err = mpd.MPDFromBytes(b); err != nil {
		t.Fatalf("parse the MPD with captions: %v\n%s", err, b)
	}
	var text *mpd.AdaptationSetType
	for _, a := range m.Periods[0].AdaptationSets {
		if a.ContentType == "text" {
			text = a
		}
	}
	if text == nil || text.Lang != "en" || text.MimeType != "text/vtt" || len(text.Labels) != 1 || text.Labels[0].Value != "English" ||
		len(text.Roles) != 1 || text.Roles[0].Value != "subtitle" || len(text.Representations) != 1 || len(text.Representations[0].BaseURLs) != 1 {
		t.Fatalf("caption adaptation set %+v\n%s", text, b)
	}
	code, vtt := getURL(t, string(text.Representations[0].BaseURLs[0].Value))
	if code != http.StatusOK || !strings.HasPrefix(string(vtt), "WEBVTT") || !strings.Contains(string(vtt), "-->") {
		t.Fatalf("caption track through the MPD: %d %q", code, vtt)
	}
}

// TestDASHAbsentForMPEGTSOutputs: a video transcoded before the package
// was CMAF (no dash.manifest_key) shows no dash in its status document,
// and its manifest URL answers 404.
func TestDASHAbsentForMPEGTSOutputs(t *testing.T) {
	e := mustEnv(t)
	up := e.mustUploadedEvent(t, aliceToken, "ts only")
	e.mustReadyHLS(t, up)
	id := up.VideoID
	v := e.getView(t, id, aliceToken)
	if v.DASH != nil || v.Links["dash"] != "" || v.HLS == nil {
		t.Fatalf("view of an MPEG-TS output: dash %+v links %v", v.DASH, v.Links)
	}
	if resp, _ := e.do(t, http.MethodGet, dashPath(id), aliceToken, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("manifest of an MPEG-TS output (token): %d, want 404", resp.StatusCode)
	}
	hu, _ := url.Parse(v.HLS.MasterURL)
	if code, _ := getURL(t, e.URL+dashPath(id)+"?"+hu.RawQuery); code != http.StatusNotFound {
		t.Errorf("manifest of an MPEG-TS output (signed): %d, want 404", code)
	}
}

// TestCMAFThroughHLS: the HLS playlists of a CMAF package are served with
// their EXT-X-MAP rewritten (presigned), a stock parser reads them,
// ffprobe plays the master over HTTP, and a caption segment's
// X-TIMESTAMP-MAP maps cue time 0 to where the video's first fMP4 segment
// starts (as ffprobe reads it from the init section and that segment).
func TestCMAFThroughHLS(t *testing.T) {
	e := mustEnv(t)
	up := e.mustUploadedEvent(t, aliceToken, "cmaf hls")
	id := up.VideoID
	dir := e.mustReadyCMAF(t, up)
	v := e.getView(t, id, aliceToken)
	masterURL := e.URL + strings.TrimPrefix(v.HLS.MasterURL, e.Opts.PublicURL)
	base, _ := url.Parse(masterURL)
	code, variant := getURL(t, e.URL+hlsPath(id, "media_0.m3u8")+"?"+base.RawQuery)
	if code != http.StatusOK {
		t.Fatalf("media playlist: %d %s", code, variant)
	}
	pl, typ, err := m3u8.DecodeFrom(bytes.NewReader(variant), true)
	if err != nil || typ != m3u8.MEDIA {
		t.Fatalf("decode media playlist: %v\n%s", err, variant)
	}
	media := pl.(*m3u8.MediaPlaylist)
	if media.Map == nil || media.Count() != 3 {
		t.Fatalf("media playlist: map %+v, %d segments\n%s", media.Map, media.Count(), variant)
	}
	if u, err := url.Parse(media.Map.URI); err != nil || !u.IsAbs() || u.Query().Get("X-Amz-Signature") == "" {
		t.Fatalf("EXT-X-MAP URI %q is not presigned", media.Map.URI)
	}
	var pr probedStreams
	ffprobeJSON(t, &pr, "-show_entries", "stream=codec_type,codec_name:format=duration", masterURL)
	kinds := map[string]string{}
	for _, s := range pr.Streams {
		kinds[s.CodecType] = s.CodecName
	}
	if kinds["video"] != "h264" || kinds["audio"] != "aac" {
		t.Fatalf("ffprobe streams through the HLS master: %+v", pr)
	}

	// Where the first video segment starts, as ffprobe reads it.
	init, _ := os.ReadFile(filepath.Join(dir, "init-stream0.m4s"))
	seg, _ := os.ReadFile(filepath.Join(dir, "chunk-stream0-00001.m4s"))
	first := filepath.Join(t.TempDir(), "first.mp4")
	if err := os.WriteFile(first, append(init, seg...), 0o644); err != nil {
		t.Fatal(err)
	}
	var start struct {
		Packets []struct {
			PTS int64 `json:"pts"`
		} `json:"packets"`
		Streams []struct {
			TimeBase string `json:"time_base"`
		} `json:"streams"`
	}
	ffprobeJSON(t, &start, "-select_streams", "v:0", "-show_entries", "packet=pts:stream=time_base", first)
	var num, den int64
	if len(start.Streams) != 1 || len(start.Packets) == 0 {
		t.Fatalf("ffprobe of the first segment: %+v", start)
	}
	if _, err := fmt.Sscanf(start.Streams[0].TimeBase, "%d/%d", &num, &den); err != nil {
		t.Fatalf("time base %q: %v", start.Streams[0].TimeBase, err)
	}
	minPTS := int64(math.MaxInt64)
	for _, p := range start.Packets {
		minPTS = min(minPTS, p.PTS)
	}
	wantPTS := minPTS * 90000 * num / den

	if resp, b := e.postCaptionRaw(t, aliceToken, id, "text/vtt", "language=en&label=English", []byte(testVTT)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST caption: %d %s", resp.StatusCode, b)
	}
	code, vtt := getURL(t, e.URL+hlsPath(id, "captions/en.vtt")+"?"+base.RawQuery)
	want := fmt.Sprintf("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:%d,LOCAL:00:00:00.000\n", wantPTS)
	if code != http.StatusOK || !strings.HasPrefix(string(vtt), want) {
		t.Fatalf("caption segment: %d %q, want it to start with %q", code, vtt, want)
	}
}

// TestRewriteManifestRefuses: an MPD the API cannot serve safely is an
// error, never a document that points outside the video's package:
// references that are absolute or leave the package, SegmentTemplate,
// dynamic MPDs; BaseURLs are removed.
func TestRewriteManifestRefuses(t *testing.T) {
	presign := func(key string) (string, error) {
		return "https://storage.example/pkg/" + key + "?X-Amz-Signature=s", nil
	}
	noCaptions := func(projection.Caption) (string, error) { return "", fmt.Errorf("no captions here") }
	mpdWith := func(attrs, rep string) []byte {
		return []byte(`<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" ` + attrs +
			` mediaPresentationDuration="PT2S" minBufferTime="PT2S"><BaseURL>https://elsewhere.example/</BaseURL><Period id="0">` +
			`<AdaptationSet contentType="video" mimeType="video/mp4"><Representation id="v" bandwidth="1000" codecs="avc1.64001f">` + rep +
			`</Representation></AdaptationSet></Period></MPD>`)
	}
	good := `<SegmentList timescale="1000" duration="2000"><Initialization sourceURL="360p/init.mp4"/><SegmentURL media="360p/seg_00000.m4s"/></SegmentList>`
	out, err := rewriteManifest(mpdWith(`type="static"`, good), presign, noCaptions, nil)
	if err != nil {
		t.Fatalf("good MPD: %v", err)
	}
	if bytes.Contains(out, []byte("elsewhere")) || !bytes.Contains(out, []byte(`sourceURL="https://storage.example/pkg/360p/init.mp4?X-Amz-Signature=s"`)) ||
		!bytes.Contains(out, []byte(`media="https://storage.example/pkg/360p/seg_00000.m4s?X-Amz-Signature=s"`)) {
		t.Fatalf("rewritten MPD:\n%s", out)
	}
	for name, doc := range map[string][]byte{
		"dynamic":         mpdWith(`type="dynamic"`, good),
		"escaping":        mpdWith(`type="static"`, strings.Replace(good, "360p/seg_00000.m4s", "../../other/hls/360p/seg_00000.m4s", 1)),
		"absolute":        mpdWith(`type="static"`, strings.Replace(good, "360p/init.mp4", "https://evil.example/init.mp4", 1)),
		"rooted":          mpdWith(`type="static"`, strings.Replace(good, "360p/init.mp4", "/videos/x/init.mp4", 1)),
		"query":           mpdWith(`type="static"`, strings.Replace(good, "360p/init.mp4", "360p/init.mp4?x=1", 1)),
		"segmenttemplate": mpdWith(`type="static"`, `<SegmentTemplate media="360p/seg_$Number%05d$.m4s" initialization="360p/init.mp4"/>`),
		"not xml":         []byte("#EXTM3U\n"),
	} {
		if out, err := rewriteManifest(doc, presign, noCaptions, nil); err == nil {
			t.Errorf("%s: served\n%s", name, out)
		}
	}
}

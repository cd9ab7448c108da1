package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafov/m3u8"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/services/upload-api/captions"
)

// mustReadyHLS takes an uploaded video to ready with a real HLS package
// made by ffmpeg (lavfi testsrc + sine, 3 s, one 320x180 MPEG-TS rung)
// stored where transcode writes it.
func (e *env) mustReadyHLS(tb testing.TB, up contract.VideoUploaded) contract.VideoReady {
	tb.Helper()
	id := up.VideoID
	dir := tb.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "180p"), 0o755); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(harness.MustTool(tb, "ffmpeg"), "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc=size=320x180:rate=25:duration=3",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=3",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
		"-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod",
		"-hls_segment_filename", filepath.Join(dir, "180p", "seg_%05d.ts"), filepath.Join(dir, "180p", "index.m3u8"))
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("ffmpeg HLS: %v: %s", err, out)
	}
	master := "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=320x180,CODECS=\"avc1.42c00d,mp4a.40.2\"\n180p/index.m3u8\n"
	e.put(tb, contract.HLSMasterKey(id), []byte(master), "application/vnd.apple.mpegurl")
	files, _ := filepath.Glob(filepath.Join(dir, "180p", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		e.put(tb, contract.HLSPrefix(id)+"180p/"+filepath.Base(f), b, "application/octet-stream")
	}
	now := time.Now().UTC()
	rs := []contract.Rendition{{Name: "180p", Width: 320, Height: 180, Bitrate: 400000, Key: contract.RenditionKey(id, "180p"), Size: 1,
		PlaylistKey: contract.HLSPrefix(id) + "180p/index.m3u8"}}
	tr := up.Transcoded(contract.Media{DurationSeconds: 3, Width: 320, Height: 180, Format: "mov,mp4", VideoCodec: "h264"}, rs,
		contract.HLS{MasterKey: contract.HLSMasterKey(id)}, now)
	th := tr.Thumbnailed(contract.Thumbnails{
		Poster: contract.Image{Key: contract.ThumbnailPrefix(id) + "poster.jpg", Width: 320, Height: 180, Size: 1},
		Small:  contract.Image{Key: contract.ThumbnailPrefix(id) + "small.jpg", Width: 160, Height: 90, Size: 1},
	}, now)
	e.apply(tb, contract.TopicTranscoded, 0, tr)
	e.apply(tb, contract.TopicThumbnailed, 0, th)
	ready := th.Ready(now)
	e.apply(tb, contract.TopicReady, 0, ready)
	return ready
}

// postCaptionForm posts a caption file as multipart/form-data.
func (e *env) postCaptionForm(tb testing.TB, token, id string, fields map[string]string, file []byte) (*http.Response, []byte) {
	tb.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "captions.srt")
	_, _ = fw.Write(file)
	_ = mw.Close()
	return e.do(tb, http.MethodPost, "/v1/videos/"+id+"/captions", token, &body, map[string]string{"Content-Type": mw.FormDataContentType()})
}

func (e *env) postCaptionRaw(tb testing.TB, token, id, contentType, query string, file []byte) (*http.Response, []byte) {
	tb.Helper()
	return e.do(tb, http.MethodPost, "/v1/videos/"+id+"/captions?"+query, token, bytes.NewReader(file), map[string]string{"Content-Type": contentType})
}

func (e *env) listCaptions(tb testing.TB, token, id string) captionsAnswer {
	tb.Helper()
	resp, body := e.do(tb, http.MethodGet, "/v1/videos/"+id+"/captions", token, nil, nil)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET captions: %d %s", resp.StatusCode, body)
	}
	var a captionsAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		tb.Fatal(err)
	}
	return a
}

const (
	testSRT = "1\r\n00:00:00,000 --> 00:00:01,200\r\nHello <b>captions</b>\r\n\r\n2\r\n00:00:01,200 --> 00:00:02,500\r\nsecond cue\r\n"
	testVTT = "WEBVTT\n\n00:00.500 --> 00:02.000\nBonjour\n\n00:02.000 --> 00:03.000 line:90%\nau revoir\n"
)

// TestCaptionTracks: an SRT (multipart) and a WebVTT (raw body) become
// two tracks stored as WebVTT under the video's prefix; a second POST of
// a language replaces its track; GET lists them with presigned URLs that
// serve the normalized WebVTT; DELETE removes one, and deleting the video
// removes the rest (objects and rows).
func TestCaptionTracks(t *testing.T) {
	e := mustEnv(t)
	up := e.mustUploadedEvent(t, aliceToken, "captioned")
	e.mustReadyHLS(t, up)
	id := up.VideoID

	resp, body := e.postCaptionForm(t, aliceToken, id, map[string]string{"language": "en-us", "label": "English"}, []byte(testSRT))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST SRT: %d %s", resp.StatusCode, body)
	}
	var a captionAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	if a.Replaced || a.Caption.Language != "en-US" || a.Caption.Label != "English" || a.Caption.Cues != 2 {
		t.Fatalf("POST SRT = %s", body)
	}
	wantEN := "WEBVTT\n\n00:00:00.000 --> 00:00:01.200\nHello <b>captions</b>\n\n00:00:01.200 --> 00:00:02.500\nsecond cue\n"
	if got, info := e.object(t, contract.CaptionKey(id, "en-US")); string(got) != wantEN || !strings.HasPrefix(info.ContentType, "text/vtt") {
		t.Fatalf("stored en-US = %q (%s)", got, info.ContentType)
	}

	resp, body = e.postCaptionRaw(t, aliceToken, id, "text/vtt", "language=fr&label="+url.QueryEscape("Français (old)"), []byte(testVTT))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST VTT: %d %s", resp.StatusCode, body)
	}
	resp, body = e.postCaptionRaw(t, aliceToken, id, "text/vtt; charset=utf-8", "language=FR&label="+url.QueryEscape("Français"), []byte("\xef\xbb\xbf"+testVTT))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"replaced":true`) {
		t.Fatalf("POST VTT again: %d %s, want 200 replaced", resp.StatusCode, body)
	}

	list := e.listCaptions(t, aliceToken, id)
	if len(list.Captions) != 2 || list.Captions[0].Language != "en-US" || list.Captions[1].Language != "fr" || list.Captions[1].Label != "Français" {
		t.Fatalf("list = %+v", list)
	}
	code, got := getURL(t, list.Captions[1].URL)
	if code != http.StatusOK || !strings.HasPrefix(string(got), "WEBVTT\n") || !strings.Contains(string(got), "00:00:02.000 --> 00:00:03.000 line:90%\nau revoir") {
		t.Fatalf("GET fr url: %d %q", code, got)
	}
	if resp, _ := e.do(t, http.MethodGet, "/v1/videos/"+id+"/captions", bobToken, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob lists alice's captions: %d, want 404", resp.StatusCode)
	}
	if resp, _ := e.do(t, http.MethodDelete, "/v1/videos/"+id+"/captions/fr", bobToken, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob deletes alice's track: %d, want 404", resp.StatusCode)
	}

	if resp, body := e.do(t, http.MethodDelete, "/v1/videos/"+id+"/captions/FR", aliceToken, nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE fr: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do(t, http.MethodDelete, "/v1/videos/"+id+"/captions/fr", aliceToken, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("DELETE fr again: %d, want 404", resp.StatusCode)
	}
	if l := e.listCaptions(t, aliceToken, id); len(l.Captions) != 1 || l.Captions[0].Language != "en-US" {
		t.Fatalf("list after DELETE = %+v", l)
	}
	for _, k := range e.keys(t) {
		if k == contract.CaptionKey(id, "fr") {
			t.Errorf("%s still stored after DELETE", k)
		}
	}

	// Each change was announced to the indexer (video.captions), in order.
	var evs []contract.VideoCaptions
	for _, m := range e.Kafka.ReadAll(t, contract.TopicCaptions, 4, 10*time.Second) {
		ev, err := contract.Decode[contract.VideoCaptions](m.Value)
		if err != nil || string(m.Key) != id {
			t.Fatalf("video.captions record %s: %v", m.Key, err)
		}
		evs = append(evs, ev)
	}
	if len(evs) != 4 || evs[0].Language != "en-US" || len(evs[0].Cues) != 2 || evs[0].Cues[0].Text != "Hello captions" || evs[0].Cues[1].StartMS != 1200 ||
		evs[2].Language != "fr" || evs[2].Label != "Français" || !evs[3].Deleted || evs[3].Language != "fr" || !evs[3].UpdatedAt.After(evs[2].UpdatedAt) {
		t.Fatalf("video.captions events: %+v", evs)
	}

	// Deleting the video removes its caption tracks (upload-api's
	// video.deleted consumer).
	group := e.startLifecycleConsumer(t)
	if resp, body := e.do(t, http.MethodDelete, "/v1/videos/"+id, aliceToken, nil, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE video: %d %s", resp.StatusCode, body)
	}
	e.waitNoLag(t, group, contract.TopicDeleted)
	for _, k := range e.keys(t) {
		if strings.HasPrefix(k, contract.CaptionsPrefix(id)) {
			t.Errorf("%s still stored after the video was deleted", k)
		}
	}
	tracks, err := e.Status.Captions(context.Background(), id)
	if err != nil || len(tracks) != 0 {
		t.Errorf("caption rows after the video was deleted: %v, %v", tracks, err)
	}
	resp, body = e.postCaptionRaw(t, aliceToken, id, "text/vtt", "language=fr", []byte(testVTT))
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST to a deleted video: %d %s, want 404", resp.StatusCode, body)
	}
}

// TestCaptionValidation: every bad upload gets a 4xx with a JSON reason.
func TestCaptionValidation(t *testing.T) {
	e := mustEnv(t)
	up := e.mustUploadedEvent(t, aliceToken, "validated")
	e.mustReadyHLS(t, up) // 3 s long
	id := up.VideoID
	vtt := func(cues string) []byte { return []byte("WEBVTT\n\n" + cues) }
	tests := map[string]struct {
		ct, query string
		form      map[string]string // multipart when set
		file      []byte
		status    int
		code      string
		msg       string
	}{
		"no language":        {ct: "text/vtt", file: []byte(testVTT), status: 400, code: "invalid_field", msg: "language is required"},
		"bad language":       {ct: "text/vtt", query: "language=en_US", file: []byte(testVTT), status: 400, code: "invalid_field", msg: "not a BCP 47 tag"},
		"long label":         {ct: "text/vtt", query: "language=en&label=" + strings.Repeat("é", captions.MaxLabelLen+1), file: []byte(testVTT), status: 400, code: "invalid_field", msg: "characters long"},
		"control in label":   {ct: "text/vtt", query: "language=en&label=a%0Ab", file: []byte(testVTT), status: 400, code: "invalid_field", msg: "control or invisible"},
		"wrong type":         {ct: "application/json", query: "language=en", file: []byte(testVTT), status: 415, code: "unsupported_content_type", msg: "text/vtt"},
		"empty":              {ct: "text/vtt", query: "language=en", file: []byte{}, status: 400, code: "empty_file", msg: "empty"},
		"too large":          {ct: "text/vtt", query: "language=en", file: vtt(strings.Repeat("x", captions.MaxBytes)), status: 413, code: "file_too_large", msg: "larger than"},
		"not utf-8":          {ct: "text/vtt", query: "language=en", file: vtt("00:00.000 --> 00:01.000\n\xff\n"), status: 422, code: "invalid_captions", msg: "UTF-8"},
		"bad timestamp":      {ct: "text/vtt", query: "language=en", file: vtt("00:00:01 --> 00:00:02.000\nx\n"), status: 422, code: "invalid_captions", msg: "line 3: start timestamp"},
		"end before start":   {ct: "application/x-subrip", query: "language=en", file: []byte("1\n00:00:02,000 --> 00:00:01,000\nx\n"), status: 422, code: "invalid_captions", msg: "line 2: the cue ends"},
		"out of order":       {ct: "text/vtt", query: "language=en", file: vtt("00:01.000 --> 00:02.000\na\n\n00:00.500 --> 00:02.000\nb\n"), status: 422, code: "invalid_captions", msg: "must be in order"},
		"past the video":     {ct: "text/vtt", query: "language=en", file: vtt("00:01.000 --> 00:09.000\na\n"), status: 422, code: "invalid_captions", msg: "ends after the video"},
		"no cues":            {ct: "text/vtt", query: "language=en", file: []byte("WEBVTT\n"), status: 422, code: "invalid_captions", msg: "no cues"},
		"multipart no file":  {form: map[string]string{"language": "en"}, status: 400, code: "missing_file"},
		"multipart unknown":  {form: map[string]string{"language": "en", "kind": "x"}, file: []byte(testVTT), status: 400, code: "unknown_field"},
		"multipart bad lang": {form: map[string]string{"language": "e"}, file: []byte(testVTT), status: 400, code: "invalid_field"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var resp *http.Response
			var body []byte
			switch {
			case tc.form != nil && tc.file == nil:
				var b bytes.Buffer
				mw := multipart.NewWriter(&b)
				for k, v := range tc.form {
					_ = mw.WriteField(k, v)
				}
				_ = mw.Close()
				resp, body = e.do(t, http.MethodPost, "/v1/videos/"+id+"/captions", aliceToken, &b, map[string]string{"Content-Type": mw.FormDataContentType()})
			case tc.form != nil:
				resp, body = e.postCaptionForm(t, aliceToken, id, tc.form, tc.file)
			default:
				resp, body = e.postCaptionRaw(t, aliceToken, id, tc.ct, tc.query, tc.file)
			}
			var eb errorBody
			_ = json.Unmarshal(body, &eb)
			if resp.StatusCode != tc.status || eb.Error.Code != tc.code || !strings.Contains(eb.Error.Message, tc.msg) {
				t.Fatalf("%d %s; want %d %s containing %q", resp.StatusCode, body, tc.status, tc.code, tc.msg)
			}
		})
	}
	if l := e.listCaptions(t, aliceToken, id); len(l.Captions) != 0 {
		t.Fatalf("a refused upload left a track: %+v", l)
	}
	if resp, _ := e.postCaptionRaw(t, bobToken, id, "text/vtt", "language=en", []byte(testVTT)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob posts to alice's video: %d, want 404", resp.StatusCode)
	}
}

// TestCaptionsInHLS: with two tracks, the signed master lists them as
// SUBTITLES renditions of group "subs" that every variant names; each
// subtitle playlist is a VOD playlist of one presigned WebVTT segment
// whose target duration covers the video; ffprobe opens the master and
// lists the subtitle streams beside video and audio.
func TestCaptionsInHLS(t *testing.T) {
	e := mustEnv(t)
	up := e.mustUploadedEvent(t, aliceToken, "hls captions")
	e.mustReadyHLS(t, up)
	id := up.VideoID
	v := e.getView(t, id, aliceToken)
	if v.HLS == nil {
		t.Fatal("no HLS in the view")
	}
	masterURL := e.URL + strings.TrimPrefix(v.HLS.MasterURL, e.Opts.PublicURL)

	// Before any track: the master is as stored (no SUBTITLES).
	code, master := getURL(t, masterURL)
	if code != http.StatusOK || bytes.Contains(master, []byte("SUBTITLES")) {
		t.Fatalf("master without captions: %d %s", code, master)
	}

	for _, c := range []struct{ q, file string }{{"language=en&label=English", testSRT}, {"language=fr&label=Fran%C3%A7ais", testVTT}} {
		if resp, body := e.postCaptionRaw(t, aliceToken, id, "application/x-subrip", c.q, []byte(c.file)); resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", c.q, resp.StatusCode, body)
		}
	}
	code, master = getURL(t, masterURL)
	if code != http.StatusOK {
		t.Fatalf("master: %d %s", code, master)
	}
	pl, typ, err := m3u8.DecodeFrom(bytes.NewReader(master), true)
	if err != nil || typ != m3u8.MASTER {
		t.Fatalf("decode master: %v (type %v)\n%s", err, typ, master)
	}
	mp := pl.(*m3u8.MasterPlaylist)
	if len(mp.Variants) != 1 || mp.Variants[0].Subtitles != "subs" {
		t.Fatalf("variants %+v\n%s", mp.Variants, master)
	}
	subs := map[string]*m3u8.Alternative{}
	for _, alt := range mp.Variants[0].Alternatives {
		if alt.Type == "SUBTITLES" && alt.GroupId == "subs" {
			subs[alt.Language] = alt
		}
	}
	if len(subs) != 2 || subs["en"] == nil || subs["fr"] == nil || subs["fr"].Name != "Français" || subs["en"].Default || subs["en"].Autoselect != "YES" {
		t.Fatalf("subtitle renditions %+v\n%s", subs, master)
	}
	base, _ := url.Parse(masterURL)
	// Where the presentation starts (the earliest PTS of the first
	// segment), as ffprobe reads it: the subtitle segments'
	// X-TIMESTAMP-MAP maps cue time 0 to it.
	code, variant := getURL(t, e.URL+hlsPath(id, "180p/index.m3u8")+"?"+base.RawQuery)
	if code != http.StatusOK {
		t.Fatalf("media playlist: %d %s", code, variant)
	}
	out, err := exec.Command(harness.MustTool(t, "ffprobe"), "-v", "error", "-show_entries", "format=start_time",
		"-of", "csv=p=0", media0(t, variant)).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe first segment: %v: %s", err, out)
	}
	var start float64
	if _, err := fmt.Sscan(strings.TrimSpace(string(out)), &start); err != nil || start <= 0 {
		t.Fatalf("start_time %q: %v", out, err)
	}
	videoStartPTS := int64(math.Round(start * 90000))
	for lang, alt := range subs {
		ref, err := url.Parse(alt.URI)
		if err != nil || ref.Query().Get("sig") == "" {
			t.Fatalf("%s URI %q is not signed", lang, alt.URI)
		}
		subURL := base.ResolveReference(ref).String()
		code, sub := getURL(t, subURL) // no token: signed
		if code != http.StatusOK {
			t.Fatalf("subtitle playlist %s: %d %s", lang, code, sub)
		}
		spl, typ, err := m3u8.DecodeFrom(bytes.NewReader(sub), true)
		if err != nil || typ != m3u8.MEDIA {
			t.Fatalf("decode %s: %v\n%s", lang, err, sub)
		}
		media := spl.(*m3u8.MediaPlaylist)
		if media.TargetDuration < 3 || media.MediaType != m3u8.VOD || !media.Closed || media.Count() != 1 {
			t.Fatalf("subtitle playlist %s: target %v type %v closed %v count %d\n%s", lang, media.TargetDuration, media.MediaType, media.Closed, media.Count(), sub)
		}
		segRef, err := url.Parse(media.Segments[0].URI)
		if err != nil || segRef.IsAbs() || segRef.Query().Get("sig") == "" {
			t.Fatalf("subtitle segment %s: %q, want a signed reference to the API", lang, media.Segments[0].URI)
		}
		subBase, _ := url.Parse(subURL)
		code, vtt := getURL(t, subBase.ResolveReference(segRef).String())
		// Its time 0 is the MPEG-TS timestamp at which the video starts.
		wantMap := fmt.Sprintf("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:%d,LOCAL:00:00:00.000\n", videoStartPTS)
		if code != http.StatusOK || !strings.HasPrefix(string(vtt), wantMap) || !strings.Contains(string(vtt), "-->") {
			t.Fatalf("subtitle segment %s: %d %q, want it to start with %q", lang, code, vtt, wantMap)
		}
		// The bearer token of another user cannot read it.
		if resp, _ := e.do(t, http.MethodGet, hlsPath(id, "captions/"+lang+".m3u8"), bobToken, nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("bob reads the %s subtitle playlist: %d, want 404", lang, resp.StatusCode)
		}
	}
	if code, _ := getURL(t, base.ResolveReference(&url.URL{Path: "captions/de.m3u8", RawQuery: base.RawQuery}).String()); code != http.StatusNotFound {
		t.Errorf("subtitle playlist of a language without a track: %d, want 404", code)
	}

	// ffprobe opens the master and finds the subtitle streams. ffmpeg
	// reads HLS subtitle renditions only with -strict experimental
	// (libavformat/hls.c).
	out, err = exec.Command(harness.MustTool(t, "ffprobe"), "-v", "error", "-strict", "experimental",
		"-show_entries", "stream=codec_type,codec_name:stream_tags=language", "-of", "json", masterURL).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, out)
	}
	var probe struct {
		Streams []struct {
			CodecType string            `json:"codec_type"`
			CodecName string            `json:"codec_name"`
			Tags      map[string]string `json:"tags"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatalf("ffprobe output: %v: %s", err, out)
	}
	kinds := map[string]int{}
	langs := map[string]bool{}
	for _, s := range probe.Streams {
		kinds[s.CodecType]++
		if s.CodecType == "subtitle" {
			langs[s.Tags["language"]] = true
		}
	}
	if kinds["video"] != 1 || kinds["audio"] != 1 || kinds["subtitle"] != 2 || !langs["en"] || !langs["fr"] {
		t.Fatalf("ffprobe streams %v (subtitle languages %v): %s", kinds, langs, out)
	}

	// Deleting a track takes it out of the master.
	if resp, body := e.do(t, http.MethodDelete, "/v1/videos/"+id+"/captions/fr", aliceToken, nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE fr: %d %s", resp.StatusCode, body)
	}
	_, master = getURL(t, masterURL)
	if n := bytes.Count(master, []byte("TYPE=SUBTITLES")); n != 1 || bytes.Contains(master, []byte(`LANGUAGE="fr"`)) {
		t.Fatalf("master after DELETE fr (%d subtitle renditions):\n%s", n, master)
	}
}

// TestCaptionSearch: the text of caption tracks is searchable through GET
// /v1/videos?q=, with caption_hits naming the language, the start (s) and
// the text of each matching cue. The indexer's part (its video.captions
// consumer calls catalog.PutCaptions, services/indexer) is played here by
// applying the records upload-api published to the catalog.
func TestCaptionSearch(t *testing.T) {
	e := mustEnv(t)
	ctx := context.Background()
	up := e.mustUploadedEvent(t, aliceToken, "searchable")
	ready := e.mustReadyHLS(t, up)
	if _, _, err := e.Catalog.Upsert(ctx, ready); err != nil {
		t.Fatal(err)
	}
	id := up.VideoID
	for _, c := range []struct{ q, file string }{{"language=en&label=English", testSRT}, {"language=fr&label=Fran%C3%A7ais", testVTT}} {
		if resp, body := e.postCaptionRaw(t, aliceToken, id, "text/plain", c.q, []byte(c.file)); resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", c.q, resp.StatusCode, body)
		}
	}
	for _, m := range e.Kafka.ReadAll(t, contract.TopicCaptions, 2, 10*time.Second) {
		ev, err := contract.Decode[contract.VideoCaptions](m.Value)
		if err != nil {
			t.Fatal(err)
		}
		if applied, err := e.Catalog.PutCaptions(ctx, ev); err != nil || !applied {
			t.Fatalf("index %s: %v %v", ev.Language, applied, err)
		}
	}
	for q, want := range map[string]captionHitView{
		"captions": {Language: "en", Start: 0, Text: "Hello captions"},
		"revoir":   {Language: "fr", Start: 2, Text: "au revoir"},
	} {
		res := e.list(t, aliceToken, "q="+q)
		if len(res.Items) != 1 || res.Items[0].ID != id || len(res.Items[0].CaptionHits) != 1 || res.Items[0].CaptionHits[0] != want {
			t.Errorf("search %q: %+v, want one hit %+v", q, res.Items, want)
		}
	}
	if res := e.list(t, bobToken, "q=captions"); len(res.Items) != 0 {
		t.Errorf("bob finds alice's captions: %+v", res.Items)
	}
}

// media0 returns the first segment URL of media playlist pl (as the API
// serves it: a presigned storage URL).
func media0(tb testing.TB, pl []byte) string {
	tb.Helper()
	for _, l := range strings.Split(string(pl), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	tb.Fatalf("no segment in %s", pl)
	return ""
}

package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// playableFixture puts the HLS package of a video that is still being
// transcoded: a master with an audio group, one rung and the audio, each
// an EVENT playlist with its first segment and no #EXT-X-ENDLIST.
func (e *env) playableFixture(tb testing.TB, id string) {
	tb.Helper()
	pl := "application/vnd.apple.mpegurl"
	e.put(tb, contract.HLSMasterKey(id), []byte("#EXTM3U\n#EXT-X-VERSION:6\n"+
		`#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud-128k",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,URI="audio/128k/index.m3u8"`+"\n"+
		`#EXT-X-STREAM-INF:BANDWIDTH=928000,RESOLUTION=640x360,AUDIO="aud-128k"`+"\n360p/index.m3u8\n"), pl)
	e.put(tb, contract.HLSPrefix(id)+"360p/index.m3u8", []byte("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-PLAYLIST-TYPE:EVENT\n"+
		"#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.000,\nseg_00000.ts\n"), pl)
	e.put(tb, contract.HLSPrefix(id)+"audio/128k/index.m3u8", []byte("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-PLAYLIST-TYPE:EVENT\n"+
		"#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.000,\nseg_00000.ts\n"), pl)
	e.put(tb, contract.HLSPrefix(id)+"360p/seg_00000.ts", []byte("video segment zero"), "video/mp2t")
	e.put(tb, contract.HLSPrefix(id)+"audio/128k/seg_00000.ts", []byte("audio segment zero"), "video/mp2t")
}

// chunkDone is the completion of video chunk index of up's run (3 chunks,
// 5 segments per rung).
func chunkDone(up contract.VideoUploaded, index, segments int) contract.TranscodeChunkDone {
	return contract.TranscodeChunkDone{SchemaVersion: contract.SchemaVersion, Video: up.Video, Run: contract.DeriveID("run", up.VideoID),
		Kind: contract.ChunkVideo, Index: index, Chunks: 3, Segments: segments, Complete: true, SegmentsTotal: 5}
}

func playableEvent(up contract.VideoUploaded) contract.VideoPlayable {
	return up.Playable(contract.Media{DurationSeconds: 9, Width: 640, Height: 360, VideoCodec: "h264"},
		contract.HLS{MasterKey: contract.HLSMasterKey(up.VideoID)}, 3, 5, time.Now())
}

func (e *env) getView(tb testing.TB, id, token string) videoView {
	tb.Helper()
	resp, body := e.do(tb, http.MethodGet, "/v1/videos/"+id, token, nil, nil)
	var v videoView
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &v) != nil {
		tb.Fatalf("GET %s: %d %s", id, resp.StatusCode, body)
	}
	return v
}

// TestGetVideoPlayable: from video.playable on, the status document shows
// hls.master_url (signed like a ready video's) and, while transcoding,
// the progress; the growing playlists are served uncached, and the owner's
// token reads them too. A chunk's dead letter hides both.
func TestGetVideoPlayable(t *testing.T) {
	e := mustEnv(t)
	up := e.mustUploadedEvent(t, aliceToken, "Soon")
	id := up.VideoID
	e.apply(t, contract.TopicUploaded, 0, up)
	e.playableFixture(t, id)

	e.apply(t, contract.TopicTranscodeChunksDone, 0, chunkDone(up, 0, 1))
	v := e.getView(t, id, aliceToken)
	if v.Status != "uploaded" || v.HLS != nil || v.Progress == nil ||
		*v.Progress != (progressView{SegmentsDone: 1, SegmentsTotal: 5, ChunksDone: 1, ChunksTotal: 3}) {
		t.Fatalf("after the first chunk: %+v, want uploaded with progress 1/5 segments, 1/3 chunks, no HLS", v)
	}
	if resp, _ := e.do(t, http.MethodGet, hlsPath(id, "master.m3u8"), aliceToken, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("playlist before video.playable: %d, want 404", resp.StatusCode)
	}

	e.apply(t, contract.TopicPlayable, 0, playableEvent(up))
	v = e.getView(t, id, aliceToken)
	if v.Status != "playable" || v.HLS == nil || v.URLsExpireAt == nil || v.Links["hls"] != v.HLS.MasterURL ||
		v.Progress == nil || v.Progress.ChunksDone != 1 || v.Renditions != nil || v.Thumbnails != nil || v.Media != nil {
		t.Fatalf("playable: %+v, want hls.master_url, links.hls, progress, and no renditions yet", v)
	}
	if !strings.Contains(v.HLS.MasterURL, hlsPath(id, "master.m3u8")+"?exp=") {
		t.Fatalf("master_url %q is not the signed API URL", v.HLS.MasterURL)
	}
	code, master := getURL(t, e.URL+strings.TrimPrefix(v.HLS.MasterURL, e.Opts.PublicURL))
	if code != http.StatusOK || !strings.Contains(string(master), "360p/index.m3u8?exp=") ||
		!strings.Contains(string(master), `URI="audio/128k/index.m3u8?exp=`) {
		t.Fatalf("master: %d %s", code, master)
	}
	base, _ := url.Parse(e.URL + strings.TrimPrefix(v.HLS.MasterURL, e.Opts.PublicURL))
	for _, rung := range []string{"360p", "audio/128k"} {
		ref, _ := url.Parse(rung + "/index.m3u8?" + base.RawQuery)
		resp, err := http.Get(base.ResolveReference(ref).String())
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		media := string(b)
		if resp.StatusCode != http.StatusOK || strings.Contains(media, "#EXT-X-ENDLIST") || resp.Header.Get("Cache-Control") != "private, no-cache" {
			t.Fatalf("%s playlist: %d cache-control %q\n%s", rung, resp.StatusCode, resp.Header.Get("Cache-Control"), media)
		}
		var seg string
		for _, l := range strings.Split(media, "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				seg = l
			}
		}
		if code, got := getURL(t, seg); code != http.StatusOK || !strings.HasSuffix(string(got), "segment zero") {
			t.Errorf("%s segment: %d %q", rung, code, got)
		}
	}
	if resp, _ := e.do(t, http.MethodGet, hlsPath(id, "master.m3u8"), aliceToken, nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("owner's token on a playable video: %d, want 200", resp.StatusCode)
	}
	if resp, _ := e.do(t, http.MethodGet, hlsPath(id, "master.m3u8"), bobToken, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("other user's token: %d, want 404", resp.StatusCode)
	}

	// A chunk's dead letter: failed, no HLS, no progress.
	w := contract.TranscodeChunk{SchemaVersion: contract.SchemaVersion, Video: up.Video, Run: contract.DeriveID("run", id),
		Kind: contract.ChunkVideo, Index: 2, Chunks: 3, PlanKey: contract.ChunkWorkPrefix(id, contract.DeriveID("run", id)) + "plan.json"}
	value, err := contract.Encode(w)
	if err != nil {
		t.Fatal(err)
	}
	dl := contract.DeadLetter{Stage: contract.StageTranscode, Topic: contract.TopicTranscodeChunks, Group: "transcode-chunks",
		Err: "ffmpeg: exit status 1", Class: contract.ErrorClassExhausted, Code: contract.ErrorCodeCorruptMedia, Attempts: 5, FailedAt: time.Now()}
	if err := e.Status.Apply(context.Background(), projection.Record{Topic: contract.TopicTranscodeDLQ, Offset: 0,
		Key: []byte(w.Key()), Value: value, Headers: dl.Headers(nil)}); err != nil {
		t.Fatal(err)
	}
	v = e.getView(t, id, aliceToken)
	if v.Status != "failed" || v.Failure == nil || v.Failure.Stage != "transcode" || v.Failure.Code != contract.ErrorCodeCorruptMedia ||
		v.HLS != nil || v.Progress != nil || v.Links["hls"] != "" {
		t.Fatalf("after a chunk's dead letter: %+v, want failed at transcode (corrupt_media), no HLS, no progress", v)
	}
	if resp, _ := e.do(t, http.MethodGet, hlsPath(id, "master.m3u8"), aliceToken, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("owner's token on a failed video: %d, want 404", resp.StatusCode)
	}
	// Redriven: the chunk completes, the video is playable again.
	e.apply(t, contract.TopicTranscodeChunksDone, 1, chunkDone(up, 2, 2))
	if v := e.getView(t, id, aliceToken); v.Status != "playable" || v.HLS == nil || v.Progress == nil || v.Progress.ChunksDone != 2 {
		t.Fatalf("after the redriven chunk: %+v, want playable with HLS and 2 chunks done", v)
	}
}

// TestEventsStreamPlayable: the event stream sends the progress, the
// playable state (with hls.master_url) and transcoded.
func TestEventsStreamPlayable(t *testing.T) {
	e := mustEnv(t, withOptions(func(o *Options) { o.SSEHeartbeat = time.Second; o.SSEWait = 5 * time.Second }))
	up := e.mustUploadedEvent(t, aliceToken, "Streamed")
	e.apply(t, contract.TopicUploaded, 0, up)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+"/v1/videos/"+up.VideoID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	evs := make(chan sseEvent, 16)
	go readSSE(resp.Body, evs, make(chan string, 16))
	// next returns the next state event (the stream may coalesce states:
	// wait for one that satisfies ok).
	next := func(what string, ok func(videoView) bool) videoView {
		t.Helper()
		for {
			select {
			case ev, open := <-evs:
				if !open {
					t.Fatalf("stream ended before %s", what)
				}
				var v videoView
				if ev.event != "status" || json.Unmarshal(ev.data, &v) != nil {
					t.Fatalf("event %+v", ev)
				}
				if ok(v) {
					return v
				}
			case <-ctx.Done():
				t.Fatalf("no event for %s", what)
			}
		}
	}
	next("uploaded", func(v videoView) bool { return v.Status == "uploaded" })
	e.apply(t, contract.TopicTranscodeChunksDone, 0, chunkDone(up, 0, 1))
	next("progress", func(v videoView) bool { return v.Progress != nil && v.Progress.SegmentsDone == 1 })
	e.apply(t, contract.TopicPlayable, 0, playableEvent(up))
	v := next("playable", func(v videoView) bool { return v.Status == "playable" })
	if v.HLS == nil || v.Progress == nil || v.Progress.ChunksTotal != 3 {
		t.Fatalf("playable event %+v, want hls.master_url and the progress", v)
	}
	e.apply(t, contract.TopicTranscodeChunksDone, 1, chunkDone(up, 1, 2))
	next("more progress", func(v videoView) bool {
		return v.Status == "playable" && v.Progress != nil && v.Progress.SegmentsDone == 3
	})
	rs := []contract.Rendition{{Name: "360p", Width: 640, Height: 360, Bitrate: 800000, Key: contract.RenditionKey(up.VideoID, "360p"), Size: 1}}
	e.apply(t, contract.TopicTranscoded, 0, up.Transcoded(contract.Media{DurationSeconds: 9, Width: 640, Height: 360}, rs,
		contract.HLS{MasterKey: contract.HLSMasterKey(up.VideoID)}, time.Now()))
	v = next("transcoded", func(v videoView) bool { return v.Status == "transcoded" })
	if v.HLS == nil || v.Progress != nil {
		t.Fatalf("transcoded event %+v, want hls.master_url and no progress", v)
	}
}

package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// The status document of an audio asset shows media.kind "audio", no
// dimensions, its M4A as the only rendition and as links.download, and
// its waveform as the poster; a video's shows media.kind "video" although
// its events omit it.
func TestGetVideoShowsAudioAsset(t *testing.T) {
	e := mustEnv(t)
	up := e.mustUploadedEvent(t, aliceToken, "Morning tone")
	id := up.VideoID
	media := contract.Media{Kind: contract.MediaKindAudio, DurationSeconds: 6, Format: "mp3", AudioCodec: "mp3"}
	rs := []contract.Rendition{{Name: contract.AudioRenditionName, Bitrate: 160000, Key: up.Outputs().AudioDownloadKey(),
		Size: 10, PlaylistKey: contract.HLSPrefix(id) + "audio/160k/index.m3u8"}}
	now := time.Now().UTC()
	tr := up.Transcoded(media, rs, contract.HLS{MasterKey: contract.HLSMasterKey(id)}, now)
	th := tr.Thumbnailed(contract.Thumbnails{
		Poster: contract.Image{Key: contract.ThumbnailPrefix(id) + "poster.jpg", Width: 1280, Height: 720, Size: 6},
		Small:  contract.Image{Key: contract.ThumbnailPrefix(id) + "thumb.jpg", Width: 320, Height: 180, Size: 5},
	}, now)
	e.apply(t, contract.TopicTranscoded, 0, tr)
	e.apply(t, contract.TopicThumbnailed, 0, th)
	e.apply(t, contract.TopicReady, 0, th.Ready(now))

	resp, body := e.do(t, http.MethodGet, "/v1/videos/"+id, aliceToken, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}
	var doc struct {
		Status string         `json:"status"`
		Media  map[string]any `json:"media"`
		Rends  []struct {
			Name  string `json:"name"`
			Width int    `json:"width"`
			URL   string `json:"url"`
		} `json:"renditions"`
		Links map[string]string `json:"links"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Status != "ready" || doc.Media["kind"] != "audio" || doc.Media["width"] != 0.0 || len(doc.Rends) != 1 ||
		doc.Rends[0].Name != "audio" || !strings.Contains(doc.Rends[0].URL, "/mp4/audio.m4a") || doc.Links["download"] != doc.Rends[0].URL ||
		doc.Links["hls"] == "" {
		t.Fatalf("audio asset status document:\n%s", body)
	}

	// A video (events without media.kind) shows kind "video", no download link.
	v := e.mustUploadedEvent(t, aliceToken, "A video")
	vm := contract.Media{DurationSeconds: 6, Width: 640, Height: 360, VideoCodec: "h264"}
	vrs := []contract.Rendition{{Name: "360p", Width: 640, Height: 360, Bitrate: 800000, Key: contract.RenditionKey(v.VideoID, "360p"), Size: 10}}
	vtr := v.Transcoded(vm, vrs, contract.HLS{MasterKey: contract.HLSMasterKey(v.VideoID)}, now)
	vth := vtr.Thumbnailed(contract.Thumbnails{
		Poster: contract.Image{Key: contract.ThumbnailPrefix(v.VideoID) + "poster.jpg", Width: 640, Height: 360, Size: 6},
		Small:  contract.Image{Key: contract.ThumbnailPrefix(v.VideoID) + "thumb.jpg", Width: 320, Height: 180, Size: 5},
	}, now)
	e.apply(t, contract.TopicReady, 0, vth.Ready(now))
	_, body = e.do(t, http.MethodGet, "/v1/videos/"+v.VideoID, aliceToken, nil, nil)
	doc.Links, doc.Media = nil, nil
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Media["kind"] != "video" || doc.Links["download"] != "" {
		t.Fatalf("video status document:\n%s", body)
	}
}

package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// The status document shows media.loudness as video.transcoded measured
// it, carried through video.ready and the status projection (PostgreSQL).
func TestGetVideoShowsLoudness(t *testing.T) {
	e := mustEnv(t)
	up := e.mustUploadedEvent(t, aliceToken, "Loud one")
	id := up.VideoID
	i, tp, target := -30.0, -29.2, -16.0
	media := contract.Media{DurationSeconds: 6, Width: 640, Height: 360, Format: "mov,mp4", VideoCodec: "h264", AudioCodec: "aac",
		Loudness: &contract.Loudness{IntegratedLUFS: &i, TruePeakDBTP: &tp, RangeLU: 0.5, TargetLUFS: &target, Normalization: contract.NormalizationLinear}}
	rs := []contract.Rendition{{Name: "360p", Width: 640, Height: 360, Bitrate: 800000, Key: contract.RenditionKey(id, "360p"),
		Size: 10, PlaylistKey: contract.HLSPrefix(id) + "360p/index.m3u8"}}
	now := time.Now().UTC()
	tr := up.Transcoded(media, rs, contract.HLS{MasterKey: contract.HLSMasterKey(id)}, now)
	th := tr.Thumbnailed(contract.Thumbnails{
		Poster: contract.Image{Key: contract.ThumbnailPrefix(id) + "poster.jpg", Width: 640, Height: 360, Size: 6},
		Small:  contract.Image{Key: contract.ThumbnailPrefix(id) + "small.jpg", Width: 320, Height: 180, Size: 5},
	}, now)
	e.apply(t, contract.TopicTranscoded, 0, tr)
	e.apply(t, contract.TopicThumbnailed, 0, th)
	e.apply(t, contract.TopicReady, 0, th.Ready(now))

	resp, body := e.do(t, http.MethodGet, "/v1/videos/"+id, aliceToken, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}
	var doc struct {
		Status string `json:"status"`
		Media  struct {
			Loudness map[string]any `json:"loudness"`
		} `json:"media"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	l := doc.Media.Loudness
	if doc.Status != "ready" || l["integrated_lufs"] != -30.0 || l["true_peak_dbtp"] != -29.2 || l["range_lu"] != 0.5 ||
		l["target_lufs"] != -16.0 || l["normalization"] != "linear" || len(l) != 5 {
		t.Fatalf("status document media.loudness %v (status %s), want the measured values, target -16 linear:\n%s", l, doc.Status, body)
	}
}

// The status document shows each rendition's codec as video.ready carries
// it (renditions[].codec; absent for H.264 renditions without one).
func TestGetVideoShowsRenditionCodecs(t *testing.T) {
	e := mustEnv(t)
	up := e.mustUploadedEvent(t, aliceToken, "Codecs")
	id := up.VideoID
	media := contract.Media{DurationSeconds: 6, Width: 640, Height: 360, Format: "mov,mp4", VideoCodec: "h264", AudioCodec: "aac"}
	rs := []contract.Rendition{
		{Name: "360p", Width: 640, Height: 360, Bitrate: 800000, Key: contract.RenditionKey(id, "360p"), Size: 10},
		{Name: "360p-hevc", Width: 640, Height: 360, Bitrate: 500000, Key: contract.RenditionKey(id, "360p-hevc"), Size: 8, Codec: "hevc"},
		{Name: "360p-av1", Width: 640, Height: 360, Bitrate: 400000, Key: contract.RenditionKey(id, "360p-av1"), Size: 7, Codec: "av1"},
	}
	now := time.Now().UTC()
	tr := up.Transcoded(media, rs, contract.HLS{MasterKey: contract.HLSMasterKey(id)}, now)
	th := tr.Thumbnailed(contract.Thumbnails{
		Poster: contract.Image{Key: contract.ThumbnailPrefix(id) + "poster.jpg", Width: 640, Height: 360, Size: 6},
		Small:  contract.Image{Key: contract.ThumbnailPrefix(id) + "small.jpg", Width: 320, Height: 180, Size: 5},
	}, now)
	e.apply(t, contract.TopicTranscoded, 0, tr)
	e.apply(t, contract.TopicThumbnailed, 0, th)
	e.apply(t, contract.TopicReady, 0, th.Ready(now))
	v := e.getView(t, id, aliceToken)
	var got []string
	for _, r := range v.Renditions {
		got = append(got, r.Name+":"+r.Codec)
	}
	if want := []string{"360p:", "360p-hevc:hevc", "360p-av1:av1"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("renditions %v, want %v", got, want)
	}
}

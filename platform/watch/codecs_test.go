package watch_test

import (
	"testing"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/watch"
)

func TestSummaryShowsCodecs(t *testing.T) {
	id := contract.NewID()
	loud := `"media":{"loudness":{"silent":true,"range_lu":0}}`
	tests := map[string]struct {
		value, want string
	}{
		"all h264, codec absent": {`{"video_id":"` + id + `","renditions":[{"name":"360p"},{"name":"720p","codec":"h264"}]}`, ""},
		"h264 and hevc": {`{"video_id":"` + id + `","renditions":[{"name":"360p"},{"name":"720p"},{"name":"720p-hevc","codec":"hevc"}]}`,
			"renditions h264 ×2, hevc ×1"},
		"every codec, with loudness": {`{"video_id":"` + id + `",` + loud + `,"renditions":[{"codec":"av1"},{"codec":"h264"},{"codec":"hevc"},{"codec":"av1"}]}`,
			"loudness silent; renditions h264 ×1, hevc ×1, av1 ×2"},
		"unknown codec, control characters replaced": {`{"renditions":[{"codec":"h264"},{"codec":"vp9\u001b"}]}`, "renditions h264 ×1, vp9? ×1"},
		"no renditions": {`{"video_id":"` + id + `"}`, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := watch.Summary(contract.TopicTranscoded, []byte(tc.value)); got != tc.want {
				t.Fatalf("Summary = %q, want %q", got, tc.want)
			}
		})
	}
}

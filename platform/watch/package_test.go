package watch_test

import (
	"testing"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/watch"
)

// A video.transcoded with a DASH manifest says so, before its loudness.
func TestSummaryShowsPackage(t *testing.T) {
	id := contract.NewID()
	tests := map[string]struct{ value, want string }{
		"dash and loudness": {`{"video_id":"` + id + `","renditions":[{"name":"360p"},{"name":"720p"}],"dash":{"manifest_key":"videos/` + id + `/hls/manifest.mpd"},` +
			`"media":{"loudness":{"integrated_lufs":-23.04,"true_peak_dbtp":-1,"range_lu":7}}}`,
			"2 renditions, HLS + DASH; loudness -23.0 LUFS -1.0 dBTP LRA 7.0 LU"},
		"dash only": {`{"video_id":"` + id + `","renditions":[{"name":"360p"}],"dash":{"manifest_key":"videos/` + id + `/hls/manifest.mpd"}}`,
			"1 rendition, HLS + DASH"},
		"mpeg-ts output": {`{"video_id":"` + id + `","renditions":[{"name":"360p"}]}`, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := watch.Summary(contract.TopicTranscoded, []byte(tc.value)); got != tc.want {
				t.Fatalf("Summary = %q, want %q", got, tc.want)
			}
		})
	}
}

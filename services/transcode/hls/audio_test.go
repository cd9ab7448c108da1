package hls

import (
	"strings"
	"testing"
)

// TestMasterAudioOnlyVariants: a variant without a picture size (an audio
// asset's audio rendition) has no RESOLUTION; one with a size keeps it.
func TestMasterAudioOnlyVariants(t *testing.T) {
	got := string(Master([]Variant{
		{URI: "audio/96k/index.m3u8", Bandwidth: 104000, AverageBandwidth: 101000, Codecs: []string{"mp4a.40.2"}},
		{URI: "360p/index.m3u8", Bandwidth: 900000, Width: 640, Height: 360, Codecs: []string{"avc1.64001e"}},
	}))
	want := "#EXT-X-STREAM-INF:BANDWIDTH=104000,AVERAGE-BANDWIDTH=101000,CODECS=\"mp4a.40.2\"\naudio/96k/index.m3u8\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS=\"avc1.64001e\"\n360p/index.m3u8\n"
	if !strings.HasSuffix(got, want) {
		t.Fatalf("master:\n%s\nwant it to end with:\n%s", got, want)
	}
}

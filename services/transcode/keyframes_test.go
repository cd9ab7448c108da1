package transcode

import (
	"log/slog"
	"slices"
	"testing"

	"github.com/vidpipe/vidpipe/services/transcode/ladder"
)

func TestAlignedRenditions(t *testing.T) {
	rends := ladder.MustParse("360p:360:800k:96k,720p-hevc:720:2M:128k:hevc,720p-av1:720:1.6M:128k:av1").Select(1280, 720)
	names := func(rs []ladder.Rendition) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return out
	}
	all, noAV1 := []string{"360p", "720p-hevc", "720p-av1"}, []string{"360p", "720p-hevc"}
	for name, tc := range map[string]struct {
		rate          string
		gop, segments int
		want          []string
	}{
		"whole frames per GOP: kept for any length": {"30", 2, 5000, all},
		"two segments per encode: kept at any rate": {"2951/100", 2, 2, all},
		"NTSC chunk of 16 GOPs: kept":               {"30000/1001", 2, 17, all},
		"NTSC single pass of a minute: dropped":     {"30000/1001", 2, singlePassSegments(60, 2), noAV1},
		"odd rate, three segments: dropped":         {"2951/100", 2, 3, noAV1},
		"unreadable rate: dropped":                  {"x", 2, 3, noAV1},
	} {
		t.Run(name, func(t *testing.T) {
			got := names(alignedRenditions(slog.New(slog.DiscardHandler), rends, tc.rate, tc.gop, tc.segments))
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

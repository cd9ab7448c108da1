package transcode

import (
	"log/slog"
	"math"

	"github.com/vidpipe/vidpipe/services/transcode/ffmpeg"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
)

// alignedRenditions drops the AV1 renditions when their keyframes would
// miss a segment start: libsvtav1 places one every GOP's worth of frames
// and cannot be forced (see ffmpeg.FixedKeyframesAlign), so at a frame
// rate whose GOP is not a whole number of frames an encode of more than a
// few segments drifts from the segment starts that H.264 and HEVC are
// forced to. segments is the most segments one encode makes (the longest
// chunk's, or the whole video's in the single pass). The video keeps its
// other renditions (H.264 is always there); a log line says why. The
// segment pipeline's default chunks (two segments) always align.
func alignedRenditions(log *slog.Logger, rends []ladder.Rendition, rate string, gop, segments int) []ladder.Rendition {
	ok, err := ffmpeg.FixedKeyframesAlign(rate, gop, segments)
	if ok && err == nil {
		return rends
	}
	out := make([]ladder.Rendition, 0, len(rends))
	for _, r := range rends {
		if r.Codec.Or() == ladder.AV1 {
			log.Warn("av1 rendition left out: its keyframes would miss segment starts at this frame rate",
				"rendition", r.Name, "frame_rate", rate, "gop_seconds", gop, "segments_per_encode", segments, "err", err)
			continue
		}
		out = append(out, r)
	}
	return out
}

// singlePassSegments bounds the segments of the single pass's one encode
// of a video of declared seconds (its output may run to declared +
// tolerance, see probe.Tolerance).
func singlePassSegments(seconds float64, gop int) int {
	return int(math.Ceil(seconds/float64(gop))) + 1
}

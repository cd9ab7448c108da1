package transcode

import (
	"math"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vidpipe/vidpipe/contract"
)

// A harder source through the segment pipeline against Kafka (kfake) and
// MinIO: an HDR (PQ, 10-bit BT.2020) phone clip stored landscape with a
// 90° display rotation. The planner reports and ladders it portrait; the
// chunks tone-map it and rotate it upright, so the assembled MP4 and the
// HLS segments are portrait H.264 yuv420p tagged BT.709, with square
// pixels, every frame, and audio as long as the video.
func TestSegmentPipelineHardSource(t *testing.T) {
	se := mustSegEnv(t, 1, nil, nil)
	c := clip{Width: 640, Height: 360, Seconds: 6, Audio: true, FPS: 30, Faststart: true, Rotate: 90, Transfer: "smpte2084"}
	in := se.MustUpload(t, MustClip(t, filepath.Join(t.TempDir(), "source.mp4"), c))
	se.produce(t, in)

	out := events[contract.VideoTranscoded](t, se.k, contract.TopicTranscoded, in.VideoID, 1)[0]
	if p := events[contract.VideoPlayable](t, se.k, contract.TopicPlayable, in.VideoID, 1)[0]; p.Chunks < 2 {
		t.Errorf("%d chunks, want several (the tone mapping in each)", p.Chunks)
	}
	checkEvent(t, in, out, c, 360, 640, []wantRung{{"360p", 360, 640}})
	se.waitNoWork(t, in.VideoID)
	local := se.MustDownload(t, contract.OutputPrefix(in.VideoID), t.TempDir())
	durs, uris := readExtinf(t, filepath.Join(local, "hls", "360p", "index.m3u8"))
	if len(uris) == 0 {
		t.Fatalf("no segments: %v", durs)
	}
	// The first CMAF segment after its init segment.
	first := "concat:" + filepath.Join(local, "hls", "360p", "init.mp4") + "|" + filepath.Join(local, "hls", "360p", uris[0])
	for _, file := range []string{filepath.Join(local, "mp4", "360p.mp4"), first} {
		d := MustProbeFile(t, file)
		for _, s := range d.Streams {
			if s.CodecType != "video" {
				continue
			}
			if s.CodecName != "h264" || s.PixFmt != "yuv420p" || s.Width != 360 || s.Height != 640 || len(s.SideDataList) > 0 || s.Tags["rotate"] != "" {
				t.Errorf("%s: video %s %s %dx%d rotation %+v %v, want h264 yuv420p 360x640 upright", file, s.CodecName, s.PixFmt, s.Width, s.Height, s.SideDataList, s.Tags)
			}
			checkColor(t, file, c, s.SAR, s.ColorPrimaries, s.ColorTransfer, s.ColorSpace, s.ColorRange)
		}
	}
	mp4 := filepath.Join(local, "mp4", "360p.mp4")
	checkContinuous(t, "mp4 360p", mp4, 30, 6*30)
	checkAudioContinuous(t, mp4, 6)
	d := MustProbeFile(t, mp4)
	if dur, _ := strconv.ParseFloat(d.Format.Duration, 64); math.Abs(dur-6) > 0.1 {
		t.Errorf("mp4 duration %v, want 6", dur)
	}
}

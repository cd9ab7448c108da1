package transcode

import (
	"github.com/vidpipe/vidpipe/services/transcode/dash"
	"github.com/vidpipe/vidpipe/services/transcode/ffmpeg"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
)

// contentTypeMPD is the DASH MPD's content type.
const contentTypeMPD = "application/dash+xml"

// audioCodec is the audio renditions' RFC 6381 string: AAC-LC.
const audioCodec = "mp4a.40.2"

// audioChannels is the audio renditions' channel count (-ac 2).
const audioChannels = 2

// videoTrack is a rung's Representation in the MPD (peak is its
// measured peak bitrate, as in the master playlist's BANDWIDTH without
// the audio).
func videoTrack(r ladder.Rendition, codec, frameRate string, timescale uint32, segs []segInfo, peak int64) dash.Track {
	if peak <= 0 {
		peak = r.VideoBitrate
	}
	return dash.Track{ID: r.Name, Dir: r.Name, Bandwidth: peak, Codecs: codec, Width: r.Width, Height: r.Height,
		FrameRate: frameRate, Timescale: timescale, InitURI: ffmpeg.InitName, Segments: dashSegments(segs)}
}

// audioTrack is an audio rendition's Representation in the MPD.
func audioTrack(bitrate int64, timescale uint32, segs []segInfo, sampleRate int) dash.Track {
	if sampleRate <= 0 {
		sampleRate = 48000 // ffmpeg.Encoding's default
	}
	g := ffmpeg.AudioGroup(bitrate)
	return dash.Track{ID: ffmpeg.AudioDirName + "-" + g, Dir: ffmpeg.AudioDirName + "/" + g, Bandwidth: bitrate, Codecs: audioCodec,
		SampleRate: sampleRate, Channels: audioChannels, Timescale: timescale, InitURI: ffmpeg.InitName, Segments: dashSegments(segs)}
}

func dashSegments(segs []segInfo) []dash.Segment {
	out := make([]dash.Segment, len(segs))
	for i, s := range segs {
		out[i] = dash.Segment{URI: s.URI, Start: s.Start, Duration: s.Ticks}
	}
	return out
}

// trackSeconds is where a track's last segment ends, in seconds.
func trackSeconds(t dash.Track) float64 {
	if len(t.Segments) == 0 || t.Timescale == 0 {
		return 0
	}
	last := t.Segments[len(t.Segments)-1]
	return float64(last.Start+last.Duration) / float64(t.Timescale)
}

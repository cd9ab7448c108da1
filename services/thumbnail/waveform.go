package thumbnail

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/stage"
)

// Size of an audio asset's waveform poster: 1280×720, the 16:9 frame the
// players show a video's poster in; the small one is Settings.ThumbWidth
// wide at the same aspect.
const (
	WaveformWidth  = 1280
	WaveformHeight = 720
)

// waveformColor is the colour of the drawn waveform (on black).
const waveformColor = "0x3ea6ff"

// aacDecoders are the only decoders the tools may open on an audio
// asset's M4A (transcode writes AAC-LC only).
const aacDecoders = "aac,aac_fixed"

// errNoAudio means the M4A has no audio stream or no audio packets.
var errNoAudio = errors.New("no audio stream")

// audioRendition is an audio asset's M4A among its renditions.
func audioRendition(rs []contract.Rendition) (contract.Rendition, error) {
	for _, r := range rs {
		if r.Name == contract.AudioRenditionName {
			return r, nil
		}
	}
	return contract.Rendition{}, fmt.Errorf("audio asset without a %q rendition", contract.AudioRenditionName)
}

// handleAudio is [Worker.Handle] for an audio asset (media.kind "audio"):
// instead of a frame, the poster is a picture of the whole waveform
// (ffmpeg's showwavespic over the M4A, WaveformWidth×WaveformHeight
// JPEG, the same keys as a video's poster and thumbnail), the small
// thumbnail the same picture ThumbWidth wide; there is no sprite sheet.
// The M4A's packets must span its declared duration as a video
// rendition's must, and the decode is capped there.
func (w *Worker) handleAudio(ctx context.Context, in contract.VideoTranscoded) (contract.VideoThumbnailed, error) {
	var zero contract.VideoThumbnailed
	rend, err := audioRendition(in.Renditions)
	if err != nil {
		return zero, stage.Coded(contract.ErrorCodeInvalidEvent, stage.Permanent(err))
	}
	dir, src, cleanup, err := w.fetchRendition(ctx, rend, "audio.m4a")
	if err != nil {
		return zero, err
	}
	defer cleanup()
	duration := in.Media.DurationSeconds
	if err := w.checkAudioTimeline(ctx, src, duration); err != nil {
		return zero, w.mediaError(ctx, rend, err)
	}
	poster, thumb := filepath.Join(dir, PosterName), filepath.Join(dir, ThumbName)
	if err := w.waveform(ctx, src, duration, poster, thumb); err != nil {
		return zero, w.mediaError(ctx, rend, err)
	}
	pw, ph, err := jpegSize(poster)
	if errors.Is(err, os.ErrNotExist) {
		return zero, w.mediaError(ctx, rend, errNoAudio)
	} else if err != nil {
		return zero, err
	}
	tw, th, err := jpegSize(thumb)
	if err != nil {
		return zero, err
	}
	prefix := in.Outputs().ThumbnailPrefix()
	var ths contract.Thumbnails
	if ths.Poster, err = w.upload(ctx, prefix+PosterName, imageFile{poster, pw, ph}, contentTypeJPEG); err != nil {
		return zero, err
	}
	if ths.Small, err = w.upload(ctx, prefix+ThumbName, imageFile{thumb, tw, th}, contentTypeJPEG); err != nil {
		return zero, err
	}
	out := in.Thumbnailed(ths, w.now())
	if err := out.Validate(); err != nil {
		return zero, stage.Permanent(fmt.Errorf("thumbnailed event: %w", err))
	}
	w.log.InfoContext(ctx, "waveform written", "video_id", in.VideoID, "rendition", rend.Name,
		"poster", fmt.Sprintf("%dx%d", pw, ph))
	return out, nil
}

// audioInputArgs are [inputArgs] for an audio asset's M4A: the AAC
// decoder only.
func audioInputArgs() []string {
	return []string{"-protocol_whitelist", "file", "-format_whitelist", mp4Demuxers,
		"-probesize", "5000000", "-analyzeduration", "5000000", "-codec_whitelist", aacDecoders}
}

// waveform draws the audio of src (at most duration plus the timeline
// tolerance) as one picture: poster WaveformWidth×WaveformHeight and
// thumb ThumbWidth wide.
func (w *Worker) waveform(ctx context.Context, src string, duration float64, poster, thumb string) error {
	graph := fmt.Sprintf("[0:a:0]aformat=channel_layouts=mono,showwavespic=s=%dx%d:colors=%s:scale=sqrt,format=yuvj420p,split=2[p][t];"+
		"[t]scale=w=%d:h=-2:flags=lanczos[s]", WaveformWidth, WaveformHeight, waveformColor, w.cfg.ThumbWidth)
	args := w.globalArgs()
	args = append(args, audioInputArgs()...)
	args = append(args, "-t", strconv.FormatFloat(duration+math.Max(1, 0.05*duration), 'f', 3, 64), "-i", src,
		"-filter_complex", graph,
		"-map", "[p]", "-frames:v", "1", "-q:v", "2", "-map_metadata", "-1", "-update", "1", poster,
		"-map", "[s]", "-frames:v", "1", "-q:v", "3", "-map_metadata", "-1", "-update", "1", thumb)
	return w.tool(ctx, w.cfg.ToolTimeout, w.cfg.FFmpeg, args, nil)
}

// checkAudioTimeline is [Worker.checkTimeline] for the audio stream.
func (w *Worker) checkAudioTimeline(ctx context.Context, path string, declared float64) error {
	return w.checkStreamTimeline(ctx, path, declared, "a:0", audioInputArgs(), errNoAudio)
}

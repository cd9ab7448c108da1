package thumbnail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// mp4Demuxers restricts the tools' input to the MP4 family: renditions are
// MP4s written by transcode, so anything else is not ours to decode.
const mp4Demuxers = "mov,mp4,m4a,3gp,3g2,mj2"

// inputArgs are the hardening options placed before every -i.
func inputArgs() []string {
	return []string{"-protocol_whitelist", "file", "-format_whitelist", mp4Demuxers}
}

// probe is what ffprobe says about a rendition.
type probe struct {
	// Duration in seconds; 0 when the container does not say.
	Duration float64
	Width    int
	Height   int
}

// errNoVideo means the file has no video stream.
var errNoVideo = errors.New("no video stream")

// errTooLarge means the probed frame is over Settings.MaxPixels.
var errTooLarge = errors.New("frame too large")

// checkSize rejects a frame over maxPixels pixels (width × height) with
// an error wrapping errTooLarge.
func (p probe) checkSize(maxPixels int64) error {
	if px := int64(p.Width) * int64(p.Height); px > maxPixels {
		return fmt.Errorf("%w: %dx%d is %d pixels, over thumbnail.max_pixels %d", errTooLarge, p.Width, p.Height, px, maxPixels)
	}
	return nil
}

// probeFile runs ffprobe on path. A *ToolError means ffprobe could not
// read the file (not an MP4, truncated, corrupt); errNoVideo that it has
// no video stream.
func (w *Worker) probeFile(ctx context.Context, path string) (probe, error) {
	args := append([]string{"-v", "error"}, inputArgs()...)
	args = append(args, "-select_streams", "v:0",
		"-show_entries", "format=duration:stream=codec_type,width,height",
		"-of", "json", path)
	var out bytes.Buffer
	if err := runTool(ctx, w.cfg.FFprobe, args, &out); err != nil {
		return probe{}, err
	}
	var doc struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			Width     int    `json:"width"`
			Height    int    `json:"height"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		return probe{}, fmt.Errorf("ffprobe output: %w", err)
	}
	if len(doc.Streams) == 0 || doc.Streams[0].CodecType != "video" || doc.Streams[0].Width <= 0 || doc.Streams[0].Height <= 0 {
		return probe{}, errNoVideo
	}
	p := probe{Width: doc.Streams[0].Width, Height: doc.Streams[0].Height}
	if d, err := strconv.ParseFloat(doc.Format.Duration, 64); err == nil && d > 0 {
		p.Duration = d
	}
	return p, nil
}

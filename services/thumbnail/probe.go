package thumbnail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// mp4Demuxers restricts the tools' input to the MP4 family: renditions are
// MP4s written by transcode, so anything else is not ours to decode.
const mp4Demuxers = "mov,mp4,m4a,3gp,3g2,mj2"

// h264Decoders are the only decoders the tools may open: renditions are
// H.264 with AAC audio (transcode writes nothing else; the audio decoder
// only runs while the streams are probed).
const h264Decoders = "h264,aac"

// inputArgs are the hardening options placed before every -i: local file
// only, MP4 demuxer only, a bounded prefix read to find the streams, the
// H.264 decoder only.
func inputArgs() []string {
	return []string{"-protocol_whitelist", "file", "-format_whitelist", mp4Demuxers,
		"-probesize", "5000000", "-analyzeduration", "5000000", "-codec_whitelist", h264Decoders}
}

// errToolTimeout is the cause of a tool run cancelled by its own timeout.
var errToolTimeout = errors.New("tool timeout")

// ToolTimeoutError is a tool stopped by its own timeout
// (Settings.ProbeTimeout, Settings.ToolTimeout): the work on a rendition
// took far longer than a rendition of its declared length can need, so it
// is the rendition's fault and permanent.
type ToolTimeoutError struct {
	Tool    string
	Timeout time.Duration
}

func (e *ToolTimeoutError) Error() string {
	return fmt.Sprintf("%s did not finish within %s", e.Tool, e.Timeout)
}

// tool runs bin like procgroup.RunTool (in the sandbox the worker
// started) under a timeout of its own.
func (w *Worker) tool(ctx context.Context, timeout time.Duration, bin string, args []string, stdout io.Writer) error {
	if timeout <= 0 {
		return procgroup.RunTool(ctx, bin, args, stdout)
	}
	tctx, cancel := context.WithTimeoutCause(ctx, timeout, errToolTimeout)
	defer cancel()
	err := procgroup.RunTool(tctx, bin, args, stdout)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(tctx), errToolTimeout) {
		return &ToolTimeoutError{Tool: filepath.Base(bin), Timeout: timeout}
	}
	return err
}

// errTimeline means the rendition's packets do not match its declared duration.
var errTimeline = errors.New("timeline does not match the declared duration")

// timelineScan parses ffprobe's packet CSV (pts_time,duration_time) as it
// arrives and cancels the run as soon as the timeline passes limit.
type timelineScan struct {
	limit   float64
	stop    context.CancelFunc
	partial []byte
	start   float64
	end     float64
	packets int
	over    bool
}

func (s *timelineScan) Write(p []byte) (int, error) {
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 || s.over {
			break
		}
		line := strings.TrimSpace(string(s.partial[:i]))
		s.partial = s.partial[i+1:]
		pts, dur, _ := strings.Cut(line, ",")
		t, err := strconv.ParseFloat(pts, 64)
		if err != nil || math.IsNaN(t) || math.IsInf(t, 0) {
			continue
		}
		d, _ := strconv.ParseFloat(strings.TrimSuffix(dur, ","), 64)
		if !(d >= 0 && d < 3600) {
			d = 0
		}
		if s.packets == 0 {
			s.start, s.end = t, t+d
		}
		s.start, s.end = math.Min(s.start, t), math.Max(s.end, t+d)
		s.packets++
		if s.end-s.start > s.limit {
			s.over = true
			s.stop()
		}
	}
	if len(s.partial) > 4096 {
		s.partial = s.partial[:0]
	}
	return len(p), nil
}

// checkTimeline reads the rendition's video packets without decoding them
// and returns an error wrapping errTimeline when they span more than
// declared (plus max(1 s, 5 %)), stopping at the first packet past it, or
// clearly less.
func (w *Worker) checkTimeline(ctx context.Context, path string, declared float64) error {
	return w.checkStreamTimeline(ctx, path, declared, "v:0", inputArgs(), errNoVideo)
}

// checkStreamTimeline is checkTimeline for the first stream matching
// selector ("v:0", "a:0") read with input options in; none is the error
// for a file without such packets.
func (w *Worker) checkStreamTimeline(ctx context.Context, path string, declared float64, selector string, in []string, none error) error {
	tol := math.Max(1, 0.05*declared)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	scan := &timelineScan{limit: declared + tol, stop: cancel}
	args := append([]string{"-v", "error"}, in...)
	args = append(args, "-select_streams", selector, "-show_entries", "packet=pts_time,duration_time", "-of", "csv=p=0", path)
	err := w.tool(sctx, w.cfg.ToolTimeout, w.cfg.FFprobe, args, scan)
	switch {
	case scan.over:
		return fmt.Errorf("%w: it declares %.1f s but its packets span at least %.1f s: the real timeline is longer than declared", errTimeline, declared, scan.end-scan.start)
	case err != nil:
		return err
	case scan.packets == 0:
		return none
	case declared-(scan.end-scan.start) > tol:
		return fmt.Errorf("%w: it declares %.1f s but its packets span only %.1f s: truncated", errTimeline, declared, scan.end-scan.start)
	}
	return nil
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

// probeFile runs ffprobe on path. A *procgroup.ToolError means ffprobe could not
// read the file (not an MP4, truncated, corrupt); errNoVideo that it has
// no video stream.
func (w *Worker) probeFile(ctx context.Context, path string) (probe, error) {
	args := append([]string{"-v", "error"}, inputArgs()...)
	args = append(args, "-select_streams", "v:0",
		"-show_entries", "format=duration:stream=codec_type,width,height",
		"-of", "json", path)
	var out bytes.Buffer
	if err := w.tool(ctx, w.cfg.ProbeTimeout, w.cfg.FFprobe, args, &out); err != nil {
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

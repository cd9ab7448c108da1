package thumbnail

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// DarkLuma is the mean luma (0..255) under which a candidate poster counts
// as black, so the next seek position is tried.
const DarkLuma = 24

// fallbackFractions are the seek positions tried, in order, after the
// configured one when its frame is dark or missing.
var fallbackFractions = []float64{0.5, 0.75, 0.15, 0}

// errNoFrame means ffmpeg decoded no frame at any seek position.
var errNoFrame = errors.New("no decodable video frame")

// imageFile is a still written to the work directory.
type imageFile struct {
	Path          string
	Width, Height int
}

// candidateFractions returns first followed by the fallbacks that are not
// within 0.05 of an earlier position.
func candidateFractions(first float64) []float64 {
	out := []float64{first}
next:
	for _, f := range fallbackFractions {
		for _, o := range out {
			if math.Abs(f-o) < 0.05 {
				continue next
			}
		}
		out = append(out, f)
	}
	return out
}

// stills writes the poster and the small thumbnail of the most
// representative frame: for each candidate seek position (the configured
// fraction of duration first), ffmpeg's thumbnail filter picks the most
// typical of the next ScanFrames frames; the first candidate that is not
// dark wins. If all are dark (a dark video), the brightest is used.
func (w *Worker) stills(ctx context.Context, dir, src string, duration float64) (poster, thumb imageFile, err error) {
	bestLuma := -1.0
	for i, f := range candidateFractions(w.cfg.SeekFraction) {
		p := filepath.Join(dir, fmt.Sprintf("poster-%d.jpg", i))
		t := filepath.Join(dir, fmt.Sprintf("thumb-%d.jpg", i))
		if err := w.extractFrame(ctx, src, f*duration, p, t); err != nil {
			return poster, thumb, err
		}
		pw, ph, luma, err := decodePoster(p)
		if errors.Is(err, os.ErrNotExist) {
			continue // nothing decoded from this position (past the end, corrupt span)
		}
		if err != nil {
			return poster, thumb, err
		}
		tw, th, err := jpegSize(t)
		if err != nil {
			return poster, thumb, err
		}
		if luma > bestLuma {
			bestLuma = luma
			poster, thumb = imageFile{p, pw, ph}, imageFile{t, tw, th}
		}
		if luma >= DarkLuma {
			break
		}
	}
	if bestLuma < 0 {
		return poster, thumb, errNoFrame
	}
	return poster, thumb, nil
}

// extractFrame runs one ffmpeg: seek to at seconds, pick a frame with the
// thumbnail filter, write it at display aspect (square pixels) to poster
// and scaled to ThumbWidth wide (even height) to thumb. Writing no file
// is not an error here (the caller checks).
func (w *Worker) extractFrame(ctx context.Context, src string, at float64, poster, thumb string) error {
	graph := fmt.Sprintf("[0:v:0]thumbnail=n=%d,scale=w='trunc(iw*sar/2)*2':h=ih,setsar=1,split=2[p][t];"+
		"[t]scale=w=%d:h=-2:flags=lanczos,setsar=1[s]", w.cfg.ScanFrames, w.cfg.ThumbWidth)
	args := w.globalArgs()
	args = append(args, inputArgs()...)
	args = append(args, "-ss", strconv.FormatFloat(at, 'f', 3, 64), "-i", src,
		"-filter_complex", graph,
		"-map", "[p]", "-frames:v", "1", "-q:v", "2", "-map_metadata", "-1", "-update", "1", poster,
		"-map", "[s]", "-frames:v", "1", "-q:v", "3", "-map_metadata", "-1", "-update", "1", thumb)
	return w.tool(ctx, w.cfg.ToolTimeout, w.cfg.FFmpeg, args, nil)
}

// globalArgs starts every ffmpeg command line.
func (w *Worker) globalArgs() []string {
	args := []string{"-nostdin", "-hide_banner", "-v", "error", "-y"}
	if w.cfg.Threads > 0 {
		args = append(args, "-threads", strconv.Itoa(w.cfg.Threads))
	}
	return args
}

// decodePoster decodes the JPEG at path and returns its size and mean luma.
func decodePoster(path string) (width, height int, luma float64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() == 0 {
		return 0, 0, 0, fmt.Errorf("%s is empty: %w", filepath.Base(path), os.ErrNotExist)
	}
	img, err := jpeg.Decode(f)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("decode %s: %w", filepath.Base(path), err)
	}
	b := img.Bounds()
	return b.Dx(), b.Dy(), MeanLuma(img), nil
}

// jpegSize returns the dimensions of the JPEG at path.
func jpegSize(path string) (width, height int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	cfg, err := jpeg.DecodeConfig(f)
	if err != nil {
		return 0, 0, fmt.Errorf("decode %s: %w", filepath.Base(path), err)
	}
	return cfg.Width, cfg.Height, nil
}

// MeanLuma returns the mean luma of img on a 0..255 scale (the Y plane
// for YCbCr images, BT.601 luma otherwise).
func MeanLuma(img image.Image) float64 {
	b := img.Bounds()
	if b.Empty() {
		return 0
	}
	var sum uint64
	if m, ok := img.(*image.YCbCr); ok {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				sum += uint64(m.Y[m.YOffset(x, y)])
			}
		}
	} else {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				// BT.601 weights on 16-bit channels, scaled to 8 bits.
				sum += uint64((299*r + 587*g + 114*bl) / 1000 >> 8)
			}
		}
	}
	return float64(sum) / float64(b.Dx()*b.Dy())
}

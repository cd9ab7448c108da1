package thumbnail

import (
	"context"
	"fmt"
	"io"
	"math"
	"path"
	"strconv"
	"strings"
	"time"
)

// SpriteName is the sprite sheet's file name, which the WebVTT cues
// reference relative to the WebVTT file (both live under
// events.ThumbnailPrefix).
const SpriteName = "sprite.jpg"

// keyframeOnlyInterval is the tile interval from which the sprite decodes
// key frames only: one pass over a long video then costs a fraction of a
// full decode, and with transcode's 2 s GOP the sampled frames are at most
// a couple of seconds from their ideal time, well within one tile.
const keyframeOnlyInterval = 10.0

// sprite writes a sprite sheet of SpriteTiles frames to out: the frames
// are sampled in the middle of SpriteTiles equal intervals of duration
// (from key frames only when an interval is keyframeOnlyInterval seconds
// or longer), scaled to SpriteTileWidth wide (even height, square pixels)
// and laid out SpriteColumns per row, left to right, top to bottom.
func (w *Worker) sprite(ctx context.Context, src string, duration float64, out string) error {
	tiles, cols := w.cfg.SpriteTiles, w.cfg.SpriteColumns
	rows := (tiles + cols - 1) / cols
	interval := duration / float64(tiles)
	// The fps filter as an exact rational: tiles frames per duration.
	ms := max(int64(math.Round(duration*1000)), 1)
	graph := fmt.Sprintf("[0:v:0]fps=fps=%d/%d,scale=w='trunc(iw*sar/2)*2':h=ih,scale=w=%d:h=-2,setsar=1,tile=layout=%dx%d",
		tiles*1000, ms, w.cfg.SpriteTileWidth, cols, rows)
	args := w.globalArgs()
	args = append(args, inputArgs()...)
	if interval >= keyframeOnlyInterval {
		args = append(args, "-skip_frame", "nokey")
	}
	args = append(args, "-ss", strconv.FormatFloat(interval/2, 'f', 3, 64), "-i", src,
		"-filter_complex", graph,
		"-frames:v", "1", "-q:v", "4", "-map_metadata", "-1", "-update", "1", out)
	return w.tool(ctx, w.cfg.ToolTimeout, w.cfg.FFmpeg, args, nil)
}

// writeSpriteVTT writes the WebVTT that maps each of tiles equal
// intervals of duration to its tile of the sprite sheet (media fragment
// "#xywh=x,y,w,h", the form scrubbing-preview players read). The sheet
// has cols tiles per row, each tileW x tileH pixels.
func writeSpriteVTT(out io.Writer, duration float64, tiles, cols, tileW, tileH int) error {
	var b strings.Builder
	b.WriteString("WEBVTT\n")
	total := time.Duration(duration * float64(time.Second))
	for i := range tiles {
		start := total * time.Duration(i) / time.Duration(tiles)
		end := total * time.Duration(i+1) / time.Duration(tiles)
		x, y := (i%cols)*tileW, (i/cols)*tileH
		fmt.Fprintf(&b, "\n%s --> %s\n%s#xywh=%d,%d,%d,%d\n", vttTime(start), vttTime(end), path.Base(SpriteName), x, y, tileW, tileH)
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// vttTime formats d as a WebVTT timestamp, HH:MM:SS.mmm.
func vttTime(d time.Duration) string {
	ms := d.Milliseconds()
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3_600_000, ms/60_000%60, ms/1000%60, ms%1000)
}

// Package thumbnail is the vidpipe thumbnail stage: it consumes
// video.transcoded, makes still images from one of the video's renditions
// (never from the raw upload) and publishes video.thumbnailed.
//
// For each video it writes, under events.ThumbnailPrefix(id):
//
//	poster.jpg   a representative frame at the rendition's size and display aspect
//	thumb.jpg    the same frame, Settings.ThumbWidth wide (even height)
//	sprite.jpg   optional: a grid of small frames sampled over the video
//	sprite.vtt   optional: WebVTT cues mapping time ranges to sprite tiles
//
// Keys depend only on the video id, so re-processing overwrites them.
package thumbnail

import (
	"errors"
	"fmt"
	"time"

	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// Config is the thumbnail service's configuration. Keys, defaults and
// environment variables follow platform/config: e.g. thumbnail.thumb_width
// is VIDPIPE_THUMBNAIL_THUMB_WIDTH and --thumbnail.thumb_width.
type Config struct {
	Kafka     config.Kafka `mapstructure:"kafka"`
	S3        config.S3    `mapstructure:"s3"`
	Stage     config.Stage `mapstructure:"stage"`
	Log       config.Log   `mapstructure:"log"`
	Thumbnail Settings     `mapstructure:"thumbnail"`
}

// Settings are the thumbnail stage's own options.
type Settings struct {
	// FFmpeg is the ffmpeg binary, a name on PATH or a path. Default: ffmpeg.
	FFmpeg string `mapstructure:"ffmpeg" default:"ffmpeg" desc:"ffmpeg binary (name on PATH or path)"`
	// FFprobe is the ffprobe binary. Default: ffprobe.
	FFprobe string `mapstructure:"ffprobe" default:"ffprobe" desc:"ffprobe binary (name on PATH or path)"`
	// TempDir holds one work directory per attempt ("vidpipe-thumbnail-*"),
	// removed when the attempt ends; at start the service also removes
	// those older than stage.attempt_timeout + stage.shutdown_grace, left by
	// a killed worker. Default: empty, the OS temp dir.
	TempDir string `mapstructure:"temp_dir" default:"" desc:"parent of per-attempt work directories (default: OS temp dir)"`
	// ThumbWidth is the small thumbnail's width in pixels; its height keeps
	// the aspect ratio, rounded to an even number. Default: 320.
	ThumbWidth int `mapstructure:"thumb_width" default:"320" desc:"small thumbnail width in pixels (height keeps aspect, even)"`
	// SeekFraction is where in the video the poster search starts, as a
	// fraction of the duration. Default: 0.33.
	SeekFraction float64 `mapstructure:"seek_fraction" default:"0.33" desc:"poster search start as a fraction of the duration (0..1)"`
	// ScanFrames is how many frames after the seek point ffmpeg's
	// thumbnail filter compares to pick the most representative one. Each
	// frame is held in memory (about 350 KB at 640x360). Default: 60.
	ScanFrames int `mapstructure:"scan_frames" default:"60" desc:"frames compared after the seek point to pick the poster"`
	// Sprite enables the scrubbing sprite sheet and its WebVTT. Default: true.
	Sprite bool `mapstructure:"sprite" default:"true" desc:"also write a scrubbing sprite sheet and WebVTT"`
	// SpriteTiles is the number of frames in the sprite, sampled at equal
	// intervals of the duration. Default: 10.
	SpriteTiles int `mapstructure:"sprite_tiles" default:"10" desc:"frames in the sprite sheet, evenly spaced over the video"`
	// SpriteColumns is the number of tiles per sprite row. Default: 5.
	SpriteColumns int `mapstructure:"sprite_columns" default:"5" desc:"sprite tiles per row"`
	// SpriteTileWidth is the width of one sprite tile in pixels. Default: 160.
	SpriteTileWidth int `mapstructure:"sprite_tile_width" default:"160" desc:"width of one sprite tile in pixels"`
	// Threads is ffmpeg's -threads; 0 lets ffmpeg choose. Default: 0.
	Threads int `mapstructure:"threads" default:"0" desc:"ffmpeg threads (0: ffmpeg decides)"`
	// MaxPixels is the largest rendition frame (width × height, as probed)
	// the stage decodes; a larger one is a permanent error. Renditions come
	// from transcode, which enforces its own limit on sources, so this only
	// guards against an object that is not what the event says.
	// Default: 8294400 (3840x2160).
	MaxPixels int64 `mapstructure:"max_pixels" default:"8294400" desc:"largest rendition frame in pixels, width×height (default 3840x2160); larger is a permanent error"`
	// Sandbox runs every ffmpeg and ffprobe in a network namespace of its
	// own: "auto" when the kernel allows it (reported on /readyz and
	// vidpipe_sandbox_active), "required" refuses to start without it,
	// "off" never. The minimal environment and resource limits apply in
	// every mode. Default: auto.
	Sandbox string `mapstructure:"sandbox" default:"auto" desc:"ffmpeg/ffprobe in their own network namespace: auto (when the kernel allows), required (refuse to start without), off"`
	// SandboxMaxMemory is each ffmpeg/ffprobe's address-space limit
	// (RLIMIT_AS) in bytes; 0: none. Default: 17179869184 (16 GiB).
	SandboxMaxMemory int64 `mapstructure:"sandbox_max_memory" default:"17179869184" desc:"address-space limit (RLIMIT_AS) of each ffmpeg/ffprobe in bytes (0: none)"`
	// ProbeTimeout bounds each ffprobe of a rendition's headers; exceeding
	// it is a permanent error. Default: 30s.
	ProbeTimeout time.Duration `mapstructure:"probe_timeout" default:"30s" desc:"timeout of one ffprobe of a rendition's headers; exceeding it is a permanent error"`
	// ToolTimeout bounds each other ffmpeg/ffprobe run (packet scan, one
	// still, the sprite); exceeding it is a permanent error: the work is
	// bounded by design (ScanFrames frames, key frames only for long
	// sprites), so only a hostile rendition needs longer. Default: 3m.
	ToolTimeout time.Duration `mapstructure:"tool_timeout" default:"3m" desc:"timeout of one ffmpeg run (still, sprite) or packet scan; exceeding it is a permanent error"`
	// GCDelay is how long after a reprocess's generation is made the
	// thumbnails of the generations it supersedes are removed (group
	// thumbnail-gc, platform/outputgc), so that a page loaded just before
	// the switch keeps its images; 0 removes them at once. At most 1h and
	// below stage.attempt_timeout, which bounds the wait. Default: 1m.
	GCDelay time.Duration `mapstructure:"gc_delay" default:"1m" desc:"wait after a reprocessed generation is ready before the superseded generations' thumbnails are removed (0: at once; at most 1h, below stage.attempt_timeout)"`
}

// maxMaxPixels bounds Settings.MaxPixels: 16384x16384, beyond what any
// rendition the ladder makes can be.
const maxMaxPixels = 16384 * 16384

// DefaultSettings returns the documented defaults of Settings (the same
// values as the default tags).
func DefaultSettings() Settings {
	return Settings{
		FFmpeg: "ffmpeg", FFprobe: "ffprobe", ThumbWidth: 320, SeekFraction: 0.33, ScanFrames: 60,
		Sprite: true, SpriteTiles: 10, SpriteColumns: 5, SpriteTileWidth: 160, MaxPixels: 8294400,
		Sandbox: string(procgroup.ModeAuto), SandboxMaxMemory: 16 << 30,
		ProbeTimeout: 30 * time.Second, ToolTimeout: 3 * time.Minute, GCDelay: time.Minute,
	}
}

// Validate checks the ranges of every setting.
func (s Settings) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &config.FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if s.FFmpeg == "" {
		bad("ffmpeg", "must not be empty")
	}
	if s.FFprobe == "" {
		bad("ffprobe", "must not be empty")
	}
	if s.ThumbWidth < 16 || s.ThumbWidth > 3840 {
		bad("thumb_width", "must be in 16..3840 (got %d)", s.ThumbWidth)
	}
	if !(s.SeekFraction >= 0 && s.SeekFraction < 1) {
		bad("seek_fraction", "must be in [0, 1) (got %v)", s.SeekFraction)
	}
	if s.ScanFrames < 1 || s.ScanFrames > 300 {
		bad("scan_frames", "must be in 1..300 (got %d)", s.ScanFrames)
	}
	if s.SpriteTiles < 1 || s.SpriteTiles > 100 {
		bad("sprite_tiles", "must be in 1..100 (got %d)", s.SpriteTiles)
	}
	if s.SpriteColumns < 1 || s.SpriteColumns > s.SpriteTiles {
		bad("sprite_columns", "must be in 1..sprite_tiles (got %d)", s.SpriteColumns)
	}
	if s.SpriteTileWidth < 16 || s.SpriteTileWidth > 640 {
		bad("sprite_tile_width", "must be in 16..640 (got %d)", s.SpriteTileWidth)
	}
	if s.Threads < 0 || s.Threads > 64 {
		bad("threads", "must be in 0..64 (got %d)", s.Threads)
	}
	if s.MaxPixels < 1 || s.MaxPixels > maxMaxPixels {
		bad("max_pixels", "must be in 1..%d (got %d)", int64(maxMaxPixels), s.MaxPixels)
	}
	if _, err := procgroup.ParseMode(s.Sandbox); err != nil {
		bad("sandbox", "must be one of auto, required, off (got %q)", s.Sandbox)
	}
	if s.SandboxMaxMemory != 0 && s.SandboxMaxMemory < 256<<20 {
		bad("sandbox_max_memory", "must be 0 (no limit) or at least 268435456 (got %d)", s.SandboxMaxMemory)
	}
	if s.ProbeTimeout <= 0 {
		bad("probe_timeout", "must be greater than 0 (got %s)", s.ProbeTimeout)
	}
	if s.ToolTimeout <= 0 {
		bad("tool_timeout", "must be greater than 0 (got %s)", s.ToolTimeout)
	}
	if s.GCDelay < 0 || s.GCDelay > time.Hour {
		bad("gc_delay", "must be between 0 and 1h (got %s)", s.GCDelay)
	}
	return errors.Join(errs...)
}

// SandboxLimits are the thumbnail worker's resource limits of every ffmpeg
// and ffprobe besides the address space and CPU time, which the worker
// sets from thumbnail.sandbox_max_memory and stage.attempt_timeout
// (procgroup.WorkerSandbox): 4 GiB per written file, as stills and sprites
// are small, and 256 open files.
func SandboxLimits() procgroup.Limits {
	return procgroup.Limits{FileSize: 4 << 30, OpenFiles: 256}
}

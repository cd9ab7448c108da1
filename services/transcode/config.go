package transcode

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/procgroup"
	"github.com/vidpipe/vidpipe/services/transcode/ffmpeg"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
)

// Config is the transcode service's configuration, loaded by config.Load
// ("transcode", ...): YAML file, VIDPIPE_* environment, --flags.
type Config struct {
	Kafka     config.Kafka `mapstructure:"kafka"`
	S3        config.S3    `mapstructure:"s3"`
	Stage     config.Stage `mapstructure:"stage"`
	Log       config.Log   `mapstructure:"log"`
	Transcode Settings     `mapstructure:"transcode"`
}

// Defaults sets transcode's own stage defaults: an attempt may take up to
// an hour (a long 1080p source at preset veryfast on a small machine), and
// after SIGTERM an in-flight transcode gets 2 minutes to finish before it is
// cancelled and redelivered. Orchestrators must allow more than
// stage.shutdown_grace before killing (terminationGracePeriodSeconds).
func (Config) Defaults() map[string]string {
	return map[string]string{"stage.attempt_timeout": "1h", "stage.shutdown_grace": "2m"}
}

// Settings are the transcode worker's own settings (section "transcode").
type Settings struct {
	// Ladder is the encoding ladder: comma-separated rungs
	// NAME:SHORT_SIDE:VIDEO_BITRATE:AUDIO_BITRATE[:CODEC] (see package
	// ladder; a rung's size is the short side, so "720p" is 1280x720
	// landscape and 720x1280 portrait). CODEC is h264 (the default), hevc
	// or av1; H.264 rungs are required and the lowest rung must be H.264
	// (the fallback every player decodes); rungs of other codecs may have
	// the size of an H.264 rung (e.g. 720p:720:2800k:128k and
	// 720p-av1:720:1600k:128k:av1). Default: ladder.DefaultSpec (360p
	// 800k/96k, 480p 1400k/128k, 720p 2800k/128k, 1080p 5000k/160k, all H.264).
	Ladder string `mapstructure:"ladder" default:"360p:360:800k:96k,480p:480:1400k:128k,720p:720:2800k:128k,1080p:1080:5000k:160k" desc:"encoding ladder: NAME:SHORT_SIDE:VIDEO_BITRATE:AUDIO_BITRATE[:CODEC], comma-separated; CODEC h264 (default), hevc or av1; the lowest rung must be h264"`
	// MaxDuration rejects longer sources (permanent error). Default: 2h.
	MaxDuration time.Duration `mapstructure:"max_duration" default:"2h" desc:"longest accepted source duration"`
	// MaxPixels rejects sources with more pixels per frame
	// (width×height, permanent error); also passed to the decoders as
	// -max_pixels. Default: 8294400 (3840x2160, 4K UHD).
	MaxPixels int64 `mapstructure:"max_pixels" default:"8294400" desc:"largest accepted frame, width×height pixels (default 3840x2160)"`
	// MaxFileSize rejects larger sources before they are downloaded
	// (permanent error). Default: 10737418240 (10 GiB).
	MaxFileSize int64 `mapstructure:"max_file_size" default:"10737418240" desc:"largest accepted source file in bytes"`
	// Threads bounds ffmpeg's threads for decoding, filtering and each
	// encoder; 0 lets ffmpeg choose. Default: 0.
	Threads int `mapstructure:"threads" default:"0" desc:"ffmpeg threads per decoder, filter graph and encoder (0: automatic)"`
	// Preset is the libx264 preset. Default: veryfast.
	Preset string `mapstructure:"preset" default:"veryfast" desc:"libx264 preset (ultrafast .. veryslow)"`
	// HEVCPreset is the libx265 preset of the ladder's hevc rungs.
	// Default: veryfast.
	HEVCPreset string `mapstructure:"hevc_preset" default:"veryfast" desc:"libx265 preset of hevc rungs (ultrafast .. placebo)"`
	// AV1Preset is the libsvtav1 preset of the ladder's av1 rungs, 1
	// (slowest) to 13 (fastest). Default: 10.
	AV1Preset int `mapstructure:"av1_preset" default:"10" desc:"libsvtav1 preset of av1 rungs (1 slowest .. 13 fastest)"`
	// GOPSeconds is the keyframe interval and HLS segment duration, the
	// same for every rung so segments align. Default: 2.
	GOPSeconds int `mapstructure:"gop_seconds" default:"2" desc:"keyframe interval and HLS segment length in seconds"`
	// TempDir is where each attempt makes its working directory (removed
	// when the attempt ends). Default: empty, the system temp dir ($TMPDIR or /tmp).
	TempDir string `mapstructure:"temp_dir" default:"" desc:"parent of the per-attempt working directories (default: system temp dir)"`
	// FFmpeg and FFprobe are the binaries. Default: ffmpeg and ffprobe from PATH.
	FFmpeg  string `mapstructure:"ffmpeg" default:"ffmpeg" desc:"ffmpeg binary"`
	FFprobe string `mapstructure:"ffprobe" default:"ffprobe" desc:"ffprobe binary"`
	// ProgressInterval is the minimum time between two progress log lines
	// of one transcode. Default: 10s.
	ProgressInterval time.Duration `mapstructure:"progress_interval" default:"10s" desc:"minimum time between progress log lines"`
	// UploadConcurrency is the number of outputs uploaded in parallel. Default: 4.
	UploadConcurrency int `mapstructure:"upload_concurrency" default:"4" desc:"outputs uploaded in parallel"`
	// ProbeTimeout bounds each ffprobe run of its own (headers of the
	// source, each rendition); a source whose probe exceeds it is refused
	// (permanent). Default: 30s.
	ProbeTimeout time.Duration `mapstructure:"probe_timeout" default:"30s" desc:"timeout of one ffprobe run; a source exceeding it is refused"`
	// ScanTimeout bounds the demux-only pass over the source's packets
	// that measures the real timeline; a source exceeding it is refused
	// (permanent). Default: 10m.
	ScanTimeout time.Duration `mapstructure:"scan_timeout" default:"10m" desc:"timeout of the demux-only packet scan of a source; a source exceeding it is refused"`
	// MaxSourceFPS rejects sources with more video frames per second of
	// declared duration (permanent error). Default: 300.
	MaxSourceFPS int `mapstructure:"max_source_fps" default:"300" desc:"most video frames per second of declared duration accepted in a source"`
	// MaxWorkDirSize bounds the working directory (source and every
	// output) while ffmpeg runs; beyond it the transcode is stopped and the
	// source refused (permanent). Default: 42949672960 (40 GiB).
	MaxWorkDirSize int64 `mapstructure:"max_work_dir_size" default:"42949672960" desc:"largest working directory of one transcode in bytes (source and outputs); beyond it the source is refused"`
	// ChunkSeconds is the length of a work item of the segment pipeline:
	// sources are cut into chunks of this many seconds (rounded up to a
	// multiple of GOPSeconds), each encoded into every rung by whichever member of the
	// transcode group takes it; 0 switches the segment pipeline off (one
	// worker encodes the whole video in one pass, and video.playable is not
	// published). Small chunks spread a few short videos evenly over the
	// group (a 10 s video is 1+4+4+1 s); each costs one ffmpeg start and a
	// decode from the source keyframe before it. Default: 4.
	ChunkSeconds int `mapstructure:"chunk_seconds" default:"4" desc:"seconds of video per work item (rounded up to a multiple of gop_seconds); 0: whole video in one pass on one worker"`
	// FirstChunkSeconds is the length of the first chunk (and first HLS
	// segment): short, so that the video is playable early. 0: the same as
	// ChunkSeconds. Default: 1.
	FirstChunkSeconds int `mapstructure:"first_chunk_seconds" default:"1" desc:"seconds of the first work item and HLS segment (short: playable sooner); 0: chunk_seconds"`
	// ChunkMinDuration: sources not longer than this are one work item.
	// On one process one item is 4-16 % faster to video.transcoded up to
	// 16 s (make bench, scenario 12), but a video cut in chunks is playable
	// after its first chunk: 1.7 s sooner at 4 s, 8 s sooner at 16 s; at
	// 2 s one item is playable only 0.3 s later. Default: 3s.
	ChunkMinDuration time.Duration `mapstructure:"chunk_min_duration" default:"3s" desc:"sources not longer than this are encoded as one work item"`
	// SourceCacheSize bounds the sources a worker keeps on disk for the
	// chunks it encodes (least recently used evicted first; a source in use
	// is never evicted). Default: 21474836480 (20 GiB).
	SourceCacheSize int64 `mapstructure:"source_cache_size" default:"21474836480" desc:"bytes of downloaded sources kept for further chunks of the same videos"`
	// Sandbox runs every ffmpeg and ffprobe in a network namespace of its
	// own (no connection at all, not even to 127.0.0.1): "auto" when the
	// kernel allows it (reported on /readyz and vidpipe_sandbox_active),
	// "required" refuses to start without it, "off" never. The minimal
	// environment and resource limits apply in every mode. Default: auto.
	Sandbox string `mapstructure:"sandbox" default:"auto" desc:"ffmpeg/ffprobe in their own network namespace: auto (when the kernel allows), required (refuse to start without), off"`
	// SandboxMaxMemory is each ffmpeg/ffprobe's address-space limit
	// (RLIMIT_AS) in bytes; 0: none. Default: 17179869184 (16 GiB).
	SandboxMaxMemory int64 `mapstructure:"sandbox_max_memory" default:"17179869184" desc:"address-space limit (RLIMIT_AS) of each ffmpeg/ffprobe in bytes (0: none)"`
	// GCDelay is how long after a reprocess's generation is made the MP4s
	// and HLS packages of the generations it supersedes are removed (group
	// transcode-gc, platform/outputgc), so that players that loaded the
	// old playlists just before the switch can go on; 0 removes them at
	// once. At most 1h and below stage.attempt_timeout, which bounds the
	// wait. Default: 1m.
	GCDelay time.Duration `mapstructure:"gc_delay" default:"1m" desc:"wait after a reprocessed generation is ready before the superseded generations' MP4s and HLS are removed (0: at once; at most 1h, below stage.attempt_timeout)"`
	// Loudness is the EBU R128 measurement and normalization of the
	// audio (section "transcode.loudness", see LoudnessSettings).
	Loudness LoudnessSettings `mapstructure:"loudness"`
}

// MaxChunkedDuration is the longest max_duration of the segment pipeline:
// MPEG-TS timestamps (33 bits at 90 kHz) wrap after 26.5 h, and the
// chunks keep the source's timeline plus ffmpeg.TimelineOffset.
const MaxChunkedDuration = 24 * time.Hour

// DefaultSettings returns the documented defaults (what config.Load fills
// in when nothing is set).
func DefaultSettings() Settings {
	return Settings{
		Ladder:            ladder.DefaultSpec,
		MaxDuration:       2 * time.Hour,
		MaxPixels:         3840 * 2160,
		MaxFileSize:       10 << 30,
		Preset:            "veryfast",
		HEVCPreset:        ffmpeg.DefaultHEVCPreset,
		AV1Preset:         ffmpeg.DefaultAV1Preset,
		GOPSeconds:        2,
		FFmpeg:            "ffmpeg",
		FFprobe:           "ffprobe",
		ProgressInterval:  10 * time.Second,
		UploadConcurrency: 4,
		ProbeTimeout:      30 * time.Second,
		ScanTimeout:       10 * time.Minute,
		MaxSourceFPS:      300,
		MaxWorkDirSize:    40 << 30,
		ChunkSeconds:      4,
		FirstChunkSeconds: 1,
		SourceCacheSize:   20 << 30,
		ChunkMinDuration:  3 * time.Second,
		Sandbox:           "auto",
		SandboxMaxMemory:  16 << 30,
		GCDelay:           time.Minute,
		Loudness:          DefaultLoudnessSettings(),
	}
}

// Presets are the libx264 presets accepted for Settings.Preset.
var Presets = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"}

// Validate reports every unacceptable setting, each as a *config.FieldError.
func (s Settings) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &config.FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if _, err := ladder.Parse(s.Ladder); err != nil {
		bad("ladder", "%v", err)
	}
	if s.MaxDuration <= 0 || s.MaxDuration > 7*24*time.Hour {
		bad("max_duration", "must be between 1ns and 168h (got %s)", s.MaxDuration)
	}
	if maxPixels := int64(contract.MaxDimension) * contract.MaxDimension; s.MaxPixels < 64*64 || s.MaxPixels > maxPixels {
		bad("max_pixels", "must be between %d and %d (got %d)", 64*64, maxPixels, s.MaxPixels)
	}
	if s.MaxFileSize < 1 {
		bad("max_file_size", "must be at least 1 (got %d)", s.MaxFileSize)
	}
	if s.Threads < 0 || s.Threads > 64 {
		bad("threads", "must be between 0 and 64 (got %d)", s.Threads)
	}
	if !slices.Contains(Presets, s.Preset) {
		bad("preset", "must be one of %v (got %q)", Presets, s.Preset)
	}
	if !slices.Contains(ffmpeg.HEVCPresets, s.HEVCPreset) {
		bad("hevc_preset", "must be one of %v (got %q)", ffmpeg.HEVCPresets, s.HEVCPreset)
	}
	if s.AV1Preset < 1 || s.AV1Preset > 13 {
		bad("av1_preset", "must be between 1 and 13 (got %d)", s.AV1Preset)
	}
	if s.GOPSeconds < 1 || s.GOPSeconds > 10 {
		bad("gop_seconds", "must be between 1 and 10 (got %d)", s.GOPSeconds)
	}
	if s.TempDir != "" {
		if fi, err := os.Stat(s.TempDir); err != nil || !fi.IsDir() {
			bad("temp_dir", "must be an existing directory (got %q)", s.TempDir)
		}
	}
	if s.FFmpeg == "" {
		bad("ffmpeg", "must not be empty")
	}
	if s.FFprobe == "" {
		bad("ffprobe", "must not be empty")
	}
	if s.ProgressInterval <= 0 {
		bad("progress_interval", "must be greater than 0 (got %s)", s.ProgressInterval)
	}
	if s.UploadConcurrency < 1 || s.UploadConcurrency > 64 {
		bad("upload_concurrency", "must be between 1 and 64 (got %d)", s.UploadConcurrency)
	}
	if _, err := procgroup.ParseMode(s.Sandbox); err != nil {
		bad("sandbox", "%v", err)
	}
	if s.SandboxMaxMemory != 0 && s.SandboxMaxMemory < 256<<20 {
		bad("sandbox_max_memory", "must be 0 (no limit) or at least 268435456 (got %d)", s.SandboxMaxMemory)
	}
	if s.ProbeTimeout <= 0 {
		bad("probe_timeout", "must be greater than 0 (got %s)", s.ProbeTimeout)
	}
	if s.ScanTimeout <= 0 {
		bad("scan_timeout", "must be greater than 0 (got %s)", s.ScanTimeout)
	}
	if s.MaxSourceFPS < 1 || s.MaxSourceFPS > 10000 {
		bad("max_source_fps", "must be between 1 and 10000 (got %d)", s.MaxSourceFPS)
	}
	if s.ChunkSeconds < 0 || s.ChunkSeconds > 600 {
		bad("chunk_seconds", "must be between 0 and 600 (got %d)", s.ChunkSeconds)
	}
	if s.ChunkSeconds > 0 && s.MaxDuration > MaxChunkedDuration {
		bad("max_duration", "must be at most %s with the segment pipeline (chunk_seconds > 0): its MPEG-TS segments' timestamps wrap after 26.5 h (got %s; set chunk_seconds 0 for longer sources)", MaxChunkedDuration, s.MaxDuration)
	}
	if s.FirstChunkSeconds < 0 || s.FirstChunkSeconds > 600 {
		bad("first_chunk_seconds", "must be between 0 and 600 (got %d)", s.FirstChunkSeconds)
	}
	if s.ChunkMinDuration < 0 {
		bad("chunk_min_duration", "must not be negative (got %s)", s.ChunkMinDuration)
	}
	if s.SourceCacheSize < 0 {
		bad("source_cache_size", "must not be negative (got %d)", s.SourceCacheSize)
	}
	if s.MaxWorkDirSize < 1 {
		bad("max_work_dir_size", "must be at least 1 (got %d)", s.MaxWorkDirSize)
	}
	if s.GCDelay < 0 || s.GCDelay > time.Hour {
		bad("gc_delay", "must be between 0 and 1h (got %s)", s.GCDelay)
	}
	for _, err := range s.Loudness.validate() {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

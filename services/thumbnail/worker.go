package thumbnail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/procgroup"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/platform/storage"
)

// GCDirs are the folders of a generation's outputs that thumbnail owns:
// platform/outputgc removes them from superseded generations.
var GCDirs = []string{"thumbs/"}

// Object names under the thumbnail prefix of the event's generation
// (contract.Video.Outputs: contract.ThumbnailPrefix(id) for generation 0).
const (
	PosterName    = "poster.jpg"
	ThumbName     = "thumb.jpg"
	SpriteVTTName = "sprite.vtt"
)

// Content types of the objects written.
const (
	contentTypeJPEG = "image/jpeg"
	contentTypeVTT  = "text/vtt; charset=utf-8"
)

// Store is the part of the object store the worker uses.
type Store interface {
	GetToFile(ctx context.Context, key, path string) (int64, error)
	PutFile(ctx context.Context, key, path, contentType string) (storage.ObjectInfo, error)
}

var _ Store = (*storage.Store)(nil)

// Worker is the thumbnail stage's handler.
type Worker struct {
	cfg   Settings
	store Store
	log   *slog.Logger
	now   func() time.Time
}

// NewWorker returns a Worker that reads renditions from and writes stills
// to store. cfg must be valid (Settings.Validate); log may be nil.
func NewWorker(cfg Settings, store Store, log *slog.Logger) *Worker {
	if log == nil {
		log = slog.Default()
	}
	return &Worker{cfg: cfg, store: store, log: log, now: time.Now}
}

// Handle makes the stills of one video and returns the video.thumbnailed
// event describing them.
//
// It downloads one rendition (see pickRendition) into a work directory
// that is removed on every path, writes poster, thumbnail and (if
// enabled) sprite sheet + WebVTT, and uploads them under deterministic
// keys, so a replay overwrites the same objects.
//
// Errors: a rendition object that is missing, not an MP4, has no video
// stream, has frames over Settings.MaxPixels or no decodable frame is
// permanent (stage.Permanent) — the input can never succeed. Object-store failures, a killed or failing ffmpeg
// and a cancelled context are transient: the runtime retries.
func (w *Worker) Handle(ctx context.Context, in contract.VideoTranscoded) (contract.VideoThumbnailed, error) {
	var zero contract.VideoThumbnailed
	if err := in.Validate(); err != nil { // keys outside the video, ...: also when called directly
		return zero, stage.Permanent(err)
	}
	if in.Media.IsAudio() {
		return w.handleAudio(ctx, in) // waveform.go
	}
	rend, err := pickRendition(in.Renditions)
	if err != nil {
		return zero, stage.Coded(contract.ErrorCodeInvalidEvent, stage.Permanent(err))
	}
	dir, src, cleanup, err := w.fetchRendition(ctx, rend, "rendition.mp4")
	if err != nil {
		return zero, err
	}
	defer cleanup()
	p, err := w.probeFile(ctx, src)
	if err != nil {
		return zero, w.mediaError(ctx, rend, err)
	}
	if err := p.checkSize(w.cfg.MaxPixels); err != nil {
		return zero, stage.Coded(contract.ErrorCodeTooLarge, stage.Permanentf("rendition %s (%s) is too large: %w", rend.Name, rend.Key, err))
	}
	duration := p.Duration
	if duration <= 0 {
		duration = in.Media.DurationSeconds
	}
	// The rendition's header is trusted for nothing that costs work: its
	// packets must span what it declares (transcode capped it there).
	if err := w.checkTimeline(ctx, src, duration); err != nil {
		return zero, w.mediaError(ctx, rend, err)
	}

	poster, thumb, err := w.stills(ctx, dir, src, duration)
	if err != nil {
		return zero, w.mediaError(ctx, rend, err)
	}
	prefix := in.Outputs().ThumbnailPrefix() // of the event's output generation
	var th contract.Thumbnails
	if th.Poster, err = w.upload(ctx, prefix+PosterName, poster, contentTypeJPEG); err != nil {
		return zero, err
	}
	if th.Small, err = w.upload(ctx, prefix+ThumbName, thumb, contentTypeJPEG); err != nil {
		return zero, err
	}
	if w.cfg.Sprite {
		sprite, vttKey, err := w.spriteSheet(ctx, rend, dir, src, duration, prefix)
		if err != nil {
			return zero, err
		}
		th.Sprite, th.SpriteVTTKey = &sprite, vttKey
	}

	out := in.Thumbnailed(th, w.now())
	if err := out.Validate(); err != nil {
		return zero, stage.Permanent(fmt.Errorf("thumbnailed event: %w", err))
	}
	w.log.InfoContext(ctx, "thumbnails written", "video_id", in.VideoID, "rendition", rend.Name,
		"poster", fmt.Sprintf("%dx%d", th.Poster.Width, th.Poster.Height), "sprite", th.Sprite != nil)
	return out, nil
}

// spriteSheet writes and uploads the sprite sheet and its WebVTT.
func (w *Worker) spriteSheet(ctx context.Context, rend contract.Rendition, dir, src string, duration float64, prefix string) (contract.Image, string, error) {
	path := filepath.Join(dir, SpriteName)
	if err := w.sprite(ctx, src, duration, path); err != nil {
		return contract.Image{}, "", w.mediaError(ctx, rend, fmt.Errorf("sprite: %w", err))
	}
	sw, sh, err := jpegSize(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return contract.Image{}, "", w.mediaError(ctx, rend, fmt.Errorf("sprite: %w", errNoFrame))
		}
		return contract.Image{}, "", err
	}
	rows := (w.cfg.SpriteTiles + w.cfg.SpriteColumns - 1) / w.cfg.SpriteColumns
	vttPath := filepath.Join(dir, SpriteVTTName)
	f, err := os.Create(vttPath)
	if err != nil {
		return contract.Image{}, "", fmt.Errorf("sprite vtt: %w", err)
	}
	err = writeSpriteVTT(f, duration, w.cfg.SpriteTiles, w.cfg.SpriteColumns, sw/w.cfg.SpriteColumns, sh/rows)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return contract.Image{}, "", fmt.Errorf("sprite vtt: %w", err)
	}
	img, err := w.upload(ctx, prefix+SpriteName, imageFile{Path: path, Width: sw, Height: sh}, contentTypeJPEG)
	if err != nil {
		return contract.Image{}, "", err
	}
	if _, err := w.store.PutFile(ctx, prefix+SpriteVTTName, vttPath, contentTypeVTT); err != nil {
		return contract.Image{}, "", fmt.Errorf("upload %s: %w", prefix+SpriteVTTName, err)
	}
	return img, prefix + SpriteVTTName, nil
}

// upload stores one still and describes it. Failures are transient.
func (w *Worker) upload(ctx context.Context, key string, f imageFile, contentType string) (contract.Image, error) {
	info, err := w.store.PutFile(ctx, key, f.Path, contentType)
	if err != nil {
		return contract.Image{}, fmt.Errorf("upload %s: %w", key, err)
	}
	return contract.Image{Key: key, Width: f.Width, Height: f.Height, Size: info.Size}, nil
}

// mediaError classifies a failure of probing or decoding a rendition. A
// cancelled attempt, a tool killed by a signal, a tool that could not be
// started and an ffmpeg that failed on a file ffprobe accepted (e.g. a full
// disk) are transient; a file ffprobe rejects, one without video, or one
// from which no frame decodes is permanent.
func (w *Worker) mediaError(ctx context.Context, r contract.Rendition, err error) error {
	if ctx.Err() != nil {
		return err
	}
	var te *procgroup.ToolError
	var tt *ToolTimeoutError
	switch {
	case errors.As(err, &tt):
		return stage.Coded(contract.ErrorCodeCorruptMedia, stage.Permanentf("rendition %s (%s) is too slow to process, not retried: %w", r.Name, r.Key, err))
	case errors.Is(err, errTimeline):
		return stage.Coded(contract.ErrorCodeDurationMismatch, stage.Permanentf("rendition %s (%s) is not what it declares: %w", r.Name, r.Key, err))
	case errors.Is(err, errNoVideo), errors.Is(err, errNoFrame), errors.Is(err, errNoAudio):
		return stage.Coded(contract.ErrorCodeCorruptMedia, stage.Permanentf("rendition %s (%s) is undecodable: %w", r.Name, r.Key, err))
	case errors.As(err, &te) && te.Tool == filepath.Base(w.cfg.FFprobe) && procgroup.Exited(te.Err) &&
		strings.Contains(te.Stderr, "not on whitelist"):
		return stage.Coded(contract.ErrorCodeUnsupportedFormat, stage.Permanentf("rendition %s (%s) is undecodable (not an MP4): %w", r.Name, r.Key, err))
	case errors.As(err, &te) && te.Tool == filepath.Base(w.cfg.FFprobe) && procgroup.Exited(te.Err):
		return stage.Coded(contract.ErrorCodeCorruptMedia, stage.Permanentf("rendition %s (%s) is undecodable: %w", r.Name, r.Key, err))
	}
	return fmt.Errorf("rendition %s: %w", r.Name, err)
}

// fetchRendition downloads rendition rend into a new work directory as
// file name: a missing object is a permanent source_missing error.
// cleanup removes the directory.
func (w *Worker) fetchRendition(ctx context.Context, rend contract.Rendition, name string) (dir, src string, cleanup func(), err error) {
	dir, err = os.MkdirTemp(w.cfg.TempDir, workDirPattern)
	if err != nil {
		return "", "", nil, fmt.Errorf("work dir: %w", err)
	}
	cleanup = func() {
		if err := os.RemoveAll(dir); err != nil {
			w.log.WarnContext(ctx, "removing work dir", "dir", dir, "err", err)
		}
	}
	src = filepath.Join(dir, name)
	if _, err := w.store.GetToFile(ctx, rend.Key, src); err != nil {
		cleanup()
		if errors.Is(err, storage.ErrNotFound) {
			return "", "", nil, stage.Coded(contract.ErrorCodeSourceMissing, stage.Permanentf("rendition %s not found: %w", rend.Name, err))
		}
		return "", "", nil, fmt.Errorf("download rendition %s: %w", rend.Name, err)
	}
	return dir, src, cleanup, nil
}

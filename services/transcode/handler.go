// Package transcode is the transcode worker: it consumes video.uploaded,
// turns the source into an H.264/AAC ladder of progressive MP4s plus an
// HLS package with one ffmpeg process, uploads them under deterministic
// keys and publishes video.transcoded.
//
// # Handling one video ([Worker.Handle])
//
//  1. Download the source (size-checked before and while downloading) into
//     a fresh working directory under Settings.TempDir, removed on every path.
//  2. Probe it (package probe): only media containers from an allowlist,
//     a video stream (or an audio stream: an audio asset, audioasset.go), a duration, and the configured limits (duration,
//     pixels, file size) pass; anything else is a permanent error.
//     Then a demux-only pass reads the packets' timestamps (no decoding):
//     a real timeline longer or shorter than the declared duration, or too
//     many frames per second, is a permanent error. The header is trusted
//     for nothing that costs work.
//  3. Pick the rungs (package ladder) from the display size (rotation and
//     pixel aspect applied).
//  4. Run one ffmpeg (package ffmpeg): one decode, one encode per rung,
//     each written as MP4 (+faststart) and as a fragmented MP4 that is cut
//     into the rung's CMAF track (package cmaf), the audio likewise. Its output
//     timeline is capped (-t) at the declared duration plus a tolerance,
//     only the probed streams' decoders may run (-codec_whitelist), and a
//     watchdog stops it (permanent error) when a rung's files outgrow their
//     bitrate over that duration, a rung has more segments than the
//     duration needs (fragments of its fragmented MP4), or the working directory passes
//     Settings.MaxWorkDirSize. An attempt that times out with less than
//     half of the video written is permanent too (see [classifyTimeout]):
//     retrying it would time out again.
//     The audio's loudness is measured by an audio-only pass of its own
//     (alongside, or first when transcode.loudness.target_lufs normalizes
//     it in this encode; see [LoudnessSettings]): media.loudness.
//  5. Check the outputs with ffprobe (codec, size, audio present, and that
//     the whole declared duration was decoded: a truncated file or a lying
//     duration header is a permanent error), measure the segments and write
//     the master playlist (package hls) and the DASH MPD (package dash).
//  6. Upload: init and media segments and media playlists, then the MP4s,
//     the MPD, and the master playlist last, and remove objects a previous run left under
//     the video's mp4/ and hls/ prefixes that this run did not write, so a
//     re-run leaves exactly the same key set.
//
// Keys (package contract), of the event's output generation
// (contract.Video.Outputs; generation 0: videos/{id}/…, generation N:
// videos/{id}/g{N}/…): MP4 renditions at Outputs.RenditionKey(rung);
// HLS/DASH under Outputs.HLSPrefix: master.m3u8 (Outputs.HLSMasterKey),
// manifest.mpd (Outputs.DASHManifestKey), <rung>/init.mp4,
// <rung>/seg_NNNNN.m4s and <rung>/index.m3u8, and the same per audio
// rendition under audio/<kbps>k/.
//
// Errors wrapped with stage.Permanent are about the input and go straight
// to the DLQ, each with its user-safe code (stage.Coded) set where it is
// created; any other error (storage unreachable, ffmpeg killed, timeout)
// is retried by the stage runtime.
package transcode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/transcode/cmaf"
	"github.com/vidpipe/vidpipe/services/transcode/dash"
	"github.com/vidpipe/vidpipe/services/transcode/ffmpeg"
	"github.com/vidpipe/vidpipe/services/transcode/hls"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

// WorkDirPrefix starts the name of every per-attempt work directory
// (platform/workdir.Sweep removes those left by killed workers).
const WorkDirPrefix = "vidpipe-transcode-"

// Store is the object storage the worker uses (the calls it makes on
// *storage.Store).
type Store interface {
	Bucket() string
	Stat(ctx context.Context, key string) (storage.ObjectInfo, error)
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	GetToFile(ctx context.Context, key, path string) (int64, error)
	PutFile(ctx context.Context, key, path, contentType string) (storage.ObjectInfo, error)
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (storage.ObjectInfo, error)
	List(ctx context.Context, prefix string) ([]storage.ObjectInfo, error)
	Remove(ctx context.Context, key string) error
	RemovePrefix(ctx context.Context, prefix string) error
}

var _ Store = (*storage.Store)(nil)

// Worker transcodes videos. It is safe for concurrent use: each Handle
// call has its own working directory.
type Worker struct {
	settings Settings
	ladder   ladder.Ladder
	store    Store
	prober   probe.Prober
	runner   ffmpeg.Runner
	log      *slog.Logger
	now      func() time.Time

	// The segment pipeline's state (see Plan, Chunk, Assemble): the
	// source cache, plans read, and the fan-in's per-run cache.
	cache       *sourceCache
	stopJanitor chan struct{}
	plansMu     sync.Mutex
	plans       map[string]*Plan
	runsMu      sync.Mutex
	runs        map[string]*runState
}

// NewWorker returns a Worker with settings s (validated here), reading and
// writing objects in store. metrics may be nil.
func NewWorker(s Settings, store Store, log *slog.Logger, metrics *ffmpeg.Metrics) (*Worker, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("transcode settings: %w", err)
	}
	l, err := ladder.Parse(s.Ladder)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Worker{
		settings: s,
		ladder:   l,
		store:    store,
		prober:   probe.Prober{Path: s.FFprobe, MaxPixels: s.MaxPixels, Timeout: s.ProbeTimeout},
		runner:   ffmpeg.Runner{Path: s.FFmpeg, Logger: log, ProgressInterval: s.ProgressInterval, Metrics: metrics},
		log:      log,
		now:      time.Now,
		plans:    map[string]*Plan{},
		runs:     map[string]*runState{},
	}, nil
}

// StartChunks prepares the worker for the segment pipeline: its source
// cache directory under Settings.TempDir. Close removes it.
func (w *Worker) StartChunks() error {
	if w.cache != nil {
		return nil
	}
	c, err := newSourceCache(w.settings.TempDir, w.settings.SourceCacheSize, w.log)
	if err != nil {
		return err
	}
	w.cache = c
	w.stopJanitor = make(chan struct{})
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				c.expire(sourceCacheIdle)
			case <-w.stopJanitor:
				return
			}
		}
	}()
	return nil
}

// Close removes the source cache.
func (w *Worker) Close() error {
	if w.cache == nil {
		return nil
	}
	close(w.stopJanitor)
	return w.cache.close()
}

// Limits are the probe limits from the settings.
func (w *Worker) Limits() probe.Limits {
	return probe.Limits{
		MaxDuration:  w.settings.MaxDuration,
		MaxPixels:    w.settings.MaxPixels,
		MaxFileSize:  w.settings.MaxFileSize,
		MaxDimension: contract.MaxDimension,
	}
}

// sourceName is the downloaded source inside the working directory.
const sourceName = "source"

// Handle transcodes in's source and returns the video.transcoded event. It
// is idempotent: the same input writes the same keys (see the package doc).
// A refusal is permanent and carries its user-safe error code
// (stage.Coded, set where the error is created), which the dead letter
// and the video's status show instead of the raw error; a transient error
// carries none (the runtime then says internal).
func (w *Worker) Handle(ctx context.Context, in contract.VideoUploaded) (contract.VideoTranscoded, error) {
	var zero contract.VideoTranscoded
	if err := w.checkUpload(in); err != nil {
		return zero, err
	}
	start := w.now()
	log := w.log.With("video_id", in.VideoID)
	dir, err := os.MkdirTemp(w.settings.TempDir, WorkDirPrefix+in.VideoID+"-")
	if err != nil {
		return zero, fmt.Errorf("working directory: %w", err)
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("remove working directory", "dir", dir, "err", err)
		}
	}()

	src := filepath.Join(dir, sourceName)
	if err := w.download(ctx, in.Source.Key, src); err != nil {
		return zero, err
	}
	prep, err := w.prepare(ctx, src)
	if err != nil {
		return zero, err
	}
	if prep.probe.IsAudio() {
		return w.handleAudio(ctx, in, dir, src, prep, log, start) // audioasset.go
	}
	pr, declared, decoders, rends := prep.probe, prep.declared, prep.decoders, prep.rends
	outRate, _ := w.job(pr, rends).FrameRate()
	rends = alignedRenditions(log, rends, outRate, w.settings.GOPSeconds,
		singlePassSegments(declared+probe.Tolerance(declared), w.settings.GOPSeconds))
	v := pr.Video
	log.Info("transcode start", "format", pr.FormatName, "video", fmt.Sprintf("%s %dx%d rot %d", v.Codec, v.Width, v.Height, v.Rotation),
		"display", fmt.Sprintf("%dx%d", v.DisplayWidth, v.DisplayHeight), "audio", pr.Audio != nil,
		"duration_s", pr.Duration, "renditions", len(rends))

	job := w.job(pr, rends)
	job.Encoding.Decoders = decoders
	job.Encoding.MaxSeconds = declared + probe.Tolerance(declared)
	loud, err := w.planLoudness(ctx, in.VideoID, dir, src, pr, job.Encoding, job.Encoding.MaxSeconds, nil, nil)
	if err != nil {
		return zero, err
	}
	defer loud.abandon()
	job.Loudnorm = loud.norm
	args, err := job.Args()
	if err != nil {
		return zero, fmt.Errorf("ffmpeg command: %w", err)
	}
	if err := ffmpeg.MakeDirs(dir, job.OutputDirs()); err != nil {
		return zero, err
	}
	runner := w.runner
	runner.Logger = log // progress lines carry the video id
	wd := w.newWatchdog(dir, src, rends, job.Encoding.MaxSeconds)
	rctx, stop := context.WithCancelCause(ctx)
	runStart := w.now()
	done := make(chan struct{})
	go func() { defer close(done); wd.watch(rctx, stop) }()
	err = runner.Run(rctx, dir, args, declared)
	stop(nil)
	<-done
	if err != nil {
		var le *limitError
		switch {
		case errors.As(context.Cause(rctx), &le) && ctx.Err() == nil:
			return zero, le.refusal()
		case ctx.Err() != nil:
			return zero, classifyTimeout(ctx, fmt.Errorf("transcode: %w", err), wd.written(), declared, w.now().Sub(runStart))
		}
		if errors.Is(err, ffmpeg.ErrRejected) {
			return zero, stage.Coded(contract.ErrorCodeCorruptMedia, stage.Permanent(fmt.Errorf("transcode: %w", err)))
		}
		return zero, fmt.Errorf("transcode: %w", err)
	}

	cut, err := job.Cut(dir)
	if err != nil {
		return zero, fmt.Errorf("transcode: %w", err)
	}
	rate, fps := job.FrameRate()
	renditions, err := w.inspect(ctx, dir, in.Outputs(), rends, pr.Audio != nil, declared)
	if err != nil {
		return zero, err
	}
	if err := w.writePackage(dir, job, cut, rate, fps); err != nil {
		return zero, err
	}
	if err := w.upload(ctx, dir, in.Outputs(), job, cut); err != nil {
		return zero, err
	}

	media := contract.Media{
		DurationSeconds: pr.Duration,
		Width:           v.DisplayWidth,
		Height:          v.DisplayHeight,
		Format:          pr.FormatName,
		VideoCodec:      v.Codec,
		FrameRate:       v.FPS,
		Bitrate:         pr.BitRate,
	}
	if media.DurationSeconds <= 0 {
		media.DurationSeconds = declared
	}
	if pr.Audio != nil {
		media.AudioCodec = pr.Audio.Codec
	}
	if media.Loudness, err = loud.result(); err != nil {
		return zero, err
	}
	out := in.Transcoded(media, renditions, contract.HLS{MasterKey: in.Outputs().HLSMasterKey()}, w.now())
	out.DASH = &contract.DASH{ManifestKey: in.Outputs().DASHManifestKey()}
	if err := out.Validate(); err != nil {
		return zero, fmt.Errorf("transcode result: %w", err)
	}
	log.Info("transcode done", "renditions", len(renditions), "elapsed", w.now().Sub(start).Round(time.Millisecond))
	return out, nil
}

// checkUpload refuses (permanently) an invalid event, a source in another
// bucket or one larger than MaxFileSize, before anything is downloaded.
func (w *Worker) checkUpload(in contract.VideoUploaded) error {
	if err := in.Validate(); err != nil {
		return stage.Permanent(err)
	}
	if in.Source.Bucket != w.store.Bucket() {
		return stage.Coded(contract.ErrorCodeInvalidEvent,
			stage.Permanentf("source bucket %q is not the configured bucket %q", in.Source.Bucket, w.store.Bucket()))
	}
	if in.Source.Size > w.settings.MaxFileSize {
		return stage.Coded(contract.ErrorCodeTooLarge,
			stage.Permanentf("source size %d bytes exceeds the limit of %d bytes", in.Source.Size, w.settings.MaxFileSize))
	}
	return nil
}

// job is the ffmpeg job for a probed source (input "source" in the working
// directory) and its renditions.
func (w *Worker) job(pr *probe.Result, rends []ladder.Rendition) ffmpeg.Job {
	return ffmpeg.Job{
		Input:      sourceName,
		Source:     pr,
		Renditions: rends,
		Encoding: ffmpeg.Encoding{
			Preset:     w.settings.Preset,
			HEVCPreset: w.settings.HEVCPreset,
			AV1Preset:  w.settings.AV1Preset,
			GOPSeconds: w.settings.GOPSeconds,
			Threads:    w.settings.Threads,
			MaxPixels:  w.settings.MaxPixels,
		},
	}
}

// rejected marks err permanent, with its code, when it wraps a
// *probe.Rejection; other errors (ffprobe missing or killed, a cancelled
// context) are returned as they are, to be retried.
func rejected(err error) error {
	var rj *probe.Rejection
	if errors.As(err, &rj) {
		return stage.Coded(rj.Code, stage.Permanent(err))
	}
	return err
}

// SourceMissingPrefix starts the dead-letter reason (dlq.error) of a
// video.uploaded whose source object does not exist: the upload was
// withdrawn (the API removed it after Kafka refused the event) or never
// completed. It is not a media problem, unlike a corrupt or unsupported
// source, and redriving it cannot help until the source exists.
const SourceMissingPrefix = "source missing:"

// sourceMissing is the permanent error for a source object that is not in
// storage.
func sourceMissing(key string, err error) error {
	return stage.Coded(contract.ErrorCodeSourceMissing, stage.Permanentf("%s %s does not exist: the upload was withdrawn or never completed (not a media error): %w",
		SourceMissingPrefix, key, err))
}

// download copies the source object to path, refusing (permanently) a
// missing, empty or oversized object; at most MaxFileSize+1 bytes are read.
func (w *Worker) download(ctx context.Context, key, path string) error {
	max := w.settings.MaxFileSize
	info, err := w.store.Stat(ctx, key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return sourceMissing(key, err)
	case err != nil:
		return fmt.Errorf("source: %w", err)
	case info.Size == 0:
		return stage.Coded(contract.ErrorCodeCorruptMedia, stage.Permanentf("source %s is empty", key))
	case info.Size > max:
		return stage.Coded(contract.ErrorCodeTooLarge, stage.Permanentf("source %s: size %d bytes exceeds the limit of %d bytes", key, info.Size, max))
	}
	rc, err := w.store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return sourceMissing(key, err)
	} else if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("download source: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(rc, max+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return fmt.Errorf("download source %s: %w", key, err)
	case n > max:
		return stage.Coded(contract.ErrorCodeTooLarge, stage.Permanentf("source %s: more than the limit of %d bytes", key, max))
	case n == 0:
		return stage.Coded(contract.ErrorCodeCorruptMedia, stage.Permanentf("source %s is empty", key))
	}
	return nil
}

func makeOutputDirs(dir string, rends []ladder.Rendition) error {
	if err := os.MkdirAll(filepath.Join(dir, ffmpeg.MP4Dir), 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	for _, r := range rends {
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(ffmpeg.RungDir(r.Name))), 0o755); err != nil {
			return fmt.Errorf("output directory: %w", err)
		}
	}
	return nil
}

// Truncated reports whether decoding stopped short of the declared
// duration: more than 1 s and more than 5 % missing. ffmpeg exits
// successfully on a file whose data ends early (a cut upload with the index
// first, or a lying duration header); such a file is rejected rather than
// published shorter than it claims.
func Truncated(declared, decoded float64) bool {
	short := declared - decoded
	return short > 1 && short > 0.05*declared
}

// Longer reports whether the decoded output runs past the declared
// duration by more than half the tolerance ([probe.Tolerance]): ffmpeg's
// output is capped (-t) at declared + tolerance, so a source whose
// timestamps run on (past what the packet scan saw) ends up at the cap.
func Longer(declared, decoded float64) bool {
	return decoded-declared > probe.Tolerance(declared)/2
}

// durationMismatch is the permanent duration_mismatch error of a source
// that declares declared seconds and decoded to decoded seconds when that
// is Truncated or Longer; nil otherwise.
func durationMismatch(declared, decoded float64) error {
	switch {
	case Truncated(declared, decoded):
		return truncatedError(declared, decoded)
	case Longer(declared, decoded):
		return stage.Coded(contract.ErrorCodeDurationMismatch,
			stage.Permanentf("source declares %.1f s but its decoded timeline is longer (output stopped at %.1f s): the real timeline is longer than declared", declared, decoded))
	}
	return nil
}

// truncatedError is the permanent duration_mismatch error of a source
// that declares declared seconds of which only decoded could be decoded.
func truncatedError(declared, decoded float64) error {
	return stage.Coded(contract.ErrorCodeDurationMismatch,
		stage.Permanentf("source declares %.1f s but only %.1f s could be decoded: truncated or corrupt", declared, decoded))
}

// inspect probes every rendition MP4 ffmpeg wrote, checks it, and returns
// the event renditions.
func (w *Worker) inspect(ctx context.Context, dir string, keys contract.Outputs, rends []ladder.Rendition, hasAudio bool, declared float64) ([]contract.Rendition, error) {
	var out []contract.Rendition
	for i, r := range rends {
		file := filepath.Join(dir, filepath.FromSlash(ffmpeg.MP4Path(r.Name)))
		res, err := w.prober.Probe(ctx, file)
		if err != nil {
			return nil, fmt.Errorf("probe rendition %s: %w", r.Name, err)
		}
		v := res.Video
		switch {
		case v == nil || v.Codec != string(r.Codec.Or()):
			return nil, fmt.Errorf("rendition %s: no %s video stream", r.Name, r.Codec.Or())
		case v.Width != r.Width || v.Height != r.Height || v.Rotation != 0:
			return nil, fmt.Errorf("rendition %s: %dx%d rotation %d, want %dx%d unrotated", r.Name, v.Width, v.Height, v.Rotation, r.Width, r.Height)
		case hasAudio != (res.Audio != nil):
			return nil, fmt.Errorf("rendition %s: audio present %v, want %v", r.Name, res.Audio != nil, hasAudio)
		}
		if i == 0 {
			if err := durationMismatch(declared, res.Duration); err != nil {
				return nil, err
			}
		}
		if _, err := rungCodec(file, r.Codec); err != nil {
			return nil, fmt.Errorf("rendition %s: %w", r.Name, err)
		}
		if res.Audio != nil {
			if _, err := hls.AACCodec(res.Audio.Profile); err != nil {
				return nil, fmt.Errorf("rendition %s: %w", r.Name, err)
			}
		}
		fi, err := os.Stat(file)
		if err != nil {
			return nil, fmt.Errorf("rendition %s: %w", r.Name, err)
		}
		out = append(out, contract.Rendition{
			Name: r.Name, Width: r.Width, Height: r.Height,
			Bitrate:     r.Bitrate(hasAudio),
			Key:         keys.RenditionKey(r.Name),
			Size:        fi.Size(),
			PlaylistKey: keys.HLSPrefix() + r.Name + "/" + ffmpeg.PlaylistName,
			Codec:       string(r.Codec.Or()),
		})
	}
	return out, nil
}

// writePackage writes the single pass's master playlist and DASH MPD next
// to the CMAF tracks [ffmpeg.Job.Cut] wrote (with their media playlists):
// the same package the segment pipeline's fan-in writes, one audio group
// per distinct audio bitrate.
func (w *Worker) writePackage(dir string, job ffmpeg.Job, cut map[string]*ffmpeg.TrackCutter, rate string, fps float64) error {
	gop := float64(w.settings.GOPSeconds)
	var p dash.Presentation
	var audio []hls.AudioRendition
	for _, b := range job.AudioBitrates() {
		g := ffmpeg.AudioGroup(b)
		c := cut[ffmpeg.AudioDirName+"/"+g]
		audio = append(audio, hls.AudioRendition{GroupID: "aud-" + g, Name: "audio " + g, URI: ffmpeg.AudioDirName + "/" + g + "/" + ffmpeg.PlaylistName,
			Default: true, Channels: audioChannels})
		p.Audio = append(p.Audio, audioTrack(b, c.Timescale(), segInfos(c.Segments()), job.Encoding.AudioSampleRate))
	}
	var vs []hls.Variant
	for _, r := range job.Renditions {
		c := cut[r.Name]
		codec, err := initCodec(c.Init(), r.Codec)
		if err != nil {
			return fmt.Errorf("rendition %s: %w", r.Name, err)
		}
		segs := segInfos(c.Segments())
		peak, avg := bandwidth(segs, gop)
		if peak == 0 {
			peak, avg = r.VideoBitrate, r.VideoBitrate
		}
		t := videoTrack(r, codec, rate, c.Timescale(), segs, peak)
		p.Video = append(p.Video, t)
		p.Seconds = max(p.Seconds, trackSeconds(t))
		v := hls.Variant{URI: r.Name + "/" + ffmpeg.PlaylistName, Width: r.Width, Height: r.Height, FrameRate: fps, Codecs: []string{codec}}
		if len(audio) > 0 {
			g := ffmpeg.AudioGroup(r.AudioBitrate)
			v.Audio = "aud-" + g
			peak += r.AudioBitrate
			avg += r.AudioBitrate
			v.Codecs = append(v.Codecs, audioCodec)
		}
		v.Bandwidth, v.AverageBandwidth = peak, avg
		vs = append(vs, v)
	}
	mpd, err := dash.MPD(p)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ffmpeg.HLSDir, ffmpeg.ManifestName), mpd, 0o644); err != nil {
		return fmt.Errorf("write DASH manifest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ffmpeg.HLSDir, ffmpeg.MasterName), hls.MasterWithAudio(audio, vs), 0o644); err != nil {
		return fmt.Errorf("write master playlist: %w", err)
	}
	return nil
}

// codecPrefixes are the RFC 6381 sample entries each codec's rungs may
// have (hls.VideoCodec names an HEVC stream in MPEG-TS "hvc1").
var codecPrefixes = map[ladder.Codec][]string{
	ladder.H264: {"avc1."}, ladder.HEVC: {"hvc1."}, ladder.AV1: {"av01."},
}

// rungCodec is the RFC 6381 string of the video of file (an MP4, an init
// segment or an MPEG-TS segment; see hls.VideoCodec), which must be of
// codec c: the master playlist's CODECS for the rung.
func rungCodec(file string, c ladder.Codec) (string, error) {
	s, err := hls.VideoCodec(file)
	if err != nil {
		return "", err
	}
	return s, checkCodec(s, c)
}

// initCodec is the RFC 6381 string of the track of CMAF init segment
// init (cmaf.Codec), which must be of codec c.
func initCodec(init []byte, c ladder.Codec) (string, error) {
	s, err := cmaf.Codec(init)
	if err != nil {
		return "", err
	}
	return s, checkCodec(s, c)
}

// checkCodec reports an error unless RFC 6381 string s names codec c.
func checkCodec(s string, c ladder.Codec) error {
	for _, p := range codecPrefixes[c.Or()] {
		if strings.HasPrefix(s, p) {
			return nil
		}
	}
	return fmt.Errorf("video codec %s, want %s (%v)", s, c.Or(), codecPrefixes[c.Or()])
}

// object is one file to upload.
type object struct {
	path, key, contentType string
}

// outputs lists the files to upload in upload order: init and media
// segments, media playlists, MP4s, the DASH MPD, and the master playlist
// last, so that a master playlist in the bucket implies a complete
// package.
func outputs(dir string, keys contract.Outputs, job ffmpeg.Job, cut map[string]*ffmpeg.TrackCutter) []object {
	var segs, playlists, mp4s []object
	track := func(name string) { // name: a rung, or audio/<group>
		c := cut[name]
		prefix := keys.HLSPrefix() + name + "/"
		segs = append(segs, object{filepath.Join(c.Dir, ffmpeg.InitName), prefix + ffmpeg.InitName, contentTypeInit})
		for _, s := range c.Segments() {
			segs = append(segs, object{filepath.Join(c.Dir, s.URI), prefix + s.URI, contentTypeSegment})
		}
		playlists = append(playlists, object{filepath.Join(c.Dir, ffmpeg.PlaylistName), prefix + ffmpeg.PlaylistName, "application/vnd.apple.mpegurl"})
	}
	for _, r := range job.Renditions {
		track(r.Name)
		mp4s = append(mp4s, object{filepath.Join(dir, filepath.FromSlash(ffmpeg.MP4Path(r.Name))), keys.RenditionKey(r.Name), "video/mp4"})
	}
	for _, b := range job.AudioBitrates() {
		track(ffmpeg.AudioDirName + "/" + ffmpeg.AudioGroup(b))
	}
	all := append(append(segs, playlists...), mp4s...)
	all = append(all, object{filepath.Join(dir, ffmpeg.HLSDir, ffmpeg.ManifestName), keys.DASHManifestKey(), contentTypeMPD})
	return append(all, object{filepath.Join(dir, ffmpeg.HLSDir, ffmpeg.MasterName), keys.HLSMasterKey(), "application/vnd.apple.mpegurl"})
}

// upload puts every output, then removes what earlier runs left under the
// video's mp4/ and hls/ prefixes that this run did not write.
func (w *Worker) upload(ctx context.Context, dir string, keys contract.Outputs, job ffmpeg.Job, cut map[string]*ffmpeg.TrackCutter) error {
	objs := outputs(dir, keys, job, cut)
	master := objs[len(objs)-1]
	if err := w.putAll(ctx, objs[:len(objs)-1]); err != nil {
		return err
	}
	if err := w.putAll(ctx, []object{master}); err != nil {
		return err
	}
	written := make(map[string]bool, len(objs))
	for _, o := range objs {
		written[o.key] = true
	}
	return w.removeOutputsBut(ctx, keys, written)
}

// GCDirs are the folders of a generation's outputs that transcode owns:
// platform/outputgc removes them from superseded generations (the work
// state, videos/{id}/work/, is removed by the fan-in itself).
var GCDirs = []string{"mp4/", "hls/"}

// removeOutputsBut removes the objects under the mp4/ and hls/ prefixes of
// the video's generation keys that are not in keep (what an earlier run, e.g. with another
// ladder, left), so that a run leaves exactly its own key set.
func (w *Worker) removeOutputsBut(ctx context.Context, keys contract.Outputs, keep map[string]bool) error {
	for _, prefix := range []string{keys.RenditionPrefix(), keys.HLSPrefix()} {
		listed, err := w.store.List(ctx, prefix)
		if err != nil {
			return fmt.Errorf("list previous outputs: %w", err)
		}
		for _, o := range listed {
			if keep[o.Key] || !strings.HasPrefix(o.Key, prefix) {
				continue
			}
			if err := w.store.Remove(ctx, o.Key); err != nil {
				return fmt.Errorf("remove stale output: %w", err)
			}
		}
	}
	return nil
}

// putAll uploads objs with Settings.UploadConcurrency uploads in flight;
// the first error cancels the others.
func (w *Worker) putAll(ctx context.Context, objs []object) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, max(1, w.settings.UploadConcurrency))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for _, o := range objs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := w.store.PutFile(ctx, o.key, o.path, o.contentType); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("upload %s: %w", o.key, err)
					cancel(firstErr)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("upload: %w", context.Cause(ctx))
	}
	return nil
}

// prepared is a validated source: its probe, declared duration, the
// decoders ffmpeg may open and the renditions to make.
type prepared struct {
	probe    *probe.Result
	declared float64
	decoders []string
	rends    []ladder.Rendition
	// keyframes are the source's video keyframe times (probe.Timeline).
	keyframes []float64
}

// prepare probes and scans the local source src (see the package doc,
// step 2) and picks its renditions. Refusals are permanent and coded.
func (w *Worker) prepare(ctx context.Context, src string) (*prepared, error) {
	pr, err := w.prober.Probe(ctx, src)
	if err != nil {
		return nil, rejected(fmt.Errorf("probe source: %w", err))
	}
	if err := pr.Check(w.Limits()); err != nil {
		return nil, rejected(fmt.Errorf("probe source: %w", err))
	}
	declared := pr.Declared()
	tl, err := w.prober.Scan(ctx, src, pr, probe.ScanLimits{
		Declared: declared, MaxFrameRate: float64(w.settings.MaxSourceFPS), Timeout: w.settings.ScanTimeout,
	})
	if err != nil {
		return nil, rejected(fmt.Errorf("probe source: %w", err))
	}
	var codecs []string
	if pr.Video != nil {
		codecs = append(codecs, pr.Video.Codec)
	}
	if pr.Audio != nil {
		codecs = append(codecs, pr.Audio.Codec)
	}
	decoders, err := ffmpeg.DecoderWhitelist(ctx, w.settings.FFmpeg, codecs...)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		if nd := (*ffmpeg.NoDecoderError)(nil); errors.As(err, &nd) {
			return nil, stage.Coded(contract.ErrorCodeUnsupportedFormat, stage.Permanent(fmt.Errorf("probe source: %w", err)))
		}
		return nil, err
	}
	p := &prepared{probe: pr, declared: declared, decoders: decoders, keyframes: tl.Keyframes}
	if v := pr.Video; v != nil { // an audio asset has no rungs
		p.rends = w.ladder.Select(v.DisplayWidth, v.DisplayHeight)
	}
	return p, nil
}

package transcode

// Audio assets: an upload with an audio stream and no video stream (M4A,
// MP3, WAV, FLAC, Ogg Opus/Vorbis; see probe.Result.IsAudio) becomes an
// audio asset (media.kind "audio"):
//
//   - an AAC-LC stereo ladder, one rendition per distinct audio bitrate of
//     the configured ladder ([audioLadder]; by default 96k, 128k, 160k),
//     encoded by the same [ffmpeg.AudioJob] as a video's audio, as CMAF
//     tracks under hls/audio/<group>/ (init.mp4, seg_NNNNN.m4s; loudness
//     normalization applies as for a video), also listed in the DASH MPD
//     (hls/manifest.mpd, one audio AdaptationSet per rendition);
//   - a master playlist that lists the audio renditions as audio-only
//     variants (EXT-X-STREAM-INF with CODECS "mp4a.40.2", BANDWIDTH
//     measured on the segments) instead of video rungs;
//   - one download, the top bitrate's track remuxed into an M4A
//     (contract.Outputs.AudioDownloadKey: mp4/audio.m4a; AAC copied,
//     moov first), the event's only rendition (named
//     contract.AudioRenditionName, no dimensions).
//
// In the segment pipeline the plan has no video spans, only the audio
// item: the fan-in publishes video.playable once every audio rendition
// has a segment in storage and video.transcoded once the audio is
// complete. The single pass ([Worker.Handle]) writes the same objects.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/services/transcode/dash"
	"github.com/vidpipe/vidpipe/services/transcode/ffmpeg"
	"github.com/vidpipe/vidpipe/services/transcode/hls"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

// aacCodec is the RFC 6381 codec of every AAC rendition (AAC-LC).
const aacCodec = "mp4a.40.2"

// audioLadder is an audio asset's AAC ladder: the distinct audio bitrates
// of every rung of l (not only the rungs a picture size would select),
// ascending.
func audioLadder(l ladder.Ladder) []int64 {
	var out []int64
	for _, r := range l {
		if !slices.Contains(out, r.AudioBitrate) {
			out = append(out, r.AudioBitrate)
		}
	}
	slices.Sort(out)
	return out
}

// audioSegmentCount is the number of segments an audio rendition of
// declared seconds is expected to have (segments of about gop seconds):
// the plan's segment count, for progress.
func audioSegmentCount(declared float64, gop int) int {
	return max(1, int(math.Ceil(declared/float64(max(gop, 1)))))
}

// audioPlaylistKey is the object key of an audio rendition's media playlist.
func audioPlaylistKey(keys contract.Outputs, bitrate int64) string {
	return keys.HLSPrefix() + ffmpeg.AudioDirName + "/" + ffmpeg.AudioGroup(bitrate) + "/" + ffmpeg.PlaylistName
}

// newAudioPlan is the plan of an audio asset's run: no video spans, the
// audio ladder, and the expected number of audio segments.
func (w *Worker) newAudioPlan(in contract.VideoUploaded, run string, prep *prepared) *Plan {
	enc := ffmpeg.Encoding{GOPSeconds: w.settings.GOPSeconds, MaxPixels: w.settings.MaxPixels, Decoders: prep.decoders}
	return &Plan{
		Run: run, Upload: in, Source: *prep.probe, Declared: prep.declared,
		Media: mediaOf(prep.probe, prep.declared), Encoding: enc,
		AudioBitrates: audioLadder(w.ladder), Segments: audioSegmentCount(prep.declared, w.settings.GOPSeconds),
		CreatedAt: w.now().UTC(),
	}
}

// audioVariant is an audio rendition as a master playlist variant.
func audioVariant(bitrate, peak, avg int64) hls.Variant {
	if peak == 0 {
		peak, avg = bitrate, bitrate
	}
	return hls.Variant{URI: ffmpeg.AudioDirName + "/" + ffmpeg.AudioGroup(bitrate) + "/" + ffmpeg.PlaylistName,
		Bandwidth: peak, AverageBandwidth: avg, Codecs: []string{aacCodec}}
}

// audioMaster is an audio asset's master playlist in the segment
// pipeline: one audio-only variant per audio rendition, BANDWIDTH
// measured on the segments in storage (the bitrate before there are any).
func (w *Worker) audioMaster(plan *Plan, st *runState) []byte {
	vs := make([]hls.Variant, 0, len(plan.AudioBitrates))
	for _, b := range plan.AudioBitrates {
		var segs []segInfo
		if st.audioMarker != nil {
			segs = st.audioMarker.Groups[ffmpeg.AudioGroup(b)]
		}
		peak, avg := bandwidth(segs, float64(plan.Encoding.GOPSeconds))
		vs = append(vs, audioVariant(b, peak, avg))
	}
	return hls.Master(vs)
}

// topAudio is the highest bitrate of an audio ladder: the M4A's.
func topAudio(bitrates []int64) int64 { return slices.Max(bitrates) }

// assembleM4A remuxes an audio rendition's local segments (in order) into
// the asset's M4A under dir, checks it, and returns its rendition and
// upload.
func (w *Worker) assembleM4A(ctx context.Context, dir string, keys contract.Outputs, segs []string, bitrate int64, declared float64, log *slog.Logger) (contract.Rendition, object, error) {
	if len(segs) == 0 {
		return contract.Rendition{}, object{}, fmt.Errorf("audio download: no segments")
	}
	if err := os.MkdirAll(filepath.Join(dir, ffmpeg.MP4Dir), 0o755); err != nil {
		return contract.Rendition{}, object{}, fmt.Errorf("output directory: %w", err)
	}
	list := filepath.Join(dir, "audio-download.txt")
	if err := ffmpeg.WriteConcatList(list, segs); err != nil {
		return contract.Rendition{}, object{}, err
	}
	out := filepath.Join(dir, ffmpeg.MP4Dir, ffmpeg.AudioDownloadName)
	runner := w.runner
	runner.Logger = log.With("assemble", ffmpeg.AudioDownloadName)
	if err := runner.Run(ctx, dir, ffmpeg.AssembleAudioListArgs(list, out), declared); err != nil {
		return contract.Rendition{}, object{}, fmt.Errorf("assemble %s: %w", ffmpeg.AudioDownloadName, err)
	}
	res, err := w.prober.Probe(ctx, out)
	if err != nil {
		return contract.Rendition{}, object{}, fmt.Errorf("probe %s: %w", ffmpeg.AudioDownloadName, err)
	}
	switch {
	case res.Video != nil || res.Audio == nil || res.Audio.Codec != "aac":
		return contract.Rendition{}, object{}, fmt.Errorf("%s: want AAC audio only, got video %v audio %v", ffmpeg.AudioDownloadName, res.Video, res.Audio)
	case Truncated(declared, res.Duration):
		return contract.Rendition{}, object{}, truncatedError(declared, res.Duration)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return contract.Rendition{}, object{}, err
	}
	r := contract.Rendition{Name: contract.AudioRenditionName, Bitrate: bitrate, Key: keys.AudioDownloadKey(), Size: fi.Size(),
		PlaylistKey: audioPlaylistKey(keys, bitrate)}
	return r, object{out, keys.AudioDownloadKey(), "audio/mp4"}, nil
}

// handleAudio is [Worker.Handle] for an audio asset (the single pass):
// one ffmpeg encodes the audio ladder as HLS (the segment pipeline's
// audio job), the M4A is remuxed from the top rendition's segments, and
// the package is uploaded with the master playlist last.
func (w *Worker) handleAudio(ctx context.Context, in contract.VideoUploaded, dir, src string, prep *prepared, log *slog.Logger, start time.Time) (contract.VideoTranscoded, error) {
	var zero contract.VideoTranscoded
	pr, declared := prep.probe, prep.declared
	bitrates := audioLadder(w.ladder)
	log.Info("transcode start", "format", pr.FormatName, "audio", pr.Audio.Codec, "kind", contract.MediaKindAudio,
		"duration_s", declared, "renditions", len(bitrates))
	enc := ffmpeg.Encoding{GOPSeconds: w.settings.GOPSeconds, Threads: w.settings.Threads, MaxPixels: w.settings.MaxPixels, Decoders: prep.decoders}
	job := ffmpeg.AudioJob{Input: sourceName, Source: pr, Bitrates: bitrates, Encoding: enc, MaxSeconds: declared + probe.Tolerance(declared)}
	loud, err := w.planLoudness(ctx, in.VideoID, dir, src, pr, enc, job.MaxSeconds, nil, nil)
	if err != nil {
		return zero, err
	}
	defer loud.abandon()
	job.Loudnorm = loud.norm
	args, err := job.Args()
	if err != nil {
		return zero, fmt.Errorf("ffmpeg audio command: %w", err)
	}
	var outDirs []string
	for _, b := range bitrates {
		outDirs = append(outDirs, ffmpeg.AudioDir(b))
	}
	if err := ffmpeg.MakeDirs(dir, outDirs); err != nil {
		return zero, err
	}
	runner := w.runner
	runner.Logger = log
	if err := runner.Run(ctx, dir, args, declared); err != nil {
		if ctx.Err() == nil && errors.Is(err, ffmpeg.ErrRejected) {
			return zero, stage.Coded(contract.ErrorCodeCorruptMedia, stage.Permanent(fmt.Errorf("transcode audio: %w", err)))
		}
		return zero, fmt.Errorf("transcode audio: %w", err)
	}
	keys := in.Outputs()
	cut, err := job.Cut(dir)
	if err != nil {
		return zero, fmt.Errorf("cut audio tracks: %w", err)
	}
	var (
		variants []hls.Variant
		objs     []object // init and media segments, then media playlists
		top      []string // the top rendition's init and segments, for the M4A
		p        dash.Presentation
	)
	for _, b := range bitrates {
		g := ffmpeg.AudioGroup(b)
		c := cut[g]
		segs := segInfos(c.Segments())
		var total float64
		for _, s := range c.Segments() {
			total += s.Seconds
		}
		if err := durationMismatch(declared, total); err != nil {
			return zero, err
		}
		peak, avg := bandwidth(segs, float64(w.settings.GOPSeconds))
		variants = append(variants, audioVariant(b, peak, avg))
		t := audioTrack(b, c.Timescale(), segs, enc.AudioSampleRate)
		p.Audio = append(p.Audio, t)
		p.Seconds = max(p.Seconds, trackSeconds(t))
		prefix := keys.HLSPrefix() + ffmpeg.AudioDirName + "/" + g + "/"
		initPath := filepath.Join(c.Dir, ffmpeg.InitName)
		objs = append(objs, object{initPath, prefix + ffmpeg.InitName, contentTypeInit})
		if b == topAudio(bitrates) {
			top = append(top, initPath)
		}
		for _, s := range c.Segments() {
			sp := filepath.Join(c.Dir, s.URI)
			objs = append(objs, object{sp, prefix + s.URI, contentTypeSegment})
			if b == topAudio(bitrates) {
				top = append(top, sp)
			}
		}
		objs = append(objs, object{filepath.Join(c.Dir, ffmpeg.PlaylistName), prefix + ffmpeg.PlaylistName, "application/vnd.apple.mpegurl"})
	}
	mpd, err := dash.MPD(p)
	if err != nil {
		return zero, err
	}
	mpdPath := filepath.Join(dir, ffmpeg.HLSDir, ffmpeg.ManifestName)
	if err := os.WriteFile(mpdPath, mpd, 0o644); err != nil {
		return zero, fmt.Errorf("write DASH manifest: %w", err)
	}
	objs = append(objs, object{mpdPath, keys.DASHManifestKey(), contentTypeMPD})
	rend, m4a, err := w.assembleM4A(ctx, dir, keys, top, topAudio(bitrates), declared, log)
	if err != nil {
		return zero, err
	}
	masterPath := filepath.Join(dir, ffmpeg.HLSDir, ffmpeg.MasterName)
	if err := os.WriteFile(masterPath, hls.Master(variants), 0o644); err != nil {
		return zero, fmt.Errorf("write master playlist: %w", err)
	}
	objs = append(objs, m4a)
	if err := w.putAll(ctx, objs); err != nil {
		return zero, err
	}
	master := object{masterPath, keys.HLSMasterKey(), "application/vnd.apple.mpegurl"}
	if err := w.putAll(ctx, []object{master}); err != nil {
		return zero, err
	}
	written := map[string]bool{master.key: true}
	for _, o := range objs {
		written[o.key] = true
	}
	if err := w.removeOutputsBut(ctx, keys, written); err != nil {
		return zero, err
	}
	media := mediaOf(pr, declared)
	if media.Loudness, err = loud.result(); err != nil {
		return zero, err
	}
	out := in.Transcoded(media, []contract.Rendition{rend}, contract.HLS{MasterKey: keys.HLSMasterKey()}, w.now())
	out.DASH = &contract.DASH{ManifestKey: keys.DASHManifestKey()}
	if err := out.Validate(); err != nil {
		return zero, fmt.Errorf("transcode result: %w", err)
	}
	log.Info("transcode done", "kind", contract.MediaKindAudio, "renditions", len(bitrates), "elapsed", w.now().Sub(start).Round(time.Millisecond))
	return out, nil
}

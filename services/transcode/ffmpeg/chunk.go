package ffmpeg

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vidpipe/vidpipe/services/transcode/ladder"
	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

// seekMargin (seconds) is how much earlier than its span a chunk starts
// decoding frames into the filter graph. The fps filter, told where the
// span starts (start_time), then picks the same source frame for the
// span's first output frame as the single pass does, even when the
// source frame it holds is up to seekMargin before the span (variable
// frame rate sources, gaps): an accurate seek to the span's start itself
// would lose that frame and could start the chunk one frame late.
const seekMargin = 0.25

// seeksAnywhere are the demuxers (InputFormat) whose seeks land on any
// packet before the target, not on a keyframe (no index; MPEG-TS even
// bisects by DTS): the decoder then skips to the next keyframe and the
// chunk would start with copies of a frame from after its start.
// Matroska without cues, FLV without keyframe metadata and Ogg seek to
// keyframes (verified with ffmpeg 5.1).
var seeksAnywhere = map[string]bool{"mpegts": true, "mpeg": true}

// Seeking in such a source: to keyframeSlack before the source keyframe
// the chunk needs (ChunkJob.Keyframes), so that even a seek by DTS lands
// before that keyframe; without keyframe times, unindexedBack before the
// span (enough for sources with keyframes at most that far apart).
const (
	keyframeSlack = 0.5
	unindexedBack = 10.0
)

// ChunkJob encodes one Span of the source into every rung: video only.
//
// # Same frames as the single pass
//
// The chunk keeps the source's timestamps (-copyts -start_at_zero: the
// same timeline as [Job], which starts at the source's start time), seeks
// accurately to seekMargin before the span (the decoder starts at the
// keyframe before; frames before the seek point are dropped; MPEG-TS and
// MPEG-PS sources, whose demuxers cannot find keyframes, see Keyframes)
// and runs [Job]'s filter graph with the fps filter told that its first output
// frame is the span's first (fps=RATE:start_time=Start): output frame n
// of the chunk is output frame StartFrame+n of the single pass, the same
// source frame, duplicated or dropped the same way, and padded with the
// chunk's first frame if the source has no frame there. Each rung is
// encoded with [Job]'s settings for its codec but MB-tree (libx264) or
// cutree (libx265) (see below, and videoEncoderArgs); forced
// keyframes count from the chunk's first frame (ffmpeg measures
// -force_key_frames' t from an encoder's first frame), every GOPSeconds.
// -frames:v Span.Frames ends each encode exactly at the span's end.
//
// # No MB-tree
//
// libx264's MB-tree with average-bitrate rate control starves the first
// second or so of an encode (about 40% fewer bits than the single pass
// spends there, converging after ~40 frames): one encode per chunk makes
// that a quality dip at every chunk start. Measured on 13 s of testsrc2
// cut in 1 s + 4 s chunks (TestChunkedEqualsSinglePass): with MB-tree,
// PSNR 41.9 dB chunked against 43.3 dB single pass at 180p, 300 kb/s
// (-1.4 dB; -0.6 dB at 360p, 800 kb/s); with MB-tree off in the chunks
// (-mbtree 0) they reach their bitrate: -0.03 and -0.26 dB. With MB-tree
// off in the single pass too, the two agree within 0.2 dB.
//
// # Timestamps and segments
//
// Frames keep their place on the whole timeline (Start + n/fps, as in
// the single pass) through the filter graph; each rung has its own output
// (one decode, one filter graph, one encoder per rung): a fragmented MP4
// of the rung's video at [FragPath], one fragment per GOP, whose
// timestamps [ChunkJob.Cut] replaces: it cuts the fragments into CMAF
// segments numbered from Span.FirstSegment under [RungDir], decode and
// presentation times from frame Span.StartFrame on (package cmaf), and
// writes the chunk's local playlist at [PlaylistPath] listing them.
type ChunkJob struct {
	// Input is the local source file (the sandbox has no network),
	// absolute or relative to the working directory.
	Input string
	// Source is the probe result of Input.
	Source *probe.Result
	// Renditions are the rungs, as for [Job].
	Renditions []ladder.Rendition
	// Encoding is the same as the Job's (preset, GOP, threads, max
	// pixels, decoders, ...); MaxSeconds and the audio settings are not used.
	Encoding Encoding
	// Span is the part of the output timeline to encode, from [Spans]
	// with the rate of [Job.FrameRate] and Encoding.GOPSeconds.
	Span Span
	// Keyframes, if not empty, are the presentation times of the source
	// video's keyframes in ascending order, in seconds from the source's
	// start (the first packet's time; ffprobe's packet pts_time of the
	// 'K' packets less the file's start_time). Only used for sources
	// whose demuxer cannot seek to keyframes (MPEG-TS, MPEG-PS): the chunk
	// seeks to just before the last keyframe it needs. Without them such
	// a chunk seeks 10 s before its span and starts right only if the
	// source's keyframes are at most that far apart.
	Keyframes []float64
}

// seek is where the chunk seeks on the source's timeline (0: no seek).
func (j ChunkJob) seek() float64 {
	want := j.Span.Start - seekMargin // the earliest frame the chunk may need
	if !seeksAnywhere[j.job().InputFormat()] {
		return max(0, want) // the demuxer seeks to the keyframe at or before want
	}
	if len(j.Keyframes) == 0 {
		return max(0, want-unindexedBack)
	}
	k := 0.0 // the last keyframe at or before want
	for _, t := range j.Keyframes {
		if t > want {
			break
		}
		k = t
	}
	return max(0, k-keyframeSlack)
}

// job is the single-pass Job the chunk is a part of.
func (j ChunkJob) job() Job {
	return Job{Input: j.Input, Source: j.Source, Renditions: j.Renditions, Encoding: j.Encoding}
}

// Args returns the ffmpeg arguments (without the binary name). Progress is
// written to stdout (-progress pipe:1); errors to stderr. The directories
// of the tracks ([RungDir], [AudioDir]) must exist.
func (j ChunkJob) Args() ([]string, error) {
	if j.Source == nil || j.Source.Video == nil {
		return nil, fmt.Errorf("ffmpeg chunk: no video stream")
	}
	if len(j.Renditions) == 0 {
		return nil, fmt.Errorf("ffmpeg chunk: no renditions")
	}
	s := j.Span
	if s.Frames <= 0 || s.StartFrame < 0 || s.FirstSegment < 0 || s.Start < 0 || math.IsInf(s.Start, 0) || math.IsNaN(s.Start) {
		return nil, fmt.Errorf("ffmpeg chunk %d: invalid span %+v", s.Index, s)
	}
	job := j.job()
	enc := job.Encoding.withDefaults()
	rate, fps := job.FrameRate()
	gopFrames := max(1, int(math.Ceil(float64(enc.GOPSeconds)*fps)))
	threads := strconv.Itoa(enc.Threads)

	a := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y",
		"-progress", "pipe:1"}
	if enc.Threads > 0 {
		a = append(a, "-filter_complex_threads", threads)
	}
	// The source's own timeline, from its start time (as the single pass).
	a = append(a, "-copyts", "-start_at_zero")
	a = append(a, job.inputArgs(enc)...)
	if seek := j.seek(); seek > 0 {
		// Truncated to microseconds (ffmpeg's precision): never after the wanted frames.
		a = append(a, "-ss", formatSeconds(seek))
	}
	a = append(a, "-i", "file:"+j.Input)

	graph := job.filterGraph(rate)
	fpsFilter := "fps=" + rate + ","
	if strings.Count(graph, fpsFilter) != 1 {
		return nil, fmt.Errorf("ffmpeg chunk: filter graph %q: no single %q", graph, fpsFilter)
	}
	graph = strings.Replace(graph, fpsFilter, "fps="+rate+":start_time="+formatSeconds(s.Start)+",", 1)
	a = append(a, "-filter_complex", graph)

	_, timescale, err := job.trackTiming()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg chunk: %w", err)
	}
	// One output per rung: its video stream, a fragmented MP4 of its own.
	for i, r := range j.Renditions {
		ea, err := videoEncoderArgs(":v", r, enc, gopFrames, true)
		if err != nil {
			return nil, fmt.Errorf("ffmpeg chunk %d: %w", s.Index, err)
		}
		a = append(a, "-map", fmt.Sprintf("[v%d]", i), "-an")
		a = append(a, ea...)
		a = append(a, bt709Args(j.Source.Video)...)
		if enc.Threads > 0 {
			a = append(a, "-threads", threads)
		}
		a = append(a, "-frames:v", strconv.Itoa(s.Frames),
			"-map_metadata", "-1", "-map_chapters", "-1")
		a = append(a, videoFragOutput(FragPath(r.Name), timescale)...)
	}
	return a, nil
}

// inputArgs are the input options of [Job.Args]: the hardening (see the
// package doc) and the forced demuxer, up to but without -i.
func (j Job) inputArgs(enc Encoding) []string {
	a := []string{"-protocol_whitelist", "file", "-format_whitelist", probe.FormatWhitelist,
		"-probesize", probe.ProbeSize, "-analyzeduration", probe.AnalyzeDuration}
	if len(enc.Decoders) > 0 {
		a = append(a, "-codec_whitelist", strings.Join(enc.Decoders, ","))
	}
	if enc.MaxPixels > 0 {
		a = append(a, "-max_pixels", strconv.FormatInt(enc.MaxPixels, 10))
	}
	if enc.Threads > 0 {
		a = append(a, "-threads", strconv.Itoa(enc.Threads))
	}
	if f := j.InputFormat(); f != "" {
		a = append(a, "-f", f)
	}
	return a
}

// formatSeconds formats a time in seconds with microsecond precision
// (what ffmpeg parses), truncated toward zero so that a seek or a start
// time never lands after the instant it stands for, and a frame exactly
// at that instant is not dropped.
func formatSeconds(s float64) string {
	us := math.Trunc(s*1e6 + 1e-6*math.Copysign(1, s)) // a hair of tolerance for 1.0000000000000002-style products
	neg := us < 0
	us = math.Abs(us)
	str := fmt.Sprintf("%d.%06d", int64(us)/1_000_000, int64(us)%1_000_000)
	if neg {
		return "-" + str
	}
	return str
}

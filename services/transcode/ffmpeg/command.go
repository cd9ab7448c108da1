// Package ffmpeg builds and runs the one ffmpeg process that transcodes a
// source into the whole ladder.
//
// # One decode, one encode per rung
//
// The source is decoded once; a filter graph scales the decoded frames to
// every rendition in a cascade (source → largest rung → next smaller rung
// → ...), so full-size frames are scaled once and each smaller rung is
// scaled from an already reduced picture, which costs less than scaling
// every rung from the source (one ffmpeg per rung must do that); each
// rung is converted to yuv420p with square pixels (setsar=1) before the
// next one is scaled from it; rungs of the same size (one per codec) share
// one scale. Each branch is encoded once, with its rung's codec (libx264,
// libx265 or libsvtav1, see [EncoderArgs] and the ladder's codecs), the
// audio once per distinct AAC bitrate of the ladder (rungs asking for the
// same bitrate share one encode), and all the encodes go to a single tee
// output whose slaves select each rung's video and audio stream: every
// rung's encode is written as a progressive MP4 (moov first:
// +faststart) and its video as a fragmented MP4 (a fragment per GOP), and
// each audio encode as a fragmented MP4 of its own. [Job.Cut] then cuts
// those into the CMAF tracks of the HLS/DASH package (package cmaf: init
// segment plus fMP4 segments, shared by the HLS media playlists and the
// DASH MPD); the playlists and the MPD are written from what it cut.
//
// # Aligned segments
//
// Every rung gets the same keyframe times: a keyframe is forced every
// GOPSeconds of presentation time (-force_key_frames expr:gte(t,n_forced*G)),
// scene-cut keyframes are off (-sc_threshold 0) and the maximum GOP length is
// the same number of seconds (-g); the frame rate is made constant (fps
// filter) before the first scale. The HLS muxer cuts at those keyframes
// (hls_time = GOPSeconds), so segment n of every rung covers the same time
// span and a player can switch rungs at any segment boundary.
//
// # Repeatable output
//
// Video is encoded in average-bitrate mode without a VBV cap (-maxrate,
// -bufsize): with a VBV cap, libx264's frame-threaded rate control depends
// on thread timing and two runs give different bytes. Without it, the same
// source, settings and thread count give byte-identical files, so a retry
// or a replay rewrites the same objects and publishes the same event. The
// peak rate a player needs is measured on the segments instead (package hls).
//
// # Harder sources
//
// Every rung is 8-bit 4:2:0 (H.264 High, HEVC Main or AV1 Main), SDR
// BT.709, upright, with square pixels:
//   - HDR (PQ or HLG transfer, see [probe.Video.HDR]): resized to the
//     largest rung and tone-mapped once, after the fps filter and before
//     the scale cascade (zscale + tonemap, see [ToneMapper]), and every
//     encode tagged BT.709
//     (primaries, transfer, matrix, limited range). SDR sources go through
//     the same filter graph and encoder options as before, untagged.
//   - Rotated (display matrix or rotate tag): ffmpeg rotates the decoded
//     frames upright (autorotate) and drops the rotation from the output;
//     the rungs come from the display dimensions (package ladder), so a
//     90° or 270° source gets portrait rungs.
//   - Anamorphic (sample aspect ratio not 1:1): each rung is scaled to its
//     display size and marked square (setsar=1).
//   - Variable frame rate: the fps filter makes the rate constant, so the
//     video keeps its timestamps and stays in sync with the audio.
//
// # Untrusted input
//
// The input may only be a local file (-protocol_whitelist file) opened by a
// media-container demuxer (-format_whitelist, and -f forcing the demuxer
// ffprobe identified), reading a bounded prefix to find the streams
// (-probesize, -analyzeduration), with only the decoders of the probed
// streams (-codec_whitelist, [Encoding.Decoders]); decoders refuse frames
// over -max_pixels; the output stops at [Encoding.MaxSeconds] of timeline
// (-t), so a source whose timestamps run past its declared duration cannot
// make ffmpeg write hours of duplicated frames; metadata
// and chapters are not copied (-map_metadata -1, -map_chapters -1); only the
// probed video stream and at most one audio stream are mapped; ffmpeg never
// reads stdin (-nostdin). The process runs in its own process group and the
// whole group is killed when the context ends (see [Runner]).
package ffmpeg

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/vidpipe/vidpipe/services/transcode/cmaf"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

// Output layout inside the working directory (relative paths; ffmpeg runs
// with the working directory as its current directory).
const (
	// MP4Dir holds the progressive renditions, <name>.mp4.
	MP4Dir = "mp4"
	// HLSDir holds the HLS/DASH package: master.m3u8, manifest.mpd, one
	// directory per rung with init.mp4, seg_00000.m4s, seg_00001.m4s, ...
	// and index.m3u8, and audio/<group>/ likewise (see [TrackCutter]).
	HLSDir = "hls"
	// MasterName is the master playlist's file name inside HLSDir.
	MasterName = "master.m3u8"
	// PlaylistName is each rung's media playlist inside HLSDir/<name>/.
	PlaylistName = "index.m3u8"
	// SegmentPattern is the segment file name pattern inside HLSDir/<name>/
	// (cmaf.SegmentPattern).
	SegmentPattern = cmaf.SegmentPattern
	// InitName is each track's init segment inside its directory.
	InitName = cmaf.InitName
	// ManifestName is the DASH MPD's file name inside HLSDir.
	ManifestName = "manifest.mpd"
)

// MP4Path is the rendition's MP4, relative to the working directory.
func MP4Path(name string) string { return MP4Dir + "/" + name + ".mp4" }

// RungDir is the rendition's HLS directory, relative to the working directory.
func RungDir(name string) string { return HLSDir + "/" + name }

// PlaylistPath is the rendition's media playlist, relative to the working directory.
func PlaylistPath(name string) string { return RungDir(name) + "/" + PlaylistName }

// Encoding holds the settings shared by every rung.
type Encoding struct {
	// Preset is the libx264 preset. Default: "veryfast".
	Preset string
	// HEVCPreset is the libx265 preset of HEVC rungs. Default:
	// [DefaultHEVCPreset].
	HEVCPreset string
	// AV1Preset is the libsvtav1 preset of AV1 rungs, 0 (slowest) to 13
	// (fastest). Default (0 is read as): [DefaultAV1Preset]; 0 itself
	// cannot be asked for.
	AV1Preset int
	// GOPSeconds is the keyframe interval and HLS segment duration. Default: 2.
	GOPSeconds int
	// Threads bounds threads for decoding, filtering and each encoder;
	// 0 lets ffmpeg choose. Default: 0.
	Threads int
	// MaxPixels is passed to the decoder as -max_pixels (0: not passed).
	MaxPixels int64
	// MaxFrameRate caps the output frame rate; faster sources have frames
	// dropped. Default: 60.
	MaxFrameRate int
	// AudioSampleRate of every rendition's AAC track. Default: 48000.
	AudioSampleRate int
	// Decoders, if not empty, is the input's -codec_whitelist: the only
	// decoders ffmpeg may open (see [DecoderWhitelist]).
	Decoders []string
	// MaxSeconds, if > 0, caps the output timeline (-t on the output):
	// the declared duration plus a tolerance.
	MaxSeconds float64
}

func (e Encoding) withDefaults() Encoding {
	if e.Preset == "" {
		e.Preset = "veryfast"
	}
	if e.HEVCPreset == "" {
		e.HEVCPreset = DefaultHEVCPreset
	}
	if e.AV1Preset <= 0 {
		e.AV1Preset = DefaultAV1Preset
	}
	if e.GOPSeconds <= 0 {
		e.GOPSeconds = 2
	}
	if e.MaxFrameRate <= 0 {
		e.MaxFrameRate = 60
	}
	if e.AudioSampleRate <= 0 {
		e.AudioSampleRate = 48000
	}
	return e
}

// Job is one transcode: a probed source and the renditions to make.
type Job struct {
	// Input is the source file's path (absolute, or relative to the working directory).
	Input string
	// Source is the probe result of Input (demuxer, stream indexes, frame rate).
	Source *probe.Result
	// Renditions to produce, from ladder.Select.
	Renditions []ladder.Rendition
	Encoding   Encoding
	// Loudnorm, if not nil, normalizes the audio before the AAC encodes
	// (one loudnorm over the track, split to every encode). Default: nil,
	// the audio's level is kept.
	Loudnorm *Loudnorm
}

// FrameRate is the constant output frame rate: the source's average rate,
// capped at Encoding.MaxFrameRate; 30 if the source's is unknown.
func (j Job) FrameRate() (rate string, fps float64) {
	enc := j.Encoding.withDefaults()
	v := j.Source.Video
	switch {
	case v == nil || v.FrameRate == "" || !(v.FPS > 0):
		return "30", 30
	case v.FPS > float64(enc.MaxFrameRate):
		return strconv.Itoa(enc.MaxFrameRate), float64(enc.MaxFrameRate)
	}
	return v.FrameRate, v.FPS
}

// InputFormat is the demuxer to force with -f: the first name of the
// probed format_name ("mov" for "mov,mp4,m4a,3gp,3g2,mj2").
func (j Job) InputFormat() string {
	name, _, _ := strings.Cut(j.Source.FormatName, ",")
	return name
}

// Args returns the ffmpeg arguments (without the binary name). Progress is
// written to stdout (-progress pipe:1); errors to stderr.
func (j Job) Args() ([]string, error) {
	if j.Source == nil || j.Source.Video == nil {
		return nil, fmt.Errorf("ffmpeg job: no video stream")
	}
	if len(j.Renditions) == 0 {
		return nil, fmt.Errorf("ffmpeg job: no renditions")
	}
	enc := j.Encoding.withDefaults()
	rate, fps := j.FrameRate()
	gopFrames := max(1, int(math.Ceil(float64(enc.GOPSeconds)*fps)))
	threads := strconv.Itoa(enc.Threads)

	a := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y",
		"-progress", "pipe:1"}
	if enc.Threads > 0 {
		a = append(a, "-filter_complex_threads", threads)
	}
	// Input options.
	a = append(a, "-protocol_whitelist", "file", "-format_whitelist", probe.FormatWhitelist,
		"-probesize", probe.ProbeSize, "-analyzeduration", probe.AnalyzeDuration)
	if len(enc.Decoders) > 0 {
		a = append(a, "-codec_whitelist", strings.Join(enc.Decoders, ","))
	}
	if enc.MaxPixels > 0 {
		a = append(a, "-max_pixels", strconv.FormatInt(enc.MaxPixels, 10))
	}
	if enc.Threads > 0 {
		a = append(a, "-threads", threads)
	}
	if f := j.InputFormat(); f != "" {
		a = append(a, "-f", f)
	}
	a = append(a, "-i", "file:"+j.Input)

	graph := j.filterGraph(rate)
	norm := j.Loudnorm != nil && j.Source.Audio != nil
	if norm {
		if err := j.Loudnorm.Validate(); err != nil {
			return nil, fmt.Errorf("ffmpeg job: %w", err)
		}
		// The normalized audio is a branch of the one filter graph, split
		// to the AAC encodes (one per distinct bitrate, as mapped below).
		rates := map[int64]bool{}
		for _, r := range j.Renditions {
			rates[r.AudioBitrate] = true
		}
		graph += ";" + j.Loudnorm.audioGraph(j.Source.Audio.Index, len(rates), enc.AudioSampleRate)
	}
	a = append(a, "-filter_complex", graph)

	// One output holds every encode: the video streams first (stream i is
	// rung i), then one AAC encode per distinct audio bitrate, shared by
	// the rungs asking for it; the tee muxer's select gives each rung's MP4
	// and HLS slaves their own video stream and audio stream.
	audio := j.Source.Audio
	for i := range j.Renditions {
		a = append(a, "-map", fmt.Sprintf("[v%d]", i))
	}
	var audioRates []int64     // one AAC encode per distinct bitrate, in rung order
	audioOf := map[int64]int{} // bitrate → index in audioRates
	if audio != nil {
		for _, r := range j.Renditions {
			if _, ok := audioOf[r.AudioBitrate]; !ok {
				audioOf[r.AudioBitrate] = len(audioRates)
				audioRates = append(audioRates, r.AudioBitrate)
				if norm {
					a = append(a, "-map", fmt.Sprintf("[a%d]", audioOf[r.AudioBitrate]))
				} else {
					a = append(a, "-map", fmt.Sprintf("0:%d", audio.Index))
				}
			}
		}
	}
	// Each video stream gets its rung's encoder and options (per-stream
	// specifiers: stream i is rung i).
	for i, r := range j.Renditions {
		ea, err := videoEncoderArgs(fmt.Sprintf(":v:%d", i), r, enc, gopFrames, false)
		if err != nil {
			return nil, fmt.Errorf("ffmpeg job: %w", err)
		}
		a = append(a, ea...)
	}
	a = append(a, bt709Args(j.Source.Video)...)
	if enc.Threads > 0 {
		a = append(a, "-threads", threads)
	}
	if audio != nil {
		a = append(a, "-c:a", "aac", "-ac", "2", "-ar", strconv.Itoa(enc.AudioSampleRate))
		for k, rate := range audioRates {
			a = append(a, fmt.Sprintf("-b:a:%d", k), strconv.FormatInt(rate, 10))
		}
	}
	_, timescale, err := j.trackTiming()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg job: %w", err)
	}
	var slaves []string
	for i, r := range j.Renditions {
		streams := []int{i}
		if audio != nil {
			streams = append(streams, len(j.Renditions)+audioOf[r.AudioBitrate])
		}
		slaves = append(slaves, teeTarget(r.Name, streams, timescale))
	}
	for k, b := range audioRates {
		slaves = append(slaves, teeAudioTarget(b, len(j.Renditions)+k, enc.GOPSeconds))
	}
	// The tee muxer cannot tell the encoders that MP4 wants codec
	// configuration out of band: ask for it explicitly.
	a = append(a, "-flags", "+global_header", "-map_metadata", "-1", "-map_chapters", "-1")
	// No -fs: ffmpeg ignores it on a tee output (no file of its own to
	// measure) and the slaves do not accept it; the worker's watchdog
	// bounds each rung's size instead (see README, hostile media).
	if enc.MaxSeconds > 0 {
		a = append(a, "-t", strconv.FormatFloat(enc.MaxSeconds, 'f', 3, 64))
	}
	a = append(a, "-f", "tee", strings.Join(slaves, "|"))
	return a, nil
}

// filterGraph is one decode → (deinterlace) → constant frame rate → a
// cascade of scales, largest size first: the largest size is scaled from
// the source and each smaller size from the next larger one, so only one
// scaler reads full-size source frames. Rungs of the same size (one per
// codec) share one scale, split to their encoders. Rung i's frames leave
// the graph as [v<i>].
func (j Job) filterGraph(rate string) string {
	type size struct{ w, h int }
	var sizes []size            // distinct sizes, largest first
	rungsOf := map[size][]int{} // size → rung indexes, in rung order
	for i, r := range j.Renditions {
		sz := size{r.Width, r.Height}
		if _, ok := rungsOf[sz]; !ok {
			sizes = append(sizes, sz)
		}
		rungsOf[sz] = append(rungsOf[sz], i)
	}
	slices.SortStableFunc(sizes, func(a, b size) int { return cmp.Compare(b.w*b.h, a.w*a.h) })

	var g strings.Builder
	fmt.Fprintf(&g, "[0:%d]", j.Source.Video.Index)
	if j.Source.Video.Interlaced {
		g.WriteString("yadif=deint=interlaced,")
	}
	fmt.Fprintf(&g, "fps=%s,", rate)
	g.WriteString(toneMapFilter(j.Source.Video, sizes[0].w, sizes[0].h))
	for k, sz := range sizes {
		if k > 0 {
			fmt.Fprintf(&g, ";[c%d]", k)
		}
		fmt.Fprintf(&g, "scale=w=%d:h=%d,setsar=1,format=yuv420p", sz.w, sz.h)
		var outs []string
		for _, i := range rungsOf[sz] {
			outs = append(outs, fmt.Sprintf("[v%d]", i))
		}
		if k < len(sizes)-1 {
			outs = append(outs, fmt.Sprintf("[c%d]", k+1))
		}
		if len(outs) == 1 {
			g.WriteString(outs[0])
		} else {
			fmt.Fprintf(&g, ",split=%d%s", len(outs), strings.Join(outs, ""))
		}
	}
	return g.String()
}

// trackTiming is the video track timescale of the fragmented outputs
// and the ticks of a frame (see [cmaf.VideoTimescale]).
func (j Job) trackTiming() (frameTicks, timescale uint32, err error) {
	rate, _ := j.FrameRate()
	timescale, frameTicks, err = frameTiming(rate)
	return frameTicks, timescale, err
}

// teeTarget writes one rung's encode, the output streams at the indexes
// streams (its video, then its audio if any), to the MP4 and its video to
// the rung's fragmented MP4 ([FragPath], cut later by [Job.Cut]). Names
// are ladder names ([a-z0-9_-]) and the stream list holds only digits and
// commas, so no tee escaping is needed.
func teeTarget(name string, streams []int, timescale uint32) string {
	sel := make([]string, len(streams))
	for i, s := range streams {
		sel[i] = strconv.Itoa(s)
	}
	frag := strings.Join([]string{
		"f=mp4",
		"select=" + strconv.Itoa(streams[0]),
		"movflags=" + videoFragMovflags,
		"video_track_timescale=" + strconv.FormatUint(uint64(timescale), 10),
		"fflags=+bitexact",
	}, ":")
	return fmt.Sprintf("[f=mp4:movflags=+faststart:select=%s]%s|[%s]%s", strings.Join(sel, ","), MP4Path(name), frag, FragPath(name))
}

// teeAudioTarget writes the audio encode at output stream index stream
// (bitrate b) to its fragmented MP4 ([AudioFragPath]), a fragment every
// gop seconds.
func teeAudioTarget(b int64, stream, gop int) string {
	return fmt.Sprintf("[f=mp4:select=%d:movflags=%s:frag_duration=%d:fflags=+bitexact]%s",
		stream, audioFragMovflags, gop*1_000_000, AudioFragPath(b))
}

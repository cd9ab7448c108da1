package ffmpeg

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vidpipe/vidpipe/services/transcode/ladder"
)

// Default encoder presets of the codecs other than H.264 (see [Encoding]).
const (
	// DefaultHEVCPreset is libx265's preset: as fast a preset as
	// libx264's default; x265 at "veryfast" costs roughly what x264 costs
	// at "medium" (see docs/benchmarks.md, codecs).
	DefaultHEVCPreset = "veryfast"
	// DefaultAV1Preset is libsvtav1's preset (0 slowest .. 13 fastest).
	DefaultAV1Preset = 10
)

// HEVCPresets are the libx265 presets accepted for Encoding.HEVCPreset.
var HEVCPresets = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"}

// Encoder names per codec.
var encoderOf = map[ladder.Codec]string{ladder.H264: "libx264", ladder.HEVC: "libx265", ladder.AV1: "libsvtav1"}

// Encoder is the ffmpeg encoder of codec c ("" for an unknown codec).
func Encoder(c ladder.Codec) string { return encoderOf[c.Or()] }

// videoEncoderArgs are the output options that encode one rung's video:
// spec is the stream specifier the options apply to (":v:3" for the
// fourth video stream of a shared output, ":v" for an output of its own),
// gopFrames the keyframe interval in frames, chunk whether the encode is
// one chunk of the segment pipeline (see [ChunkJob], no MB-tree).
//
// Every codec gets the same keyframes: one forced every
// Encoding.GOPSeconds of the encoder's own time
// (-force_key_frames expr:gte(t,n_forced*G)), a maximum and minimum GOP of
// gopFrames, no scene-cut keyframes, closed GOPs (each keyframe an IDR or
// AV1 key frame: a segment decodes on its own), average-bitrate mode at
// the rung's video bitrate without a VBV cap (repeatable output, see the
// package doc), 8-bit 4:2:0:
//
//   - h264: libx264, High profile, Encoding.Preset; in chunks -mbtree 0.
//   - hevc: libx265, Main profile, Encoding.HEVCPreset, tagged hvc1 (the
//     sample entry Apple's players require); keyint = min-keyint =
//     gopFrames, scenecut 0, open-gop 0, forced keyframes as IDR
//     (-forced-idr 1); one frame thread (frame-threads 1: with more, two
//     runs of the same single pass gave different bytes, 838148 and 847849
//     for 13 s of 360p; x265 still uses its thread pool within a frame);
//     x265 logs only errors. In chunks cutree 0: x265's cutree (its
//     MB-tree) starves a chunk's start as x264's does. Measured on 13 s of
//     testsrc2 in 1 s + 4 s chunks (TestChunkedEqualsSinglePassHEVC,
//     veryfast): with cutree, PSNR -1.78 dB against the single pass at
//     180p 200 kb/s (-0.44 dB at 360p 500 kb/s) with 9 % (2 %) fewer
//     bytes (measured before frame-threads 1); with cutree 0, +0.32 dB (+0.43 dB) with 11 % (8 %) more bytes:
//     x265's average-bitrate control overshoots in short encodes.
//   - av1: libsvtav1, Main profile, Encoding.AV1Preset, keyint gopFrames
//     with key frames (irefresh-type 2: closed GOP), scene detection off
//     (scd 0), and one logical processor (lp 1): with more, SVT-AV1's
//     rate control depends on thread timing and two runs give different
//     bytes. SVT-AV1 1.4 ignores ffmpeg 5.1's forced keyframes; keyint
//     places them, and every encode (single pass or chunk) starts at a
//     segment boundary, so they fall on the same frames, as long as the
//     GOP is a whole number of frames or an encode has at most two
//     segments (see [FixedKeyframesAlign]). Chunks need no
//     option of their own: 13 s of testsrc2 in 1 s + 4 s fMP4 chunks at
//     360p 400 kb/s were +0.22 dB PSNR against one encode of the whole,
//     with 6 % more bytes (TestChunkedEqualsSinglePassAV1).
func videoEncoderArgs(spec string, r ladder.Rendition, enc Encoding, gopFrames int, chunk bool) ([]string, error) {
	g := strconv.Itoa(gopFrames)
	opt := func(name string) string { return "-" + name + spec }
	forced := fmt.Sprintf("expr:gte(t,n_forced*%d)", enc.GOPSeconds)
	a := []string{opt("c"), Encoder(r.Codec)}
	switch r.Codec.Or() {
	case ladder.H264:
		a = append(a, opt("preset"), enc.Preset, opt("profile"), "high", opt("pix_fmt"), "yuv420p",
			opt("g"), g, opt("keyint_min"), g, opt("sc_threshold"), "0", opt("force_key_frames"), forced)
		if chunk {
			a = append(a, opt("mbtree"), "0")
		}
	case ladder.HEVC:
		params := []string{"keyint=" + g, "min-keyint=" + g, "scenecut=0", "open-gop=0", "frame-threads=1", "log-level=error"}
		if chunk {
			params = append(params, "cutree=0")
		}
		if enc.Threads > 0 {
			params = append(params, "pools="+strconv.Itoa(enc.Threads))
		}
		a = append(a, opt("preset"), enc.HEVCPreset, opt("profile"), "main", opt("pix_fmt"), "yuv420p",
			opt("tag"), "hvc1", opt("g"), g, opt("keyint_min"), g, opt("force_key_frames"), forced,
			opt("forced-idr"), "1", opt("x265-params"), strings.Join(params, ":"))
	case ladder.AV1:
		a = append(a, opt("preset"), strconv.Itoa(enc.AV1Preset), opt("pix_fmt"), "yuv420p", opt("g"), g,
			opt("svtav1-params"), "keyint="+g+":irefresh-type=2:scd=0:lp=1")
	default:
		return nil, fmt.Errorf("rung %s: unknown codec %q", r.Name, r.Codec)
	}
	return append(a, opt("b"), strconv.FormatInt(r.VideoBitrate, 10)), nil
}

// MP4TagArgs are the output options that give a stream copy of codec c
// into an MP4 the sample entry of the rung's own encodes: hvc1 for HEVC
// (Apple's players refuse hev1; a copy from the CMAF track keeps its
// init's hvc1 anyway, this pins it); nil for the other codecs, whose
// default is right.
func MP4TagArgs(c ladder.Codec) []string {
	if c.Or() == ladder.HEVC {
		return []string{"-tag:v", "hvc1"}
	}
	return nil
}

// EncoderArgs are the output options that encode rendition r's video, at
// a constant frame rate fps, exactly as a rung of the single pass ([Job])
// is encoded (see videoEncoderArgs), for an output with that one video
// stream: what the codec comparison of make bench measures.
func EncoderArgs(r ladder.Rendition, enc Encoding, fps float64) ([]string, error) {
	enc = enc.withDefaults()
	if !(fps > 0) {
		return nil, fmt.Errorf("encoder args: frame rate %v", fps)
	}
	gopFrames := max(1, int(math.Ceil(float64(enc.GOPSeconds)*fps)))
	return videoEncoderArgs(":v", r, enc, gopFrames, false)
}

// FixedKeyframesAlign reports whether an encoder that places a keyframe
// every gopFrames frames and cannot be told where (libsvtav1: ffmpeg 5.1
// does not pass it forced keyframes) still starts every segment of an
// encode of segments segments with one. The segments of an encode start at
// its frames ceil(k*gop*fps), k = 0, 1, ... (see [Spans]; libx264 and
// libx265 are forced there), the fixed keyframes at k*gopFrames with
// gopFrames = ceil(gop*fps): the same frames for every k when gop*fps is
// a whole number (25, 30, 60 fps), and for k ≤ 1 at any rate, so an
// encode of at most two segments always aligns; beyond, the rounding
// drifts by a frame after about 1/(gopFrames - gop*fps) segments (17 at
// 29.97 fps, 9 at 59.94 fps, 2 at 29.51 fps with 2 s GOPs).
func FixedKeyframesAlign(rate string, gop, segments int) (bool, error) {
	num, den, err := ParseRate(rate)
	if err != nil {
		return false, err
	}
	if gop <= 0 {
		return false, fmt.Errorf("gop %d", gop)
	}
	g := int64(gop)
	gopFrames := (g*num + den - 1) / den
	for k := int64(2); k < int64(segments); k++ {
		if (k*g*num+den-1)/den != k*gopFrames {
			return false, nil
		}
	}
	return true, nil
}

package ffmpeg

import (
	"fmt"
	"math"
	"strconv"

	"github.com/vidpipe/vidpipe/services/transcode/ladder"
	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

// AudioDirName is the directory of the audio renditions inside HLSDir:
// one subdirectory per bitrate ([AudioGroup]). No ladder rung may be
// named like it.
const AudioDirName = ladder.ReservedName

// AudioGroup names an audio rendition by its bitrate in kbps, rounded:
// 128000 → "128k". It is the directory name under hls/audio and the
// suffix of the master playlist's audio group ids.
func AudioGroup(bitrate int64) string {
	return strconv.FormatInt((bitrate+500)/1000, 10) + "k"
}

// AudioDir is the audio rendition's HLS directory relative to the working
// directory, e.g. "hls/audio/128k": seg_00000.ts, ... and index.m3u8.
func AudioDir(bitrate int64) string { return HLSDir + "/" + AudioDirName + "/" + AudioGroup(bitrate) }

// AudioJob encodes the whole audio timeline once per distinct bitrate.
//
// The source is decoded once; each bitrate is an AAC-LC stereo encode at
// Encoding.AudioSampleRate, the same encode as [Job]'s, written by its
// own HLS muxer as audio-only MPEG-TS segments of about GOPSeconds
// (whole AAC frames: mostly 2.005333 s, now and then 1.984 s, at 48 kHz
// and a 2 s GOP) under [AudioDir]:
// seg_%05d.ts from 0 and index.m3u8. The playlist is an EVENT playlist
// rewritten (atomically: hls_flags temp_file, segments too are renamed
// into place once complete) after each segment, so a worker can poll it
// and upload finished segments while ffmpeg runs; #EXT-X-ENDLIST marks the
// end. Timestamps are those of the single pass plus [TimelineOffset], the
// same timeline as the video chunks' (the MPEG-TS muxer adds [TSMuxDelay]
// to both); the first AAC packet is the encoder's priming, 1024 samples
// before the video's first frame.
type AudioJob struct {
	// Input is the local source file.
	Input string
	// Source is the probe result of Input; it must have Audio.
	Source *probe.Result
	// Bitrates are the distinct audio bitrates of the ladder, in ladder order.
	Bitrates []int64
	// Encoding: AudioSampleRate, GOPSeconds, Threads, Decoders, MaxPixels
	// are used.
	Encoding Encoding
	// MaxSeconds caps the output timeline (-t): the declared duration plus
	// a tolerance; 0: no cap.
	MaxSeconds float64
	// Loudnorm, if not nil, normalizes the audio before the AAC encodes
	// (one loudnorm over the whole timeline, split to every bitrate), as
	// Job's. Default: nil, the audio's level is kept.
	Loudnorm *Loudnorm
}

// Args returns the ffmpeg arguments (without the binary name). Progress is
// written to stdout (-progress pipe:1); errors to stderr. The directories
// (AudioDir) must exist.
func (j AudioJob) Args() ([]string, error) {
	if j.Source == nil || j.Source.Audio == nil {
		return nil, fmt.Errorf("ffmpeg audio: no audio stream")
	}
	if len(j.Bitrates) == 0 {
		return nil, fmt.Errorf("ffmpeg audio: no bitrates")
	}
	seen := map[string]bool{}
	for _, b := range j.Bitrates {
		if b <= 0 {
			return nil, fmt.Errorf("ffmpeg audio: bitrate %d", b)
		}
		if g := AudioGroup(b); seen[g] {
			return nil, fmt.Errorf("ffmpeg audio: bitrate %d given twice (as %s)", b, g)
		} else {
			seen[g] = true
		}
	}
	if j.MaxSeconds < 0 || math.IsNaN(j.MaxSeconds) || math.IsInf(j.MaxSeconds, 0) {
		return nil, fmt.Errorf("ffmpeg audio: MaxSeconds %v", j.MaxSeconds)
	}
	job := Job{Input: j.Input, Source: j.Source, Encoding: j.Encoding}
	enc := job.Encoding.withDefaults()

	a := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y",
		"-progress", "pipe:1"}
	a = append(a, job.inputArgs(enc)...)
	a = append(a, "-i", "file:"+j.Input)
	if j.Loudnorm != nil {
		if err := j.Loudnorm.Validate(); err != nil {
			return nil, fmt.Errorf("ffmpeg audio: %w", err)
		}
		a = append(a, "-filter_complex", j.Loudnorm.audioGraph(j.Source.Audio.Index, len(j.Bitrates), enc.AudioSampleRate))
	}
	for i, b := range j.Bitrates {
		in := fmt.Sprintf("0:%d", j.Source.Audio.Index)
		if j.Loudnorm != nil {
			in = fmt.Sprintf("[a%d]", i)
		}
		a = append(a, "-map", in, "-vn", "-sn", "-dn",
			"-c:a", "aac", "-ac", "2", "-ar", strconv.Itoa(enc.AudioSampleRate),
			"-b:a", strconv.FormatInt(b, 10),
			"-map_metadata", "-1", "-map_chapters", "-1")
		if j.MaxSeconds > 0 {
			a = append(a, "-t", strconv.FormatFloat(j.MaxSeconds, 'f', 3, 64))
		}
		a = append(a, tsOutput(AudioDir(b), enc.GOPSeconds, TimelineOffset, "event", "independent_segments+temp_file", 0)...)
	}
	return a, nil
}

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
// directory, e.g. "hls/audio/128k": init.mp4, seg_00000.m4s, ... and
// index.m3u8.
func AudioDir(bitrate int64) string { return HLSDir + "/" + AudioDirName + "/" + AudioGroup(bitrate) }

// AudioJob encodes the whole audio timeline once per distinct bitrate.
//
// The source is decoded once; each bitrate is an AAC-LC stereo encode at
// Encoding.AudioSampleRate, the same encode as [Job]'s, written as a
// fragmented MP4 at [AudioFragPath] with a fragment every GOPSeconds
// (whole AAC frames: mostly 2.005333 s, now and then 1.984 s, at 48 kHz
// and a 2 s GOP). A fragment is written whole once complete, so a worker
// can cut the file while ffmpeg writes it (a [TrackCutter] with an audio
// [cmaf.Splitter]: init.mp4 and seg_%05d.m4s from 0 under [AudioDir]) and
// upload finished segments while ffmpeg runs. Timestamps are those of the
// single pass: decode time 0 is the encoder's first sample, the priming
// (1024 samples), which the init's edit list puts before presentation
// time 0, where the video's first frame is.
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
// of the tracks ([RungDir], [AudioDir]) must exist.
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
		a = append(a, audioFragOutput(AudioFragPath(b), enc.GOPSeconds)...)
	}
	return a, nil
}

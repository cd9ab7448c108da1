package ffmpeg

import (
	"fmt"
	"os"
	"strings"
)

// AssembleArgs builds a rung's progressive MP4 at out from its video CMAF
// track and (optional) audio CMAF track (local files, in order: the init
// segment, then the media segments; relative to the working directory or
// absolute; names without '|'): each list is read as one fragmented MP4
// (concat: protocol: init + segments is a valid fragmented MP4, the
// segments continue each other's decode times), copied without
// re-encoding (-c copy), moov first (+faststart), metadata and chapters
// stripped. Video-only when audio is empty.
//
// Timestamps are kept (-copyts): the video is presented from 0 and the
// audio keeps its position relative to it (the priming before 0, which the
// MP4's edit list cuts), as in the single pass's MP4.
//
// The segment lists are arguments: about 22 bytes a segment, so up to
// some 5000 segments a list (MAX_ARG_STRLEN is 128 KiB). Longer timelines
// use [AssembleListArgs].
func AssembleArgs(videoSegs, audioSegs []string, out string) []string {
	return assembleArgs("concat", "concat:"+strings.Join(videoSegs, "|"),
		len(audioSegs) > 0, "concat:"+strings.Join(audioSegs, "|"), out)
}

// AssembleListArgs is [AssembleArgs] with the segment lists in files
// (written by [WriteConcatList], paths relative to the working directory
// or absolute); audioList "" for video only. ffmpeg reads the lists with
// its concatf: protocol.
func AssembleListArgs(videoList, audioList, out string) []string {
	return assembleArgs("concatf", "concatf:"+videoList, audioList != "", "concatf:"+audioList, out)
}

// WriteConcatList writes the segment paths to file, one a line, for
// [AssembleListArgs].
func WriteConcatList(file string, segs []string) error {
	var b strings.Builder
	for _, s := range segs {
		if strings.ContainsAny(s, "\n\r") {
			return fmt.Errorf("concat list: segment %q has a line break", s)
		}
		b.WriteString(s)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("concat list: %w", err)
	}
	return nil
}

func assembleArgs(proto, video string, hasAudio bool, audio, out string) []string {
	in := func(url string) []string {
		return []string{"-protocol_whitelist", "file," + proto, "-format_whitelist", "mov",
			"-f", "mov", "-i", url}
	}
	a := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y",
		"-progress", "pipe:1", "-copyts"}
	a = append(a, in(video)...)
	if hasAudio {
		a = append(a, in(audio)...)
	}
	a = append(a, "-map", "0:v:0")
	if hasAudio {
		a = append(a, "-map", "1:a:0")
	}
	a = append(a, "-c", "copy", "-map_metadata", "-1", "-map_chapters", "-1",
		"-movflags", "+faststart", "-f", "mp4", out)
	return a
}

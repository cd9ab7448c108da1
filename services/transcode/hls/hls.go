// Package hls reads the local media playlists of the CMAF tracks and
// writes the master playlist that ties the rungs together, and the media
// playlists (fMP4 segments after #EXT-X-MAP, video rungs and separate
// audio renditions).
//
// The master playlist lists one EXT-X-STREAM-INF per rung with
// BANDWIDTH (the peak segment bitrate, measured on the segment files),
// AVERAGE-BANDWIDTH (total segment bytes over total duration), RESOLUTION,
// CODECS (RFC 6381 strings read from the encoded streams, see
// [VideoCodec]: avc1, hvc1 or av01; variants in the order given, which
// transcode makes H.264 first)
// and FRAME-RATE; the URI is relative: "<rung>/index.m3u8".
package hls

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
)

// Segment is one media segment of a media playlist.
type Segment struct {
	// URI as written in the playlist (relative to the playlist).
	URI string
	// Duration from EXTINF, in seconds.
	Duration float64
}

// ReadMediaPlaylist parses the media playlist at file. Only what vidpipe
// writes is supported: EXTINF + URI pairs, relative URIs without "..".
func ReadMediaPlaylist(file string) ([]Segment, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read media playlist: %w", err)
	}
	if !bytes.HasPrefix(data, []byte("#EXTM3U")) {
		return nil, fmt.Errorf("media playlist %s: missing #EXTM3U", file)
	}
	var segs []Segment
	pending := -1.0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXTINF:"):
			v, _, _ := strings.Cut(strings.TrimPrefix(line, "#EXTINF:"), ",")
			d, err := strconv.ParseFloat(v, 64)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("media playlist %s: bad EXTINF %q", file, line)
			}
			pending = d
		case strings.HasPrefix(line, "#"):
		default:
			if pending < 0 {
				return nil, fmt.Errorf("media playlist %s: URI %q without EXTINF", file, line)
			}
			if path.IsAbs(line) || strings.Contains(line, "..") || strings.Contains(line, ":") {
				return nil, fmt.Errorf("media playlist %s: unexpected URI %q", file, line)
			}
			segs = append(segs, Segment{URI: line, Duration: pending})
			pending = -1
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("media playlist %s: %w", file, err)
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("media playlist %s: no segments", file)
	}
	return segs, nil
}

// Rates measures segments of known sizes (bytes) and durations (seconds)
// in bits per second: peak is the highest segment bitrate and average the
// total bits over the total duration; 0 when unknown. Segments shorter
// than half of target (the last, short segment of a file) are left out of
// the peak unless all are short: one keyframe in a few milliseconds would
// otherwise claim an absurd peak and keep players off the rung.
func Rates(sizes []int64, durations []float64, target float64) (peak, average int64) {
	var total, totalDur, shortPeak float64
	for i, size := range sizes {
		d := durations[i]
		bits := float64(size) * 8
		total += bits
		totalDur += d
		if d <= 0 {
			continue
		}
		rate := bits / d
		if d >= target/2 {
			peak = max(peak, int64(rate+0.5))
		} else {
			shortPeak = max(shortPeak, rate)
		}
	}
	if peak == 0 {
		peak = int64(shortPeak + 0.5)
	}
	if totalDur > 0 {
		average = int64(total/totalDur + 0.5)
	}
	return peak, average
}

// Variant is one rung in the master playlist.
type Variant struct {
	// URI of the media playlist relative to the master, e.g. "720p/index.m3u8".
	URI string
	// Bandwidth is the peak bitrate in bits per second of what a player
	// plays with this variant: with a separate audio group (Audio), the
	// caller adds the group's audio bitrate to the video's (HLS:
	// BANDWIDTH covers every rendition played together).
	// AverageBandwidth likewise.
	Bandwidth        int64
	AverageBandwidth int64
	Width, Height    int
	// Codecs are RFC 6381 codec strings, e.g. "avc1.64001f", "mp4a.40.2";
	// with an audio group, its codec too.
	Codecs    []string
	FrameRate float64
	// Audio, if not empty, is the GROUP-ID of the variant's audio
	// renditions (see [MasterWithAudio]), written as AUDIO="..."; "" for
	// none (audio muxed into the variant's segments, or no audio).
	Audio string
}

// Master returns a master playlist listing the variants in order.
func Master(vs []Variant) []byte { return MasterWithAudio(nil, vs) }

// AACCodec is the RFC 6381 string of an AAC stream from ffprobe's profile
// name: "LC" → "mp4a.40.2".
func AACCodec(profile string) (string, error) {
	switch profile {
	case "LC", "":
		return "mp4a.40.2", nil
	case "HE-AAC":
		return "mp4a.40.5", nil
	case "HE-AACv2":
		return "mp4a.40.29", nil
	}
	return "", fmt.Errorf("unknown AAC profile %q", profile)
}

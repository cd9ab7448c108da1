package ffmpeg

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vidpipe/vidpipe/services/transcode/hls"
)

// Span is one video chunk of the output timeline, in frames of the output frame rate.
type Span struct {
	Index        int
	StartFrame   int     // first output frame
	Frames       int     // number of output frames
	Start        float64 // StartFrame / fps, seconds
	Duration     float64 // Frames / fps
	FirstSegment int     // global number of its first HLS segment
	Segments     int     // number of HLS segments it makes
}

// ParseRate parses an output frame rate as [Job.FrameRate] returns it
// ("30", "30000/1001", "25/1") into a positive fraction num/den.
func ParseRate(rate string) (num, den int64, err error) {
	n, d, frac := strings.Cut(strings.TrimSpace(rate), "/")
	num, err = strconv.ParseInt(n, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("frame rate %q: %w", rate, err)
	}
	den = 1
	if frac {
		if den, err = strconv.ParseInt(d, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("frame rate %q: %w", rate, err)
		}
	}
	// Bounded so that products of frame counts, seconds and num stay in int64.
	if num <= 0 || den <= 0 || num > 1<<31 || den > 1<<31 {
		return 0, 0, fmt.Errorf("frame rate %q: out of range", rate)
	}
	return num, den, nil
}

// Spans cuts a timeline of duration seconds at output frame rate rate
// (the string [Job.FrameRate] returns, e.g. "30", "30000/1001", "25/1")
// into chunks: the first `first` seconds (if first > 0 and the timeline is
// longer), then `chunk` seconds each (chunk is a multiple of gop), the last
// shorter; a timeline not longer than minDuration is one chunk.
//
// Boundaries are frame indexes F = ceil(T*fps - 1e-9) (computed exactly:
// T are whole seconds), Start = F/fps; the timeline has round(duration*fps)
// frames (at least one), as many as ffmpeg's fps filter makes of a video
// lasting duration. Segments are counted as the chunks' fragments will cut
// them: keyframes every gop seconds from each chunk's start (frame
// ceil(n*gop*fps) of the chunk, n = 0, 1, ...), FirstSegment numbering
// them across the whole timeline.
//
// duration should be the video's own timeline (the video stream's duration
// when known; see the probe): the last span's Frames, and so possibly its
// Segments, are what that duration promises; ffmpeg stops at the end of
// the source if it has fewer frames.
func Spans(rate string, duration float64, gop, first, chunk int, minDuration float64) ([]Span, error) {
	num, den, err := ParseRate(rate)
	if err != nil {
		return nil, err
	}
	switch {
	case !(duration > 0) || math.IsInf(duration, 0):
		return nil, fmt.Errorf("spans: duration %v must be positive", duration)
	case gop <= 0:
		return nil, fmt.Errorf("spans: gop %d must be positive", gop)
	case chunk <= 0 || chunk%gop != 0:
		return nil, fmt.Errorf("spans: chunk %d must be a positive multiple of gop %d", chunk, gop)
	case first < 0:
		return nil, fmt.Errorf("spans: first chunk %d must not be negative", first)
	}
	fps := float64(num) / float64(den)
	// What ffmpeg's fps filter makes of a video lasting duration: frames
	// up to the end rounded to the nearest frame (ties up).
	total := math.Round(duration * fps)
	if total > math.MaxInt32 {
		return nil, errors.New("spans: too many frames")
	}
	n := max(1, int64(total))
	// frameAt is the first frame at or after t whole seconds: ceil(t*num/den).
	frameAt := func(t int64) int64 { return (t*num + den - 1) / den }

	bounds := []int64{0}
	if duration > minDuration {
		t := int64(0)
		if first > 0 && duration > float64(first) {
			t = int64(first)
			bounds = append(bounds, frameAt(t))
		}
		for {
			t += int64(chunk)
			bounds = append(bounds, frameAt(t))
			if bounds[len(bounds)-1] >= n {
				break
			}
		}
	}
	bounds = append(bounds, n)

	var spans []Span
	segment := 0
	for i := 0; i+1 < len(bounds); i++ {
		start, end := bounds[i], min(bounds[i+1], n)
		if end <= start {
			continue // below one frame per second, or the end reached
		}
		frames := end - start
		// Keyframe k of the chunk is its frame ceil(k*gop*fps).
		segs := 0
		for k := int64(0); frameAt(k*int64(gop)) < frames; k++ {
			segs++
		}
		spans = append(spans, Span{
			Index:        len(spans),
			StartFrame:   int(start),
			Frames:       int(frames),
			Start:        float64(start) * float64(den) / float64(num),
			Duration:     float64(frames) * float64(den) / float64(num),
			FirstSegment: segment,
			Segments:     segs,
		})
		segment += segs
	}
	return spans, nil
}

// CheckSegments checks a rung's segments as a chunk's ffmpeg listed them
// in its local playlist ([PlaylistPath], read with hls.ReadMediaPlaylist)
// against the span: seg_%05d.m4s numbered from FirstSegment, each longer
// than zero, as many as Segments, lasting Duration (to within a
// millisecond). ffmpeg exits successfully when the source ends early (a
// source shorter than it declared: a span past its end gets one empty
// segment, a span cut short fewer or shorter ones); for the last span
// (last), fewer and shorter segments are accepted, as long as there is
// one and it is not empty.
func (s Span) CheckSegments(segs []hls.Segment, last bool) error {
	if len(segs) == 0 {
		return fmt.Errorf("chunk %d: no segments", s.Index)
	}
	if len(segs) > s.Segments || (!last && len(segs) != s.Segments) {
		return fmt.Errorf("chunk %d: %d segments, want %d", s.Index, len(segs), s.Segments)
	}
	total := 0.0
	for i, seg := range segs {
		if want := fmt.Sprintf(SegmentPattern, s.FirstSegment+i); seg.URI != want {
			return fmt.Errorf("chunk %d: segment %d is %q, want %q", s.Index, i, seg.URI, want)
		}
		if !(seg.Duration > 0) {
			return fmt.Errorf("chunk %d: segment %s is empty (the source ends before the chunk)", s.Index, seg.URI)
		}
		total += seg.Duration
	}
	if total > s.Duration+1e-3 || (!last && total < s.Duration-1e-3) {
		return fmt.Errorf("chunk %d: segments last %.6f s, want %.6f s", s.Index, total, s.Duration)
	}
	return nil
}

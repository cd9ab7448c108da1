package ffmpeg

import (
	"math"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/services/transcode/hls"
)

func TestSpans(t *testing.T) {
	type want struct{ start, frames, segments int }
	tests := map[string]struct {
		rate                string
		duration            float64
		gop, first, chunk   int
		minDuration         float64
		want                []want
		wantStart1, wantFPS float64 // Start of the second span; fps
		wantTotal, wantSegs int
	}{
		"30 fps, 1 s then 6 s": {
			rate: "30", duration: 13, gop: 2, first: 1, chunk: 6,
			want:       []want{{0, 30, 1}, {30, 180, 3}, {210, 180, 3}},
			wantStart1: 1, wantFPS: 30, wantTotal: 390, wantSegs: 7,
		},
		"30 fps, 1 s then 4 s (the quality test's)": {
			rate: "30/1", duration: 13, gop: 2, first: 1, chunk: 4,
			want:       []want{{0, 30, 1}, {30, 120, 2}, {150, 120, 2}, {270, 120, 2}},
			wantStart1: 1, wantFPS: 30, wantTotal: 390, wantSegs: 7,
		},
		"NTSC: boundaries are the next frame": {
			// ceil(29.97)=30, ceil(209.79)=210; 13 s are 389.61 frames: 390.
			rate: "30000/1001", duration: 13, gop: 2, first: 1, chunk: 6,
			want:       []want{{0, 30, 1}, {30, 180, 3}, {210, 180, 3}},
			wantStart1: 1.001, wantFPS: 30000.0 / 1001, wantTotal: 390, wantSegs: 7,
		},
		"NTSC film, 4 s chunks": {
			// Keyframes of a 96-frame chunk at 0, ceil(47.95)=48; 96 is the next chunk's.
			rate: "24000/1001", duration: 9.5, gop: 2, first: 1, chunk: 4,
			want:       []want{{0, 24, 1}, {24, 96, 2}, {120, 96, 2}, {216, 12, 1}},
			wantStart1: 1.001, wantFPS: 24000.0 / 1001, wantTotal: 228, wantSegs: 6,
		},
		"25 fps, last chunk shorter": {
			rate: "25/1", duration: 10, gop: 2, first: 1, chunk: 6,
			want:       []want{{0, 25, 1}, {25, 150, 3}, {175, 75, 2}},
			wantStart1: 1, wantFPS: 25, wantTotal: 250, wantSegs: 6,
		},
		"no first chunk": {
			rate: "25", duration: 10, gop: 2, first: 0, chunk: 6,
			want:       []want{{0, 150, 3}, {150, 100, 2}},
			wantStart1: 6, wantFPS: 25, wantTotal: 250, wantSegs: 5,
		},
		"not longer than min duration: one chunk": {
			rate: "25", duration: 10, gop: 2, first: 1, chunk: 6, minDuration: 10,
			want:    []want{{0, 250, 5}},
			wantFPS: 25, wantTotal: 250, wantSegs: 5,
		},
		"longer than min duration: cut": {
			rate: "25", duration: 10.04, gop: 2, first: 1, chunk: 6, minDuration: 10,
			want:       []want{{0, 25, 1}, {25, 150, 3}, {175, 76, 2}},
			wantStart1: 1, wantFPS: 25, wantTotal: 251, wantSegs: 6,
		},
		"shorter than the first chunk": {
			rate: "30", duration: 0.5, gop: 2, first: 1, chunk: 6,
			want:    []want{{0, 15, 1}},
			wantFPS: 30, wantTotal: 15, wantSegs: 1,
		},
		"ends on a boundary: no empty chunk": {
			rate: "30", duration: 7, gop: 2, first: 1, chunk: 6,
			want:       []want{{0, 30, 1}, {30, 180, 3}},
			wantStart1: 1, wantFPS: 30, wantTotal: 210, wantSegs: 4,
		},
		"a hair past a boundary rounds to it": {
			rate: "30", duration: 7.01, gop: 2, first: 1, chunk: 6,
			want:       []want{{0, 30, 1}, {30, 180, 3}},
			wantStart1: 1, wantFPS: 30, wantTotal: 210, wantSegs: 4,
		},
		"one frame past a boundary is a chunk": {
			rate: "30", duration: 7 + 1.0/30, gop: 2, first: 1, chunk: 6,
			want:       []want{{0, 30, 1}, {30, 180, 3}, {210, 1, 1}},
			wantStart1: 1, wantFPS: 30, wantTotal: 211, wantSegs: 5,
		},
		"first chunk longer than a GOP": {
			rate: "30", duration: 20, gop: 2, first: 3, chunk: 8,
			want:       []want{{0, 90, 2}, {90, 240, 4}, {330, 240, 4}, {570, 30, 1}},
			wantStart1: 3, wantFPS: 30, wantTotal: 600, wantSegs: 11,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			spans, err := Spans(tc.rate, tc.duration, tc.gop, tc.first, tc.chunk, tc.minDuration)
			if err != nil {
				t.Fatal(err)
			}
			if len(spans) != len(tc.want) {
				t.Fatalf("%d spans %+v, want %d", len(spans), spans, len(tc.want))
			}
			frames, segs := 0, 0
			for i, s := range spans {
				w := tc.want[i]
				if s.Index != i || s.StartFrame != w.start || s.Frames != w.frames || s.Segments != w.segments {
					t.Errorf("span %d: %+v, want start %d frames %d segments %d", i, s, w.start, w.frames, w.segments)
				}
				// Contiguous frames and segment numbers; times are the frames'.
				if s.StartFrame != frames || s.FirstSegment != segs {
					t.Errorf("span %d starts at frame %d segment %d, want %d and %d", i, s.StartFrame, s.FirstSegment, frames, segs)
				}
				if math.Abs(s.Start-float64(s.StartFrame)/tc.wantFPS) > 1e-9 || math.Abs(s.Duration-float64(s.Frames)/tc.wantFPS) > 1e-9 {
					t.Errorf("span %d: Start %v Duration %v, want %v and %v", i, s.Start, s.Duration,
						float64(s.StartFrame)/tc.wantFPS, float64(s.Frames)/tc.wantFPS)
				}
				frames += s.Frames
				segs += s.Segments
			}
			if frames != tc.wantTotal || segs != tc.wantSegs {
				t.Errorf("%d frames, %d segments in all; want %d and %d", frames, segs, tc.wantTotal, tc.wantSegs)
			}
			if len(spans) > 1 && math.Abs(spans[1].Start-tc.wantStart1) > 1e-9 {
				t.Errorf("second span starts at %v s, want %v", spans[1].Start, tc.wantStart1)
			}
		})
	}
}

func TestSpansErrors(t *testing.T) {
	for name, call := range map[string]func() error{
		"bad rate":                 func() error { _, err := Spans("fast", 10, 2, 1, 6, 0); return err },
		"zero rate":                func() error { _, err := Spans("0/1", 10, 2, 1, 6, 0); return err },
		"zero denominator":         func() error { _, err := Spans("30/0", 10, 2, 1, 6, 0); return err },
		"zero duration":            func() error { _, err := Spans("30", 0, 2, 1, 6, 0); return err },
		"NaN duration":             func() error { _, err := Spans("30", math.NaN(), 2, 1, 6, 0); return err },
		"chunk not a GOP multiple": func() error { _, err := Spans("30", 10, 2, 1, 5, 0); return err },
		"zero GOP":                 func() error { _, err := Spans("30", 10, 0, 1, 6, 0); return err },
		"negative first":           func() error { _, err := Spans("30", 10, 2, -1, 6, 0); return err },
	} {
		if err := call(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// Long timelines: frame and segment numbering stay exact.
func TestSpansLong(t *testing.T) {
	spans, err := Spans("30000/1001", 2*3600, 2, 1, 6, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := spans[len(spans)-1]
	if total := last.StartFrame + last.Frames; total != 215784 { // round(7200*29.97)
		t.Errorf("%d frames, want 215784", total)
	}
	if n := last.FirstSegment + last.Segments; n != 3601 {
		// 1 s, then 1199 chunks of 6 s (3 segments each), then the last 4.97 s (3 segments).
		t.Errorf("%d segments, want 3601", n)
	}
	if len(spans) != 1201 {
		t.Errorf("%d spans, want 1201", len(spans))
	}
}

func TestSpanCheckSegments(t *testing.T) {
	span := Span{Index: 2, StartFrame: 30, Frames: 120, Start: 1, Duration: 4, FirstSegment: 1, Segments: 2}
	good := []hls.Segment{{URI: "seg_00001.m4s", Duration: 2}, {URI: "seg_00002.m4s", Duration: 2}}
	for name, tc := range map[string]struct {
		segs    []hls.Segment
		last    bool
		wantErr string
	}{
		"as planned":              {segs: good},
		"as planned, last":        {segs: good, last: true},
		"none":                    {segs: nil, wantErr: "no segments"},
		"one missing":             {segs: good[:1], wantErr: "1 segments, want 2"},
		"last cut short":          {segs: []hls.Segment{{URI: "seg_00001.m4s", Duration: 1.5}}, last: true},
		"one too many, even last": {segs: append(good, hls.Segment{URI: "seg_00003.m4s", Duration: 0.1}), last: true, wantErr: "3 segments"},
		"misnumbered":             {segs: []hls.Segment{{URI: "seg_00000.m4s", Duration: 2}, {URI: "seg_00001.m4s", Duration: 2}}, wantErr: "want \"seg_00001.m4s\""},
		"empty: source ended":     {segs: []hls.Segment{{URI: "seg_00001.m4s", Duration: 0}}, last: true, wantErr: "empty"},
		"short":                   {segs: []hls.Segment{{URI: "seg_00001.m4s", Duration: 2}, {URI: "seg_00002.m4s", Duration: 1.9}}, wantErr: "last 3.900000 s"},
		"long":                    {segs: []hls.Segment{{URI: "seg_00001.m4s", Duration: 2}, {URI: "seg_00002.m4s", Duration: 2.1}}, last: true, wantErr: "last 4.100000 s"},
		"rounded EXTINF":          {segs: []hls.Segment{{URI: "seg_00001.m4s", Duration: 2.000001}, {URI: "seg_00002.m4s", Duration: 1.999999}}},
	} {
		err := span.CheckSegments(tc.segs, tc.last)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: error %v, want %q", name, err, tc.wantErr)
		}
	}
}

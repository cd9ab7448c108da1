package ffmpeg

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

// outputs splits args after the filter graph into one slice per output
// (each ends with its file name, the argument after the playlist options).
func outputs(t *testing.T, args []string) [][]string {
	t.Helper()
	i := slices.Index(args, "-filter_complex")
	if i < 0 {
		t.Fatalf("no -filter_complex in %q", args)
	}
	var outs [][]string
	cur := []string{}
	for _, a := range args[i+2:] {
		cur = append(cur, a)
		if strings.HasSuffix(a, "/"+FragName) && !strings.HasPrefix(cur[len(cur)-2], "-") {
			outs = append(outs, cur)
			cur = []string{}
		}
	}
	if len(cur) != 0 {
		t.Fatalf("trailing arguments %q", cur)
	}
	return outs
}

// inputOptions are args from -protocol_whitelist up to -i, without -ss.
func inputOptions(args []string) []string {
	from, to := slices.Index(args, "-protocol_whitelist"), slices.Index(args, "-i")
	var out []string
	for i := from; i < to; i++ {
		if args[i] == "-ss" {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

func TestChunkArgs(t *testing.T) {
	rends := ladder.MustParse(ladder.DefaultSpec).Select(1920, 1080)[:2]
	src := source(true, "30000/1001", 30000.0/1001)
	enc := Encoding{Threads: 3, MaxPixels: 8294400, Decoders: []string{"h264", "aac"}}
	spans, err := Spans("30000/1001", 13, 2, 1, 6, 0)
	if err != nil {
		t.Fatal(err)
	}
	job := Job{Input: "src.mp4", Source: src, Renditions: rends, Encoding: enc}
	single, err := job.Args()
	if err != nil {
		t.Fatal(err)
	}
	args, err := ChunkJob{Input: "src.mp4", Source: src, Renditions: rends, Encoding: enc, Span: spans[1]}.Args()
	if err != nil {
		t.Fatal(err)
	}
	in := slices.Index(args, "-i")
	// The single pass's input hardening, the source's own timeline, an
	// accurate seek a little before the span (1.001 s).
	if got, want := inputOptions(args), inputOptions(single); !slices.Equal(got, want) {
		t.Errorf("input options\n got %q\nwant %q", got, want)
	}
	if i := slices.Index(args, "-copyts"); i < 0 || i > in || args[i+1] != "-start_at_zero" {
		t.Errorf("-copyts -start_at_zero not among the input options: %q", args[:in])
	}
	if got := after(args[:in], "-ss"); got != "0.751000" {
		t.Errorf("-ss %q, want 0.751000 (the span's start less the margin)", got)
	}
	if args[in+1] != "file:src.mp4" || count(args, "-i") != 1 {
		t.Errorf("inputs %q, want the one source file", args[in:in+2])
	}
	// The single pass's graph, the fps filter starting at the span.
	wantGraph := strings.Replace(after(single, "-filter_complex"), "fps=30000/1001,", "fps=30000/1001:start_time=1.001000,", 1)
	if got := after(args, "-filter_complex"); got != wantGraph {
		t.Errorf("graph\n got %s\nwant %s", got, wantGraph)
	}
	outs := outputs(t, args)
	if len(outs) != len(rends) {
		t.Fatalf("%d outputs, want one per rung: %q", len(outs), outs)
	}
	for i, out := range outs {
		r := rends[i]
		for flag, want := range map[string]string{
			"-map": "[v" + string(rune('0'+i)) + "]", "-b:v": map[int]string{0: "800000", 1: "1400000"}[i],
			"-frames:v": "180", "-f": "mp4", "-movflags": "+frag_keyframe+empty_moov+default_base_moof",
			"-video_track_timescale": "90000", "-fflags": "+bitexact",
			"-map_metadata": "-1", "-map_chapters": "-1", "-threads": "3", "-mbtree:v": "0",
		} {
			if got := after(out, flag); got != want {
				t.Errorf("output %d: %s %q, want %q", i, flag, got, want)
			}
		}
		if out[len(out)-1] != FragPath(r.Name) {
			t.Errorf("output %d writes %s, want %s", i, out[len(out)-1], FragPath(r.Name))
		}
		if !slices.Contains(out, "-an") || slices.Contains(out, "-c:a") {
			t.Errorf("output %d: want video only: %q", i, out)
		}
		// libx264 as in the single pass (same rate control, GOP, keyframes).
		for _, opt := range []string{"-c", "-preset", "-profile", "-pix_fmt", "-g", "-keyint_min", "-sc_threshold", "-force_key_frames", "-b"} {
			got, want := after(out, opt+":v"), after(single, fmt.Sprintf("%s:v:%d", opt, i))
			if got != want || got == "" {
				t.Errorf("output %d: %s:v %q, single pass %q", i, opt, got, want)
			}
		}
		for _, vbv := range []string{"-maxrate", "-bufsize", "-crf"} {
			if slices.Contains(out, vbv) {
				t.Errorf("output %d has %s", i, vbv)
			}
		}
	}
}

func TestChunkArgsFirstChunkAndPrecision(t *testing.T) {
	rends := ladder.MustParse(ladder.DefaultSpec).Select(1920, 1080)[:1]
	src := source(false, "30000/1001", 30000.0/1001)
	// Chunk 0: no seek, the fps filter from 0, segments from 0.
	args, err := ChunkJob{Input: "s", Source: src, Renditions: rends, Span: Span{Frames: 30, Duration: 1.001, Segments: 1}}.Args()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(args, "-ss") {
		t.Errorf("chunk 0 seeks: %q", args)
	}
	if g := after(args, "-filter_complex"); !strings.Contains(g, "fps=30000/1001:start_time=0.000000,") {
		t.Errorf("graph %s", g)
	}
	// The timestamps are set when the output is cut (ChunkJob.Cut), not here.
	if slices.Contains(args, "-output_ts_offset") || slices.Contains(args, "-start_number") {
		t.Errorf("chunk 0 shifts or numbers its output: %q", args)
	}
	// A start between microseconds is truncated: never after the span's first frame.
	span := Span{Index: 1, StartFrame: 31, Frames: 60, Start: 31 * 1001 / 30000.0, FirstSegment: 7, Segments: 1}
	args, err = ChunkJob{Input: "s", Source: src, Renditions: rends, Span: span}.Args()
	if err != nil {
		t.Fatal(err)
	}
	if g := after(args, "-filter_complex"); !strings.Contains(g, "start_time=1.034366,") {
		t.Errorf("graph %s, want start_time=1.034366 (1.0343666…)", g)
	}
	if after(args, "-ss") != "0.784366" || after(args, "-frames:v") != "60" {
		t.Errorf("-ss %s -frames:v %s", after(args, "-ss"), after(args, "-frames:v"))
	}
	if slices.Contains(args, "-threads") || slices.Contains(args, "-filter_complex_threads") {
		t.Errorf("threads given with Threads 0 (auto)")
	}
}

func TestChunkArgsErrors(t *testing.T) {
	rends := ladder.MustParse(ladder.DefaultSpec).Select(1920, 1080)[:1]
	span := Span{Frames: 30, Segments: 1}
	for name, j := range map[string]ChunkJob{
		"no video":       {Source: &probe.Result{}, Renditions: rends, Span: span},
		"no renditions":  {Source: source(true, "30", 30), Span: span},
		"empty span":     {Source: source(true, "30", 30), Renditions: rends},
		"negative start": {Source: source(true, "30", 30), Renditions: rends, Span: Span{Frames: 1, Start: -1}},
	} {
		if _, err := j.Args(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestFormatSeconds(t *testing.T) {
	for in, want := range map[float64]string{
		0: "0.000000", 1.001: "1.001000", 2: "2.000000", 60 * 1001 / 30000.0: "2.002000",
		31 * 1001 / 30000.0: "1.034366", 1e-7: "0.000000", 7199.999999: "7199.999999",
		-11.4: "-11.400000", 0.25: "0.250000",
	} {
		if got := formatSeconds(in); got != want {
			t.Errorf("formatSeconds(%v) = %s, want %s", in, got, want)
		}
	}
}

// A source shorter than declared: ffmpeg succeeds, and CheckSegments
// tells a span cut short (accepted for the last) from one past the end.
func TestChunkPastTheSourcesEnd(t *testing.T) {
	// As if the 2 s source declared 6 s: 1 s, then 2 s chunks.
	dir, src, rends, spans := tinyChunkSource(t, 2)
	for _, tc := range []struct {
		span    Span
		wantErr string
	}{
		{spans[0], ""},
		{spans[1], ""},            // [1, 3): cut short at 2 s, accepted as the last
		{spans[2], "no segments"}, // [3, 5): nothing left
	} {
		cj := ChunkJob{Input: "source", Source: src, Renditions: rends, Encoding: Encoding{Preset: "ultrafast", GOPSeconds: 1}, Span: tc.span}
		args, err := cj.Args()
		if err != nil {
			t.Fatal(err)
		}
		if err := (Runner{Path: harness.MustTool(t, "ffmpeg")}).Run(context.Background(), dir, args, 0); err != nil {
			t.Fatalf("chunk %d: %v", tc.span.Index, err)
		}
		cut, err := cj.Cut(dir)
		if err != nil {
			t.Fatal(err)
		}
		segs := cut["64p"].Playlist()
		err = tc.span.CheckSegments(segs, true)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("chunk %d: %+v: error %v, want %q", tc.span.Index, segs, err, tc.wantErr)
		}
		if tc.span.Index == 1 && tc.span.CheckSegments(segs, false) == nil {
			t.Errorf("chunk 1 cut short accepted as a middle chunk: %+v", segs)
		}
	}
}

func TestChunkSeek(t *testing.T) {
	rends := ladder.MustParse(ladder.DefaultSpec).Select(1920, 1080)[:1]
	keyframes := []float64{0, 1.5, 3.1, 6.2, 7.8}
	for _, tc := range []struct {
		format    string
		start     float64
		keyframes []float64
		want      string // -ss, "" for none
	}{
		{"mov,mp4,m4a,3gp,3g2,mj2", 7, nil, "6.750000"},
		{"mov,mp4,m4a,3gp,3g2,mj2", 7, keyframes, "6.750000"}, // the demuxer finds the keyframe itself
		{"matroska,webm", 0.2, nil, ""},
		{"mpegts", 20, nil, "9.750000"}, // 10 s before the span's margin
		{"mpegts", 7, nil, ""},
		{"mpegts", 7, keyframes, "5.700000"},   // keyframe 6.2 ≤ 6.75, less 0.5
		{"mpegts", 6.3, keyframes, "2.600000"}, // 6.2 is after 6.05: keyframe 3.1
		{"mpegts", 1, keyframes, ""},           // keyframe 0
		{"mpeg", 7, keyframes, "5.700000"},
	} {
		src := source(false, "30", 30)
		src.FormatName = tc.format
		args, err := ChunkJob{Input: "s", Source: src, Renditions: rends, Keyframes: tc.keyframes,
			Span: Span{StartFrame: int(tc.start * 30), Frames: 30, Start: tc.start, Segments: 1}}.Args()
		if err != nil {
			t.Fatal(err)
		}
		if got := after(args[:slices.Index(args, "-i")], "-ss"); got != tc.want {
			t.Errorf("%s from %v s (keyframes %v): -ss %q, want %q", tc.format, tc.start, tc.keyframes, got, tc.want)
		}
	}
}

// A chunk's progress is measured in frames (ffmpeg reports out_time 0 for
// its copied timestamps): the encoded-seconds metric grows by the chunk's
// duration, not by nothing.
func TestChunkProgressCountsFrames(t *testing.T) {
	dir, src, rends, spans := tinyChunkSource(t, 6)
	args, err := ChunkJob{Input: "source", Source: src, Renditions: rends, Encoding: Encoding{Preset: "ultrafast", GOPSeconds: 1}, Span: spans[2]}.Args()
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := (Runner{Path: harness.MustTool(t, "ffmpeg"), Metrics: m, FrameRate: 10}).Run(context.Background(), dir, args, spans[2].Duration); err != nil {
		t.Fatal(err)
	}
	if got := metricValue(t, reg, "vidpipe_transcode_ffmpeg_encoded_seconds_total"); math.Abs(got-spans[2].Duration) > 0.01 {
		t.Errorf("encoded seconds = %v, want the chunk's %v", got, spans[2].Duration)
	}
}

// tinyChunkSource writes a 64x64 10 fps source of seconds seconds as
// "source" in a fresh directory (with the 64p rung's HLS directory) and
// returns it probed, its one rendition, and the spans of a 6 s timeline
// cut as 1 s, then 2 s chunks (GOP 1).
func tinyChunkSource(t *testing.T, seconds int) (dir string, src *probe.Result, rends []ladder.Rendition, spans []Span) {
	t.Helper()
	dir = t.TempDir()
	MustFFmpeg(t, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=64x64:rate=10:duration=%d", seconds), "-c:v", "libx264",
		"-preset", "ultrafast", "-f", "mp4", filepath.Join(dir, "source"))
	src, err := probe.Prober{Path: harness.MustTool(t, "ffprobe")}.Probe(context.Background(), filepath.Join(dir, "source"))
	if err != nil {
		t.Fatal(err)
	}
	rends = ladder.MustParse("64p:64:100k:64k").Select(64, 64)
	mkdirs(t, filepath.Join(dir, RungDir("64p")))
	if spans, err = Spans("10", 6, 1, 1, 2, 0); err != nil {
		t.Fatal(err)
	}
	return dir, src, rends, spans
}

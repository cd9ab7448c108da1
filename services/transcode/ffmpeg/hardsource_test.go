package ffmpeg

// Harder sources (issue 16): HDR (PQ, HLG), rotated and anamorphic
// sources, generated with ffmpeg from testsrc2, encoded by the single
// pass and by the chunks (the segment pipeline's encodes, assembled), and
// checked with ffprobe.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/services/transcode/hls"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

// Test pattern of the hard-source corpus: 4 s of testsrc2 at 25 fps with a tone.
const (
	hardSeconds = 4
	hardFPS     = 25
)

// toHDR is the zscale that turns testsrc2 (BT.709 SDR, white at 100 cd/m²)
// into 10-bit BT.2020 with the transfer tin (smpte2084 or arib-std-b67).
func toHDR(transfer string) string {
	return "zscale=tin=bt709:min=bt709:pin=bt709:rin=tv:t=" + transfer + ":m=bt2020nc:p=bt2020:r=tv:npl=100,format=yuv420p10le"
}

// MustHardSource writes one source of the corpus to dir and returns its path:
//
//	sdr         320x180 H.264 8-bit, untagged (the reference of the tone mapping)
//	pq          320x180 HEVC Main 10, BT.2020, PQ (SMPTE 2084), tagged in the bitstream and the container
//	hlg         320x180 H.264 High 10, BT.2020, HLG (ARIB STD-B67)
//	rotate90    320x180 stored, display matrix 90° (shown 180x320)
//	rotate270   320x180 stored, display matrix 270°
//	anamorphic  240x180 stored with SAR 4:3 (shown 320x180, 16:9)
//
// each with an AAC tone for the whole duration.
func MustHardSource(tb testing.TB, dir, kind string) string {
	tb.Helper()
	size, vf := "320x180", "null"
	var venc []string
	switch kind {
	case "sdr", "rotate90", "rotate270":
	case "anamorphic":
		size, vf = "240x180", "setsar=4/3"
	case "pq":
		vf = toHDR("smpte2084")
		venc = []string{"-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1",
			"-x265-params", "log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc"}
	case "hlg":
		vf = toHDR("arib-std-b67")
		venc = []string{"-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "high10"}
	default:
		tb.Fatalf("hard source %q", kind)
	}
	if venc == nil {
		venc = []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"}
	}
	if kind == "pq" || kind == "hlg" {
		trc := map[string]string{"pq": "smpte2084", "hlg": "arib-std-b67"}[kind]
		venc = append(venc, "-color_primaries", "bt2020", "-color_trc", trc, "-colorspace", "bt2020nc", "-color_range", "tv")
	}
	dur := strconv.Itoa(hardSeconds)
	path := filepath.Join(dir, kind+".mp4")
	out := path
	if strings.HasPrefix(kind, "rotate") {
		out = path + ".plain.mp4"
	}
	args := []string{"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=%d:duration=%s", size, hardFPS, dur),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=" + dur,
		"-vf", vf}
	args = append(args, venc...)
	args = append(args, "-c:a", "aac", "-b:a", "64k", "-f", "mp4", out)
	MustFFmpeg(tb, args...)
	if out != path {
		// ffmpeg 5.1 turns the rotate tag into a display matrix when stream-copying.
		MustFFmpeg(tb, "-i", out, "-map", "0", "-c", "copy", "-metadata:s:v:0", "rotate="+strings.TrimPrefix(kind, "rotate"), "-f", "mp4", path)
		os.Remove(out)
	}
	return path
}

// encodeBoth encodes source into rends twice, in dir/single by the single
// pass ([Job]) and in dir/chunked by the segment pipeline's jobs (a
// [ChunkJob] per 1 s span, then the [AudioJob], then [AssembleArgs] per
// rung); it returns the two directories.
func encodeBoth(t *testing.T, dir, source string, src *probe.Result, rends []ladder.Rendition) (single, chunked string) {
	t.Helper()
	ctx := context.Background()
	enc := Encoding{Preset: "veryfast", GOPSeconds: 1, Threads: 2}
	runner := Runner{Path: harness.MustTool(t, "ffmpeg")}
	run := func(wd string, args []string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if err := runner.Run(ctx, wd, args, 0); err != nil {
			t.Fatalf("ffmpeg %q: %v", args, err)
		}
	}
	single, chunked = filepath.Join(dir, "single"), filepath.Join(dir, "chunked")
	mkdirs(t, filepath.Join(single, MP4Dir), filepath.Join(chunked, MP4Dir))
	var bitrates []int64
	for _, r := range rends {
		mkdirs(t, filepath.Join(single, RungDir(r.Name)), filepath.Join(chunked, RungDir(r.Name)), filepath.Join(chunked, AudioDir(r.AudioBitrate)))
		if !slices.Contains(bitrates, r.AudioBitrate) {
			bitrates = append(bitrates, r.AudioBitrate)
		}
	}
	job := Job{Input: source, Source: src, Renditions: rends, Encoding: enc}
	if err := MakeDirs(single, job.OutputDirs()); err != nil {
		t.Fatal(err)
	}
	args, err := job.Args()
	run(single, args, err)
	if _, err := job.Cut(single); err != nil {
		t.Fatal(err)
	}

	rate, _ := job.FrameRate()
	spans, err := Spans(rate, src.Video.Duration, enc.GOPSeconds, 1, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	videoSegs := map[string][]string{}
	for _, r := range rends {
		videoSegs[r.Name] = []string{RungDir(r.Name) + "/" + InitName}
	}
	for _, span := range spans {
		cj := ChunkJob{Input: source, Source: src, Renditions: rends, Encoding: enc, Span: span}
		args, err := cj.Args()
		run(chunked, args, err)
		if _, err := cj.Cut(chunked); err != nil {
			t.Fatal(err)
		}
		for _, r := range rends {
			segs, err := hls.ReadMediaPlaylist(filepath.Join(chunked, PlaylistPath(r.Name)))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range segs {
				videoSegs[r.Name] = append(videoSegs[r.Name], RungDir(r.Name)+"/"+s.URI)
			}
		}
	}
	aj := AudioJob{Input: source, Source: src, Bitrates: bitrates, Encoding: enc, MaxSeconds: hardSeconds + 1}
	args, err = aj.Args()
	run(chunked, args, err)
	if _, err := aj.Cut(chunked); err != nil {
		t.Fatal(err)
	}
	for _, r := range rends {
		segs, err := hls.ReadMediaPlaylist(filepath.Join(chunked, AudioDir(r.AudioBitrate), PlaylistName))
		if err != nil {
			t.Fatal(err)
		}
		audio := []string{AudioDir(r.AudioBitrate) + "/" + InitName}
		for _, s := range segs {
			audio = append(audio, AudioDir(r.AudioBitrate)+"/"+s.URI)
		}
		run(chunked, AssembleArgs(videoSegs[r.Name], audio, MP4Path(r.Name)), nil)
	}
	return single, chunked
}

// outStream is what ffprobe says about one stream of an output.
type outStream struct {
	CodecType      string            `json:"codec_type"`
	CodecName      string            `json:"codec_name"`
	PixFmt         string            `json:"pix_fmt"`
	Width          int               `json:"width"`
	Height         int               `json:"height"`
	SAR            string            `json:"sample_aspect_ratio"`
	ColorRange     string            `json:"color_range"`
	ColorSpace     string            `json:"color_space"`
	ColorTransfer  string            `json:"color_transfer"`
	ColorPrimaries string            `json:"color_primaries"`
	Tags           map[string]string `json:"tags"`
	SideData       []map[string]any  `json:"side_data_list"`
}

func probeStreams(tb testing.TB, file string) (video, audio outStream) {
	tb.Helper()
	out, err := exec.Command(harness.MustTool(tb, "ffprobe"), "-v", "error", "-show_streams", "-of", "json", file).Output()
	if err != nil {
		tb.Fatalf("ffprobe %s: %v", file, err)
	}
	var doc struct {
		Streams []outStream `json:"streams"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		tb.Fatal(err)
	}
	for _, s := range doc.Streams {
		switch s.CodecType {
		case "video":
			video = s
		case "audio":
			audio = s
		}
	}
	return video, audio
}

// streamSeconds is the sum of the packet durations of the stream sel ("v:0", "a:0") of file.
func streamSeconds(tb testing.TB, file, sel string) (seconds float64, packets int) {
	tb.Helper()
	s := probePackets(tb, file, sel)
	var ticks int64
	for _, p := range s.Packets {
		ticks += p.Duration
	}
	return s.seconds(ticks), len(s.Packets)
}

// lumaStats are signalstats of one frame: mean, 10th and 90th percentile
// luma, mean saturation (8-bit scale).
type lumaStats struct{ YAvg, YLow, YHigh, SatAvg float64 }

// frameStats returns the signalstats of file's frame at second at.
func frameStats(tb testing.TB, file string, at float64) lumaStats {
	tb.Helper()
	meta := filepath.Join(tb.TempDir(), "stats.txt")
	MustFFmpeg(tb, "-ss", strconv.FormatFloat(at, 'f', 3, 64), "-i", file, "-frames:v", "1",
		"-vf", "signalstats,metadata=print:file="+meta, "-f", "null", "-")
	data, err := os.ReadFile(meta)
	if err != nil {
		tb.Fatal(err)
	}
	var s lumaStats
	found := 0
	for i, line := range strings.Fields(string(data)) {
		if i > 0 && strings.HasPrefix(line, "frame:") {
			break // the first frame's only
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		f, _ := strconv.ParseFloat(v, 64)
		switch k {
		case "lavfi.signalstats.YAVG":
			s.YAvg, found = f, found+1
		case "lavfi.signalstats.YLOW":
			s.YLow, found = f, found+1
		case "lavfi.signalstats.YHIGH":
			s.YHigh, found = f, found+1
		case "lavfi.signalstats.SATAVG":
			s.SatAvg, found = f, found+1
		}
	}
	if found != 4 {
		tb.Fatalf("signalstats of %s: %q", file, data)
	}
	return s
}

// Every source of the corpus comes out as H.264 yuv420p, upright, with
// square pixels at the source's display aspect, audio and video of the
// same length, in the single pass and chunked alike; HDR sources tagged
// BT.709 and not washed out (compared with the SDR encode of the same
// pattern); SDR sources untagged as before.
func TestHardSources(t *testing.T) {
	l := ladder.MustParse("120p:120:200k:64k,180p:180:300k:64k")
	dir := t.TempDir()
	prober := probe.Prober{Path: harness.MustTool(t, "ffprobe")}
	// The SDR reference: the same pattern through the same encodes.
	var sdrRef map[string]lumaStats // "single"/"chunked" → stats of the 180p rung
	tests := []struct {
		kind   string
		hdr    bool
		aspect float64 // display width / height
		rungs  [][2]int
	}{
		{kind: "sdr", aspect: 16.0 / 9, rungs: [][2]int{{214, 120}, {320, 180}}},
		{kind: "pq", hdr: true, aspect: 16.0 / 9, rungs: [][2]int{{214, 120}, {320, 180}}},
		{kind: "hlg", hdr: true, aspect: 16.0 / 9, rungs: [][2]int{{214, 120}, {320, 180}}},
		{kind: "rotate90", aspect: 9.0 / 16, rungs: [][2]int{{120, 214}, {180, 320}}},
		{kind: "rotate270", aspect: 9.0 / 16, rungs: [][2]int{{120, 214}, {180, 320}}},
		{kind: "anamorphic", aspect: 16.0 / 9, rungs: [][2]int{{214, 120}, {320, 180}}},
	}
	for _, tc := range tests {
		// In order: sdr first (the reference), not parallel (2 shared cores).
		t.Run(tc.kind, func(t *testing.T) {
			sub := filepath.Join(dir, tc.kind)
			mkdirs(t, sub)
			source := MustHardSource(t, sub, tc.kind)
			src, err := prober.Probe(context.Background(), source)
			if err != nil {
				t.Fatal(err)
			}
			if src.Video.HDR() != tc.hdr {
				t.Fatalf("probe: HDR %v (transfer %q), want %v", src.Video.HDR(), src.Video.ColorTransfer, tc.hdr)
			}
			rends := l.Select(src.Video.DisplayWidth, src.Video.DisplayHeight)
			if len(rends) != len(tc.rungs) {
				t.Fatalf("renditions %+v, want %v", rends, tc.rungs)
			}
			for i, r := range rends {
				if [2]int{r.Width, r.Height} != tc.rungs[i] {
					t.Errorf("rung %s %dx%d, want %v", r.Name, r.Width, r.Height, tc.rungs[i])
				}
			}
			single, chunked := encodeBoth(t, sub, source, src, rends)
			stats := map[string]lumaStats{}
			for _, out := range []struct{ name, dir string }{{"single", single}, {"chunked", chunked}} {
				for _, r := range rends {
					file := filepath.Join(out.dir, MP4Path(r.Name))
					what := out.name + " " + r.Name
					v, a := probeStreams(t, file)
					if v.CodecName != "h264" || v.PixFmt != "yuv420p" || v.Width != r.Width || v.Height != r.Height {
						t.Errorf("%s: video %s %s %dx%d, want h264 yuv420p %dx%d", what, v.CodecName, v.PixFmt, v.Width, v.Height, r.Width, r.Height)
					}
					if len(v.SideData) > 0 || v.Tags["rotate"] != "" {
						t.Errorf("%s: rotation left in the output: %v %v", what, v.SideData, v.Tags)
					}
					if v.SAR != "" && v.SAR != "1:1" && v.SAR != "0:1" {
						t.Errorf("%s: sample aspect ratio %s, want square pixels", what, v.SAR)
					}
					if got := float64(v.Width) / float64(v.Height); math.Abs(got/tc.aspect-1) > 0.01 {
						t.Errorf("%s: display aspect %.4f, want %.4f ± 1%%", what, got, tc.aspect)
					}
					if tc.hdr {
						if v.ColorPrimaries != "bt709" || v.ColorTransfer != "bt709" || v.ColorSpace != "bt709" || v.ColorRange != "tv" {
							t.Errorf("%s: color %s/%s/%s/%s, want bt709/bt709/bt709/tv", what, v.ColorPrimaries, v.ColorTransfer, v.ColorSpace, v.ColorRange)
						}
					} else if v.ColorTransfer == "smpte2084" || v.ColorTransfer == "arib-std-b67" {
						t.Errorf("%s: SDR output tagged %s", what, v.ColorTransfer)
					}
					if a.CodecName != "aac" {
						t.Errorf("%s: audio %q, want aac", what, a.CodecName)
					}
					// A/V in sync: as many frames as the source has, and the
					// audio as long as the video (packet durations).
					vs, vn := streamSeconds(t, file, "v:0")
					as, _ := streamSeconds(t, file, "a:0")
					if vn != hardSeconds*hardFPS {
						t.Errorf("%s: %d video frames, want %d", what, vn, hardSeconds*hardFPS)
					}
					if math.Abs(vs-as) > 0.05 || math.Abs(vs-hardSeconds) > 0.05 {
						t.Errorf("%s: video %.3f s, audio %.3f s, want both %d s", what, vs, as, hardSeconds)
					}
				}
				stats[out.name] = frameStats(t, filepath.Join(out.dir, MP4Path(rends[len(rends)-1].Name)), 1.5)
				t.Logf("%s %s: %+v", tc.kind, out.name, stats[out.name])
			}
			if tc.kind == "sdr" {
				sdrRef = stats
				return
			}
			if !tc.hdr {
				return
			}
			if sdrRef == nil {
				t.Fatal("no SDR reference (the sdr case failed)")
			}
			// Not washed out: interpreted as SDR without tone mapping, the
			// PQ frame has 36% of the SDR frame's luma spread (YHIGH-YLOW)
			// and 20% of its saturation, the HLG frame 55% and 34%; tone-mapped
			// (mobius) both keep about 85% and 78%, and the mean luma
			// within 15% (measured on the sources before encoding).
			for name, s := range stats {
				ref := sdrRef[name]
				spread, sat, mean := (s.YHigh-s.YLow)/(ref.YHigh-ref.YLow), s.SatAvg/ref.SatAvg, s.YAvg/ref.YAvg
				t.Logf("%s %s vs SDR: spread %.2f, saturation %.2f, mean %.2f", tc.kind, name, spread, sat, mean)
				if spread < 0.7 || sat < 0.6 || mean < 0.75 || mean > 1.15 {
					t.Errorf("%s: tone-mapped frame vs SDR: luma spread %.2f (want ≥ 0.7), saturation %.2f (≥ 0.6), mean luma %.2f (0.75..1.15): washed out or wrong",
						name, spread, sat, mean)
				}
			}
		})
	}
}

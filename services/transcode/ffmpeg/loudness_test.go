package ffmpeg

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/services/transcode/hls"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

// summary is ebur128's summary as ffmpeg 5.1 logs it.
func summary(i, thresh, lra, peak string) string {
	return fmt.Sprintf(`[Parsed_ebur128_1 @ 0x558f84adc280] Summary:

  Integrated loudness:
    I:         %s LUFS
    Threshold: %s LUFS

  Loudness range:
    LRA:         %s LU
    Threshold: -71.8 LUFS
    LRA low:   -51.8 LUFS
    LRA high:  -51.8 LUFS

  True peak:
    Peak:      %s dBFS
`, i, thresh, lra, peak)
}

func TestParseLoudness(t *testing.T) {
	tests := map[string]struct {
		stderr string
		want   Loudness
		silent bool
		err    bool
	}{
		"tone": {stderr: "Input #0, mov\nsize=N/A time=00:00:06.00\n" + summary("-30.0", "-40.0", "0.0", "-29.2"),
			want: Loudness{Integrated: -30, Threshold: -40, LRA: 0, TruePeak: -29.2}},
		"silence": {stderr: summary("-70.0", "0.0", "0.0", " -inf"),
			want: Loudness{Integrated: -70, Threshold: 0, LRA: 0, TruePeak: math.Inf(-1)}, silent: true},
		"a summary in the source's metadata comes first, the filter's last": {
			stderr: "    title: " + strings.ReplaceAll(summary("-5.0", "-15.0", "1.0", "0.0"), "\n", "\n    ") + "\n" + summary("-23.4", "-33.5", "7.2", "-1.1"),
			want:   Loudness{Integrated: -23.4, Threshold: -33.5, LRA: 7.2, TruePeak: -1.1}},
		"no summary":        {stderr: "Error while decoding stream #0:1", err: true},
		"no true peak":      {stderr: strings.Split(summary("-30.0", "-40.0", "0.0", "-29.2"), "  True peak")[0], err: true},
		"not a number":      {stderr: summary("nan", "-40.0", "0.0", "-29.2"), err: true},
		"infinite loudness": {stderr: summary("-inf", "-40.0", "0.0", "-29.2"), err: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseLoudness(tc.stderr)
			if tc.err {
				if err == nil {
					t.Fatalf("ParseLoudness = %+v, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want || got.Silent() != tc.silent {
				t.Fatalf("ParseLoudness = %+v (silent %v), %v; want %+v (silent %v)", got, got.Silent(), err, tc.want, tc.silent)
			}
		})
	}
}

func TestLoudnormMode(t *testing.T) {
	tests := map[string]struct {
		n      Loudnorm
		linear bool
		// filter holds the measured values passed to loudnorm.
		filter string
	}{
		"quiet tone: +14 dB, peak stays low, LRA 0 passed as 0.01": {
			n:      Loudnorm{Target: -16, TruePeak: -1.5, LRA: 11, Measured: Loudness{Integrated: -30, Threshold: -40, LRA: 0, TruePeak: -29.2}},
			linear: true, filter: "measured_I=-30.00:measured_TP=-29.20:measured_LRA=0.01:measured_thresh=-40.00",
		},
		"peak over the limit after the gain": {
			n:      Loudnorm{Target: -16, TruePeak: -1.5, LRA: 11, Measured: Loudness{Integrated: -30, Threshold: -40, LRA: 3, TruePeak: -14}},
			filter: "measured_I=-30.00:measured_TP=-14.00:measured_LRA=3.00:measured_thresh=-40.00",
		},
		"range wider than allowed": {
			n:      Loudnorm{Target: -16, TruePeak: -1.5, LRA: 11, Measured: Loudness{Integrated: -20, Threshold: -30, LRA: 15, TruePeak: -10}},
			filter: "measured_LRA=15.00",
		},
		"threshold at loudnorm's unset value is nudged": {
			n:      Loudnorm{Target: -23, TruePeak: -1, LRA: 11, Measured: Loudness{Integrated: -60, Threshold: -70, LRA: 2, TruePeak: -55}},
			linear: true, filter: "measured_thresh=-69.99",
		},
		"values out of loudnorm's ranges are clamped": {
			n:      Loudnorm{Target: -16, TruePeak: -1, LRA: 11, Measured: Loudness{Integrated: 1, Threshold: 0.5, LRA: 120, TruePeak: 3}},
			filter: "measured_I=-0.01:measured_TP=3.00:measured_LRA=99.00:measured_thresh=0.00",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.n.Linear(); got != tc.linear {
				t.Errorf("Linear() = %v, want %v", got, tc.linear)
			}
			f := tc.n.filter(48000)
			if !strings.HasPrefix(f, StereoMix+",loudnorm=") || !strings.Contains(f, tc.filter) || !strings.Contains(f, ":linear=true") ||
				!strings.HasSuffix(f, ",aresample=48000") {
				t.Errorf("filter %q, want the stereo mix, loudnorm with %s, linear=true, a resample to 48 kHz", f, tc.filter)
			}
		})
	}
	silent := Loudnorm{Target: -16, TruePeak: -1.5, LRA: 11, Measured: Loudness{Integrated: -70, TruePeak: math.Inf(-1)}}
	if silent.Validate() == nil {
		t.Error("Validate accepts a silent measurement")
	}
	for _, bad := range []Loudnorm{{Target: -4, TruePeak: -1, LRA: 7}, {Target: -16, TruePeak: 1, LRA: 7}, {Target: -16, TruePeak: -1, LRA: 0.5}} {
		bad.Measured = Loudness{Integrated: -20, Threshold: -30, LRA: 2, TruePeak: -10}
		if bad.Validate() == nil {
			t.Errorf("Validate accepts %+v", bad)
		}
	}
}

func TestLoudnormArgs(t *testing.T) {
	n := &Loudnorm{Target: -16, TruePeak: -1.5, LRA: 11, Measured: Loudness{Integrated: -30, Threshold: -40, LRA: 1, TruePeak: -29}}
	src := source(true, "30/1", 30)
	src.Audio.Index = 1
	// The single pass: the audio is a branch of the one filter graph,
	// split to the distinct bitrates' encodes.
	job := Job{Input: "in", Source: src, Renditions: ladder.MustParse("a:240:300k:64k,b:360:600k:128k,c:480:900k:128k").Select(854, 480), Loudnorm: n}
	args, err := job.Args()
	if err != nil {
		t.Fatal(err)
	}
	graph := after(args, "-filter_complex")
	if want := ";[0:1]" + n.filter(48000) + ",asplit=2[a0][a1]"; !strings.HasSuffix(graph, want) {
		t.Errorf("filter graph %q, want it to end with %q", graph, want)
	}
	var maps []string
	for i, a := range args {
		if a == "-map" {
			maps = append(maps, args[i+1])
		}
	}
	if !slices.Equal(maps, []string{"[v0]", "[v1]", "[v2]", "[a0]", "[a1]"}) {
		t.Errorf("maps %q", maps)
	}
	// The audio job: one graph, one label per bitrate.
	args, err = AudioJob{Input: "in", Source: src, Bitrates: []int64{64000, 128000}, Loudnorm: n}.Args()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := after(args, "-filter_complex"), "[0:1]"+n.filter(48000)+",asplit=2[a0][a1]"; got != want {
		t.Errorf("audio graph %q, want %q", got, want)
	}
	outs := outputs(t, append([]string{"-filter_complex", ""}, args[slices.Index(args, "-filter_complex")+2:]...))
	for i, out := range outs {
		if got := after(out, "-map"); got != fmt.Sprintf("[a%d]", i) {
			t.Errorf("output %d maps %q", i, got)
		}
	}
	// A silent measurement is refused (nothing to normalize).
	silent := &Loudnorm{Target: -16, TruePeak: -1.5, LRA: 11, Measured: Loudness{Integrated: -70, TruePeak: math.Inf(-1)}}
	if _, err := (AudioJob{Input: "in", Source: src, Bitrates: []int64{64000}, Loudnorm: silent}).Args(); err == nil {
		t.Error("AudioJob.Args accepts a silent measurement")
	}
}

// Normalizing, in linear and in dynamic mode, keeps the audio job's
// timeline (first PTS, segments, length: the segment pipeline's audio must
// stay in step with the video chunks) and reaches the target.
func TestLoudnormKeepsTheTimeline(t *testing.T) {
	dir := t.TempDir()
	MustFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10:duration=8",
		"-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration=8", "-af", "volume=0.25,pan=stereo|c0=c0|c1=c0",
		"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "192k", "-f", "mp4", filepath.Join(dir, "source"))
	src, err := probe.Prober{Path: harness.MustTool(t, "ffprobe")}.Probe(context.Background(), filepath.Join(dir, "source"))
	if err != nil {
		t.Fatal(err)
	}
	r := Runner{Path: harness.MustTool(t, "ffmpeg")}
	m, err := r.MeasureLoudness(context.Background(), dir, LoudnessJob{Input: "source", Source: src}, 8)
	if err != nil {
		t.Fatal(err)
	}
	// 1/32 of full scale: -30 dBFS peak, -30 LUFS.
	if math.Abs(m.Integrated+30) > 0.5 || m.Silent() {
		t.Fatalf("measured %+v, want about -30 LUFS", m)
	}
	type result struct {
		first, total float64
		segs         int
	}
	encode := func(name string, n *Loudnorm) result {
		d := filepath.Join(dir, name)
		mkdirs(t, filepath.Join(d, AudioDir(128000)))
		aj := AudioJob{Input: "../source", Source: src, Bitrates: []int64{128000}, Encoding: Encoding{GOPSeconds: 2}, Loudnorm: n}
		args, err := aj.Args()
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Run(context.Background(), d, args, 8); err != nil {
			t.Fatal(err)
		}
		if _, err := aj.Cut(d); err != nil {
			t.Fatal(err)
		}
		segs, err := hls.ReadMediaPlaylist(filepath.Join(d, AudioDir(128000), PlaylistName))
		if err != nil {
			t.Fatal(err)
		}
		var res result
		files := []string{filepath.Join(d, AudioDir(128000), InitName)}
		for _, s := range segs {
			res.total += s.Duration
			files = append(files, filepath.Join(d, AudioDir(128000), s.URI))
		}
		res.segs = len(segs)
		first := probePackets(t, "concat:"+files[0]+"|"+files[1], "a:0")
		res.first = first.seconds(first.Packets[0].PTS)
		if n != nil {
			out := measure(t, "concat:"+strings.Join(files, "|"))
			t.Logf("%s: linear %v, output %.1f LUFS %.1f dBTP", name, n.Linear(), out.Integrated, out.TruePeak)
			if math.Abs(out.Integrated-n.Target) > 1 || out.TruePeak > n.TruePeak+0.5 {
				t.Errorf("%s: output %.1f LUFS %.1f dBTP, want %.0f ±1 LUFS under %.1f dBTP", name, out.Integrated, out.TruePeak, n.Target, n.TruePeak)
			}
		}
		return res
	}
	plain := encode("plain", nil)
	linear := &Loudnorm{Target: -16, TruePeak: -1.5, LRA: 11, Measured: m}
	// A measured range wider than the allowed one forces the dynamic mode.
	wide := m
	wide.LRA = 12
	dynamic := &Loudnorm{Target: -16, TruePeak: -1.5, LRA: 11, Measured: wide}
	if !linear.Linear() || dynamic.Linear() {
		t.Fatalf("modes: %v %v, want linear then dynamic", linear.Linear(), dynamic.Linear())
	}
	for name, n := range map[string]*Loudnorm{"linear": linear, "dynamic": dynamic} {
		if got := encode(name, n); got.segs != plain.segs || math.Abs(got.first-plain.first) > 1e-6 || math.Abs(got.total-plain.total) > 0.05 {
			t.Errorf("%s: %+v, want the timeline of the encode without normalization %+v", name, got, plain)
		}
	}
}

// measure measures the loudness of url with ffmpeg's ebur128 (the test's
// own command: the job's input options allow local files only).
func measure(tb testing.TB, url string) Loudness {
	tb.Helper()
	cmd := exec.Command(harness.MustTool(tb, "ffmpeg"), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
		"-i", url, "-map", "0:a:0", "-af", StereoMix+",ebur128=peak=true:framelog=40", "-f", "null", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("measure %s: %v\n%s", url, err, stderr.String())
	}
	l, err := ParseLoudness(stderr.String())
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

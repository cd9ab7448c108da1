package transcode

// Loudness measurement and normalization (issue 16) through the real
// transcode code: sources with audio at known levels generated with
// ffmpeg lavfi, MinIO, and kfake for the segment pipeline; the outputs
// measured with ffmpeg's ebur128.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/transcode/ffmpeg"
)

// toneLevel is the audio of a generated loudness source.
type toneLevel struct {
	// LUFS is the level of the stereo 1 kHz tone (at 1 kHz K-weighting is
	// about 0 dB, so a stereo sine of peak A dBFS measures A LUFS).
	LUFS float64
	// StepLUFS, if not 0, is the level of the tone from StepAt seconds on.
	StepLUFS, StepAt float64
	// Silent writes digital silence instead; NoAudio no audio track.
	Silent, NoAudio bool
}

// mustToneClip writes a 640x360 H.264 video of seconds with the audio of
// level (AAC 192k stereo 48 kHz).
func mustToneClip(tb testing.TB, path string, seconds float64, level toneLevel) string {
	tb.Helper()
	d := fmt.Sprint(seconds)
	args := []string{"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=" + d}
	switch {
	case level.NoAudio:
	case level.Silent:
		args = append(args, "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", d)
	default:
		// sine's amplitude is 1/8 (-18.06 dBFS).
		gain := func(lufs float64) float64 { return math.Pow(10, (lufs+18.06)/20) }
		vol := fmt.Sprintf("volume=%.6f", gain(level.LUFS))
		if level.StepLUFS != 0 {
			vol = fmt.Sprintf("volume='if(lt(t,%g),%.6f,%.6f)':eval=frame", level.StepAt, gain(level.LUFS), gain(level.StepLUFS))
		}
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration="+d,
			// pan copies the mono tone to both channels at full level
			// (-ac 2 would upmix it at -3 dB).
			"-af", vol+",pan=stereo|c0=c0|c1=c0")
	}
	if !level.NoAudio {
		args = append(args, "-c:a", "aac", "-b:a", "192k")
	}
	args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "mp4", path)
	MustFFmpeg(tb, args...)
	return path
}

// mustLoudness measures the audio of file (any container ffmpeg reads)
// with ebur128.
func mustLoudness(tb testing.TB, file string) ffmpeg.Loudness {
	tb.Helper()
	cmd := exec.Command(harness.MustTool(tb, "ffmpeg"), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
		"-i", file, "-map", "0:a:0", "-af", ffmpeg.StereoMix+",ebur128=peak=true:framelog=40", "-f", "null", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("measure %s: %v\n%s", file, err, stderr.String())
	}
	l, err := ffmpeg.ParseLoudness(stderr.String())
	if err != nil {
		tb.Fatalf("measure %s: %v", file, err)
	}
	return l
}

// loudLadder has two rungs with different audio bitrates: two AAC encodes
// that must get the same gain.
const loudLadder = "low:240:300k:64k,high:360:600k:128k"

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func TestLoudnessSinglePass(t *testing.T) {
	tests := map[string]struct {
		level  toneLevel
		target float64 // 0: normalization off
		// want is the level of every output (LUFS, ±1 LU); measured the
		// source's (±0.5), its true peak (±1) and range (±1).
		want, measured, peak, lra float64
		// tol is the tolerance of want; 0: 1 LU.
		tol float64
		// rangeLU is transcode.loudness.range_lu (0: the default).
		rangeLU float64
		mode    string
	}{
		"quiet source to -16": {level: toneLevel{LUFS: -30}, target: -16, want: -16, measured: -30, peak: -29.2,
			mode: contract.NormalizationLinear},
		"loud source to -16": {level: toneLevel{LUFS: -10}, target: -16, want: -16, measured: -10, peak: -9.2,
			mode: contract.NormalizationLinear},
		"normalization off keeps it": {level: toneLevel{LUFS: -30}, want: -30, measured: -30, peak: -29.2},
		// A range (6 LU: -30 then -24 LUFS) wider than range_lu: dynamic
		// mode, which compresses the step with a gain that moves over 3 s
		// windows and so reaches the target less exactly (measured here:
		// -14.2 LUFS on this 6 s clip with range_lu 1; ffmpeg's loudnorm).
		"wide range to -16 in dynamic mode": {level: toneLevel{LUFS: -30, StepLUFS: -24, StepAt: 3}, target: -16, rangeLU: 1,
			want: -16, tol: 2, measured: -26, peak: -23.2, lra: 6, mode: contract.NormalizationDynamic},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := MustEnv(t, func(s *Settings) {
				s.ChunkSeconds, s.Ladder = 0, loudLadder
				s.Loudness.TargetLUFS = tc.target
				if tc.rangeLU != 0 {
					s.Loudness.RangeLU = tc.rangeLU
				}
			}, nil)
			in := e.MustUpload(t, mustToneClip(t, filepath.Join(t.TempDir(), "source.mp4"), 6, tc.level))
			out, err := e.worker.Handle(context.Background(), in)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			MustBeEmptyDir(t, e.tempDir)
			if err := out.Validate(); err != nil {
				t.Fatalf("event invalid: %v", err)
			}
			checkLoudnessMeta(t, out.Media.Loudness, tc.measured, tc.peak, tc.lra, tc.target, tc.mode)
			local := e.MustDownload(t, contract.OutputPrefix(in.VideoID), t.TempDir())
			if len(out.Renditions) != 2 {
				t.Fatalf("renditions %+v, want 2", out.Renditions)
			}
			for _, r := range out.Renditions {
				got := mustLoudness(t, filepath.Join(local, "mp4", r.Name+".mp4"))
				t.Logf("%s: source %.1f LUFS, %s.mp4 %.1f LUFS %.1f dBTP", name, tc.measured, r.Name, got.Integrated, got.TruePeak)
				tol := tc.tol
				if tol == 0 {
					tol = 1
				}
				if !near(got.Integrated, tc.want, tol) {
					t.Errorf("%s.mp4 measures %.1f LUFS, want %.1f ±%g", r.Name, got.Integrated, tc.want, tol)
				}
				if tc.target != 0 && got.TruePeak > -1.5+0.5 {
					t.Errorf("%s.mp4 true peak %.1f dBTP over the limit -1.5 (+0.5 for the AAC encode)", r.Name, got.TruePeak)
				}
			}
		})
	}
}

// checkLoudnessMeta checks media.loudness against a source measured at
// about measured LUFS, peak dBTP and lra LU, normalized to target in mode
// (0 and "": not normalized).
func checkLoudnessMeta(t *testing.T, l *contract.Loudness, measured, peak, lra, target float64, mode string) {
	t.Helper()
	if l == nil {
		t.Fatal("media.loudness absent")
	}
	t.Logf("media.loudness %s", mustJSON(t, l))
	if l.Silent || l.IntegratedLUFS == nil || !near(*l.IntegratedLUFS, measured, 0.5) {
		t.Errorf("integrated_lufs %s, want the source's %.1f ±0.5", mustJSON(t, l.IntegratedLUFS), measured)
	}
	if l.TruePeakDBTP == nil || !near(*l.TruePeakDBTP, peak, 1) || !near(l.RangeLU, lra, 1) {
		t.Errorf("true_peak_dbtp %s range_lu %v, want %.1f ±1 and %.1f ±1", mustJSON(t, l.TruePeakDBTP), l.RangeLU, peak, lra)
	}
	switch {
	case target == 0 && (l.TargetLUFS != nil || l.Normalization != ""):
		t.Errorf("not normalized, but target %s normalization %q", mustJSON(t, l.TargetLUFS), l.Normalization)
	case target != 0 && (l.TargetLUFS == nil || *l.TargetLUFS != target || l.Normalization != mode):
		t.Errorf("target %s normalization %q, want %v %s", mustJSON(t, l.TargetLUFS), l.Normalization, target, mode)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A silent source is not normalized (there is no level to raise) and an
// audio-less one has no loudness: neither fails.
func TestLoudnessSilentAndNoAudio(t *testing.T) {
	e := MustEnv(t, func(s *Settings) {
		s.ChunkSeconds, s.Ladder = 0, loudLadder
		s.Loudness.TargetLUFS = -16
	}, nil)
	silent := e.MustUpload(t, mustToneClip(t, filepath.Join(t.TempDir(), "silent.mp4"), 3, toneLevel{Silent: true}))
	out, err := e.worker.Handle(context.Background(), silent)
	if err != nil {
		t.Fatalf("Handle silent: %v", err)
	}
	if err := out.Validate(); err != nil {
		t.Fatalf("event invalid: %v", err)
	}
	if l := out.Media.Loudness; l == nil || !l.Silent || l.IntegratedLUFS != nil || l.TargetLUFS != nil {
		t.Errorf("silent source: media.loudness %s, want silent without level or target", mustJSON(t, l))
	}
	if out.Media.AudioCodec != "aac" {
		t.Errorf("silent source: audio codec %q", out.Media.AudioCodec)
	}

	mute := e.MustUpload(t, mustToneClip(t, filepath.Join(t.TempDir(), "mute.mp4"), 3, toneLevel{NoAudio: true}))
	out, err = e.worker.Handle(context.Background(), mute)
	if err != nil {
		t.Fatalf("Handle without audio: %v", err)
	}
	if out.Media.Loudness != nil {
		t.Errorf("no audio: media.loudness %s, want none", mustJSON(t, out.Media.Loudness))
	}
	MustBeEmptyDir(t, e.tempDir)
}

// The segment pipeline normalizes in its audio work item: the measured
// values travel in the audio marker to video.transcoded, and one gain
// applies to the whole timeline: the source's level step (-30 LUFS, then
// -24 from 5 s) is kept exactly, 6 LU, while the audio segments (cut
// where the video's chunks are encoded by other work items) have no gain
// jump between them; the integrated level of every output is -16.
func TestLoudnessSegmentPipeline(t *testing.T) {
	se := mustSegEnv(t, 1, func(s *Settings) {
		s.Ladder = loudLadder
		s.Loudness.TargetLUFS = -16
	}, nil)
	src := mustToneClip(t, filepath.Join(t.TempDir(), "source.mp4"), 10, toneLevel{LUFS: -30, StepLUFS: -24, StepAt: 5})
	in := se.MustUpload(t, src)
	se.produce(t, in)
	out := events[contract.VideoTranscoded](t, se.k, contract.TopicTranscoded, in.VideoID, 1)[0]
	l := out.Media.Loudness
	t.Logf("media.loudness %s", mustJSON(t, l))
	// Half at -30, half at -24: 10·log10((10^-3 + 10^-2.4)/2) = -26.0 LUFS.
	if l == nil || l.IntegratedLUFS == nil || !near(*l.IntegratedLUFS, -26, 0.5) || !near(l.RangeLU, 6, 1) ||
		l.TargetLUFS == nil || *l.TargetLUFS != -16 || l.Normalization != contract.NormalizationLinear {
		t.Errorf("media.loudness %s, want integrated -26 ±0.5, range 6 ±1, target -16 linear", mustJSON(t, l))
	}
	se.waitNoWork(t, in.VideoID)
	local := se.MustDownload(t, contract.OutputPrefix(in.VideoID), t.TempDir())

	for _, g := range []string{"64k", "128k"} {
		durs, uris := readExtinf(t, filepath.Join(local, "hls", "audio", g, "index.m3u8"))
		if len(uris) < 5 {
			t.Fatalf("audio %s: %d segments, want at least 5", g, len(uris))
		}
		var levels []string
		var before, after []float64 // segment levels wholly before and after the step
		start := 0.0
		for i, u := range uris {
			d, err := strconv.ParseFloat(durs[i], 64)
			if err != nil {
				t.Fatal(err)
			}
			if d < 0.5 {
				// The tail past the video's end (whole AAC frames): shorter
				// than a 400 ms gating block, nothing to measure.
				start += d
				continue
			}
			// Each CMAF segment after its track's init segment.
			lv := mustLoudness(t, "concat:"+filepath.Join(local, "hls", "audio", g, "init.mp4")+"|"+filepath.Join(local, "hls", "audio", g, u)).Integrated
			levels = append(levels, fmt.Sprintf("[%.1f s %.1f]", start, lv))
			switch {
			case start+d <= 5-0.1:
				before = append(before, lv)
			case start >= 5+0.1:
				after = append(after, lv)
			}
			start += d
		}
		t.Logf("audio %s: segment levels (LUFS) %s", g, strings.Join(levels, " "))
		if len(before) < 2 || len(after) < 2 {
			t.Fatalf("audio %s: %d segments before the step, %d after, want 2 each", g, len(before), len(after))
		}
		spread := func(v []float64) (lo, hi float64) {
			lo, hi = math.Inf(1), math.Inf(-1)
			for _, x := range v {
				lo, hi = math.Min(lo, x), math.Max(hi, x)
			}
			return lo, hi
		}
		blo, bhi := spread(before)
		alo, ahi := spread(after)
		if bhi-blo > 0.3 || ahi-alo > 0.3 {
			t.Errorf("audio %s: segment levels %s jump within a steady part (by %.1f, %.1f LU), want at most 0.3",
				g, strings.Join(levels, " "), bhi-blo, ahi-alo)
		}
		// One gain: the step stays 6 LU, at -30 + gain and -24 + gain
		// where gain = -16 - (-26).
		if step := (alo+ahi)/2 - (blo+bhi)/2; !near(step, 6, 0.3) || !near((blo+bhi)/2, -20, 1) {
			t.Errorf("audio %s: levels %s, want -20 then -14 (the source's step of 6 LU kept, one gain of +10 dB)", g, strings.Join(levels, " "))
		}
	}
	for _, r := range out.Renditions {
		if got := mustLoudness(t, filepath.Join(local, "mp4", r.Name+".mp4")); !near(got.Integrated, -16, 1) {
			t.Errorf("%s.mp4 measures %.1f LUFS, want -16 ±1", r.Name, got.Integrated)
		} else {
			t.Logf("%s.mp4 measures %.1f LUFS %.1f dBTP", r.Name, got.Integrated, got.TruePeak)
		}
	}
}

// With normalization off the segment pipeline's audio item measures
// alongside its encode: video.transcoded carries the source's values and
// the audio keeps its level.
func TestLoudnessSegmentPipelineMeasuresWhenOff(t *testing.T) {
	se := mustSegEnv(t, 1, func(s *Settings) { s.Ladder = loudLadder }, nil)
	in := se.MustUpload(t, mustToneClip(t, filepath.Join(t.TempDir(), "source.mp4"), 5, toneLevel{LUFS: -30}))
	se.produce(t, in)
	out := events[contract.VideoTranscoded](t, se.k, contract.TopicTranscoded, in.VideoID, 1)[0]
	checkLoudnessMeta(t, out.Media.Loudness, -30, -29.2, 0, 0, "")
	se.waitNoWork(t, in.VideoID)
	local := se.MustDownload(t, contract.OutputPrefix(in.VideoID), t.TempDir())
	for _, r := range out.Renditions {
		if got := mustLoudness(t, filepath.Join(local, "mp4", r.Name+".mp4")); !near(got.Integrated, -30, 1) {
			t.Errorf("%s.mp4 measures %.1f LUFS, want the source's -30 ±1", r.Name, got.Integrated)
		}
	}
}

// countingStore fails the first upload of an audio segment and counts the
// writes of the run's loudness marker.
type countingStore struct {
	Store
	failed, markers *atomic.Int64
}

func (s countingStore) PutFile(ctx context.Context, key, path, contentType string) (storage.ObjectInfo, error) {
	if strings.Contains(key, "/hls/audio/") && s.failed.Add(1) == 1 {
		return storage.ObjectInfo{}, fmt.Errorf("injected: storage refuses %s", key)
	}
	return s.Store.PutFile(ctx, key, path, contentType)
}

func (s countingStore) Put(ctx context.Context, key string, r io.Reader, size int64, ct string) (storage.ObjectInfo, error) {
	if strings.HasSuffix(key, "/"+loudnessMarkerName) {
		s.markers.Add(1)
	}
	return s.Store.Put(ctx, key, r, size, ct)
}

// The audio item measures once per run: an attempt that fails after the
// measurement (an upload refused) is retried with the kept values, and
// the video is normalized and described as if nothing had failed.
func TestLoudnessMeasuredOncePerRun(t *testing.T) {
	failed, markers := new(atomic.Int64), new(atomic.Int64)
	se := mustSegEnv(t, 1, func(s *Settings) {
		s.Ladder = loudLadder
		s.Loudness.TargetLUFS = -16
	}, func(s Store) Store { return countingStore{Store: s, failed: failed, markers: markers} })
	in := se.MustUpload(t, mustToneClip(t, filepath.Join(t.TempDir(), "source.mp4"), 5, toneLevel{LUFS: -30}))
	se.produce(t, in)
	out := events[contract.VideoTranscoded](t, se.k, contract.TopicTranscoded, in.VideoID, 1)[0]
	checkLoudnessMeta(t, out.Media.Loudness, -30, -29.2, 0, -16, contract.NormalizationLinear)
	if failed.Load() < 2 {
		t.Fatalf("%d audio segment uploads: the injected failure did not happen", failed.Load())
	}
	if n := markers.Load(); n != 1 {
		t.Errorf("loudness marker written %d times, want once (the retried attempt reuses it)", n)
	}
	se.waitNoWork(t, in.VideoID)
	local := se.MustDownload(t, contract.OutputPrefix(in.VideoID), t.TempDir())
	for _, r := range out.Renditions {
		if got := mustLoudness(t, filepath.Join(local, "mp4", r.Name+".mp4")); !near(got.Integrated, -16, 1) {
			t.Errorf("%s.mp4 measures %.1f LUFS, want -16 ±1", r.Name, got.Integrated)
		}
	}
}

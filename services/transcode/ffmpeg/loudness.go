package ffmpeg

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/vidpipe/vidpipe/platform/procgroup"
	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

// Loudness is an EBU R128 (ITU-R BS.1770) measurement of a whole audio
// track, as ffmpeg's ebur128 filter reports it (0.1 dB precision).
type Loudness struct {
	// Integrated is the programme loudness in LUFS; -70 (the absolute
	// gate) when no block passed the gate.
	Integrated float64
	// Threshold is the relative gate of the integrated loudness, in LUFS.
	Threshold float64
	// LRA is the loudness range in LU.
	LRA float64
	// TruePeak is the highest true peak in dBTP; -Inf for digital silence.
	TruePeak float64
}

// Silent reports a track with no integrated loudness: nothing above the
// absolute gate of -70 LUFS, or digital silence.
func (l Loudness) Silent() bool {
	return !(l.Integrated > -70) || math.IsInf(l.TruePeak, -1) || math.IsNaN(l.TruePeak)
}

// StereoMix is the filter that both the measurement and the normalization
// start with: the audio as the renditions carry it, two channels (a
// mono source upmixed, a 5.1 one downmixed as -ac 2 would).
const StereoMix = "aformat=channel_layouts=stereo"

// LoudnessJob measures the loudness of a source's audio track: one
// ffmpeg pass that decodes only the audio (no video decode) and runs it
// through ebur128 (true-peak mode, 4× oversampling) into the null muxer.
// It costs one audio decode plus the meter: about 300× real time per
// core for AAC stereo (10 min of audio in about 2 s).
type LoudnessJob struct {
	// Input is the local source file.
	Input string
	// Source is the probe result of Input; it must have Audio.
	Source *probe.Result
	// Encoding: Threads, Decoders, MaxPixels are used.
	Encoding Encoding
	// MaxSeconds caps the measured timeline (-t), as AudioJob's; 0: no cap.
	MaxSeconds float64
}

// Args returns the ffmpeg arguments (without the binary name). The
// measurement is ebur128's summary, which ffmpeg logs at level info on
// stderr when the filter closes (see ParseLoudness); the per-frame log
// goes to level verbose, which is not printed.
func (j LoudnessJob) Args() ([]string, error) {
	if j.Source == nil || j.Source.Audio == nil {
		return nil, fmt.Errorf("ffmpeg loudness: no audio stream")
	}
	if j.MaxSeconds < 0 || math.IsNaN(j.MaxSeconds) || math.IsInf(j.MaxSeconds, 0) {
		return nil, fmt.Errorf("ffmpeg loudness: MaxSeconds %v", j.MaxSeconds)
	}
	job := Job{Input: j.Input, Source: j.Source, Encoding: j.Encoding}
	enc := job.Encoding.withDefaults()
	a := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-progress", "pipe:1"}
	a = append(a, job.inputArgs(enc)...)
	a = append(a, "-i", "file:"+j.Input,
		"-map", fmt.Sprintf("0:%d", j.Source.Audio.Index), "-vn", "-sn", "-dn",
		// framelog 40 = AV_LOG_VERBOSE: no line per 100 ms at level info.
		"-af", StereoMix+",ebur128=peak=true:framelog=40")
	if j.MaxSeconds > 0 {
		a = append(a, "-t", strconv.FormatFloat(j.MaxSeconds, 'f', 3, 64))
	}
	return append(a, "-f", "null", "-"), nil
}

// summaryRe finds ebur128's summary block; the fields are read from the
// last one (ffmpeg prints the input's metadata at level info before the
// filter runs, so a source cannot put a fake summary after the real one).
var (
	summaryRe   = regexp.MustCompile(`\[Parsed_ebur128_\d+ @ [^\]]*\] Summary:`)
	integratedR = regexp.MustCompile(`(?m)^\s*I:\s*(\S+) LUFS\s*$`)
	thresholdR  = regexp.MustCompile(`(?m)^\s*Threshold:\s*(\S+) LUFS\s*$`)
	lraR        = regexp.MustCompile(`(?m)^\s*LRA:\s*(\S+) LU\s*$`)
	peakR       = regexp.MustCompile(`(?m)^\s*Peak:\s*(\S+) dBFS\s*$`)
)

// ParseLoudness reads the last ebur128 summary (ffmpeg 5.1 and later
// print the same layout) from ffmpeg's stderr.
func ParseLoudness(stderr string) (Loudness, error) {
	locs := summaryRe.FindAllStringIndex(stderr, -1)
	if len(locs) == 0 {
		return Loudness{}, fmt.Errorf("ffmpeg loudness: no ebur128 summary in the output")
	}
	block := stderr[locs[len(locs)-1][1]:]
	field := func(re *regexp.Regexp, name string) (float64, error) {
		m := re.FindStringSubmatch(block)
		if m == nil {
			return 0, fmt.Errorf("ffmpeg loudness: summary without %s", name)
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil || math.IsNaN(v) {
			return 0, fmt.Errorf("ffmpeg loudness: %s %q", name, m[1])
		}
		return v, nil
	}
	var l Loudness
	var err error
	if l.Integrated, err = field(integratedR, "integrated loudness"); err != nil {
		return l, err
	}
	if l.Threshold, err = field(thresholdR, "threshold"); err != nil {
		return l, err
	}
	if l.LRA, err = field(lraR, "loudness range"); err != nil {
		return l, err
	}
	if l.TruePeak, err = field(peakR, "true peak"); err != nil {
		return l, err
	}
	if math.IsInf(l.Integrated, 0) || math.IsInf(l.LRA, 0) || math.IsInf(l.Threshold, 0) {
		return l, fmt.Errorf("ffmpeg loudness: summary %+v", l)
	}
	return l, nil
}

// MeasureLoudness runs j in dir and returns its measurement. Errors are
// those of Run (ErrRejected for an undecodable track).
func (r Runner) MeasureLoudness(ctx context.Context, dir string, j LoudnessJob, duration float64) (Loudness, error) {
	args, err := j.Args()
	if err != nil {
		return Loudness{}, err
	}
	out := &procgroup.Tail{Max: 64 << 10}
	r.Stderr = out
	if err := r.Run(ctx, dir, args, duration); err != nil {
		return Loudness{}, fmt.Errorf("measure loudness: %w", err)
	}
	return ParseLoudness(out.String())
}

// Loudnorm normalizes the audio to a target, the second pass of ffmpeg's
// loudnorm filter with the values the first pass (LoudnessJob) measured:
// one constant gain (linear=true) when the gained true peak stays under
// TruePeak and the measured loudness range under LRA, else loudnorm's
// dynamic mode (gain that follows the programme, true-peak limiter).
// Either way the filter sees the whole timeline in one process, so every
// rendition and segment gets the same gain.
type Loudnorm struct {
	// Target is the integrated loudness to reach, LUFS (-70 .. -5).
	Target float64
	// TruePeak is the highest true peak allowed, dBTP (-9 .. 0).
	TruePeak float64
	// LRA is the widest loudness range kept, LU (1 .. 50).
	LRA float64
	// Measured is the first pass's measurement; it must not be Silent.
	Measured Loudness
}

// Linear reports whether loudnorm will apply one constant gain (its own
// test, af_loudnorm.c init, with the values Filter passes).
func (n Loudnorm) Linear() bool {
	m := n.measured()
	return m.TruePeak+(n.Target-m.Integrated) <= n.TruePeak && m.LRA <= n.LRA
}

// Gain is the constant gain of linear mode, in dB.
func (n Loudnorm) Gain() float64 { return n.Target - n.measured().Integrated }

// measured is the measurement as passed to loudnorm: rounded to its
// 0.01 precision, clamped to the option ranges, and nudged off the
// options' "not given" defaults (measured_I 0, measured_LRA 0,
// measured_thresh -70, measured_TP 99), which would make loudnorm fall
// back to dynamic mode: a pure tone has an LRA of 0.0.
func (n Loudnorm) measured() Loudness {
	r := func(v, lo, hi, unset float64) float64 {
		v = math.Round(math.Max(lo, math.Min(hi, v))*100) / 100
		if v == unset {
			if v+0.01 <= hi {
				return v + 0.01
			}
			return v - 0.01
		}
		return v
	}
	m := n.Measured
	return Loudness{
		Integrated: r(m.Integrated, -99, 0, 0),
		LRA:        r(m.LRA, 0, 99, 0),
		Threshold:  r(m.Threshold, -99, 0, -70),
		TruePeak:   r(m.TruePeak, -99, 99, 99),
	}
}

// Validate reports a target out of loudnorm's ranges or a silent measurement.
func (n Loudnorm) Validate() error {
	switch {
	case !(n.Target >= -70 && n.Target <= -5):
		return fmt.Errorf("loudnorm: target %v LUFS out of -70 .. -5", n.Target)
	case !(n.TruePeak >= -9 && n.TruePeak <= 0):
		return fmt.Errorf("loudnorm: true peak %v dBTP out of -9 .. 0", n.TruePeak)
	case !(n.LRA >= 1 && n.LRA <= 50):
		return fmt.Errorf("loudnorm: loudness range %v LU out of 1 .. 50", n.LRA)
	case n.Measured.Silent():
		return fmt.Errorf("loudnorm: the measured audio is silent")
	}
	return nil
}

// filter is the audio filter chain from the decoded track to the AAC
// encoders: the stereo mix, loudnorm, and a resample to sampleRate
// (dynamic mode works at 192 kHz).
func (n Loudnorm) filter(sampleRate int) string {
	m := n.measured()
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	return strings.Join([]string{
		StereoMix,
		fmt.Sprintf("loudnorm=I=%s:TP=%s:LRA=%s:measured_I=%s:measured_TP=%s:measured_LRA=%s:measured_thresh=%s:offset=0:linear=true:print_format=none",
			f(n.Target), f(n.TruePeak), f(n.LRA), f(m.Integrated), f(m.TruePeak), f(m.LRA), f(m.Threshold)),
		"aresample=" + strconv.Itoa(sampleRate),
	}, ",")
}

// audioGraph is the filter_complex chain that normalizes input stream
// index and splits it into n labelled outputs [a0] .. [a<n-1>], one per
// AAC encode.
func (n Loudnorm) audioGraph(index, outputs, sampleRate int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[0:%d]%s", index, n.filter(sampleRate))
	if outputs > 1 {
		fmt.Fprintf(&b, ",asplit=%d", outputs)
	}
	for i := range outputs {
		fmt.Fprintf(&b, "[a%d]", i)
	}
	return b.String()
}

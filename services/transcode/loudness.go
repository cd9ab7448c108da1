package transcode

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/services/transcode/ffmpeg"
	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

// LoudnessSettings configure the EBU R128 loudness measurement and
// normalization of the audio (section "transcode.loudness").
//
// The loudness is measured once per video, by one ffmpeg pass over the
// audio track only (ebur128, true peak), on the stereo mix the renditions
// carry; the result is the video's media.loudness. With a target, the
// audio is normalized in the encode that produces the AAC anyway (the
// chunked pipeline's audio work item, or the single pass): ffmpeg's
// loudnorm with the measured values, one constant gain when that keeps
// the true peak and loudness range within their limits, else loudnorm's
// dynamic mode. The whole timeline goes through one filter, so every
// rendition and every segment gets the same gain.
type LoudnessSettings struct {
	// TargetLUFS is the integrated loudness the audio is normalized to,
	// in LUFS, between -70 and -5 (-16 suits streaming, -23 is EBU R128
	// broadcast); 0 switches normalization off. Default: 0 (off).
	TargetLUFS float64 `mapstructure:"target_lufs" default:"0" desc:"normalize the audio to this integrated loudness in LUFS, -70 .. -5 (e.g. -16 for streaming); 0: off"`
	// TruePeakDBTP is the highest true peak the normalized audio may
	// have, in dBTP, between -9 and 0 (room for the AAC encode's
	// overshoot). Default: -1.5.
	TruePeakDBTP float64 `mapstructure:"true_peak_dbtp" default:"-1.5" desc:"highest true peak of normalized audio in dBTP, -9 .. 0"`
	// RangeLU is the widest loudness range (LRA) a normalized video keeps,
	// in LU, between 1 and 50: a source with a wider range, like one whose
	// constant gain would push the true peak over TruePeakDBTP, is
	// normalized in loudnorm's dynamic mode (compressed) instead of by one
	// gain. Default: 11.
	RangeLU float64 `mapstructure:"range_lu" default:"11" desc:"widest loudness range (LRA) in LU kept by a constant gain, 1 .. 50; wider sources are compressed"`
	// Measure measures the loudness (media.loudness) when normalization is
	// off too: one extra audio-only pass per video, run alongside the
	// audio encode. Normalization always measures. Default: true.
	Measure bool `mapstructure:"measure" default:"true" desc:"measure the audio's loudness (media.loudness) also when normalization is off"`
}

// DefaultLoudnessSettings returns the documented defaults.
func DefaultLoudnessSettings() LoudnessSettings {
	return LoudnessSettings{TargetLUFS: 0, TruePeakDBTP: -1.5, RangeLU: 11, Measure: true}
}

// Normalize reports whether normalization is on.
func (l LoudnessSettings) Normalize() bool { return l.TargetLUFS != 0 }

func (l LoudnessSettings) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &config.FieldError{Key: "loudness." + key, Msg: fmt.Sprintf(format, args...)})
	}
	if t := l.TargetLUFS; t != 0 && !(t >= -70 && t <= -5) {
		bad("target_lufs", "must be 0 (off) or between -70 and -5 (got %v)", t)
	}
	if tp := l.TruePeakDBTP; !(tp >= -9 && tp <= 0) {
		bad("true_peak_dbtp", "must be between -9 and 0 (got %v)", tp)
	}
	if r := l.RangeLU; !(r >= 1 && r <= 50) {
		bad("range_lu", "must be between 1 and 50 (got %v)", r)
	}
	return errs
}

// loudnessPlan is what the encode of one video's audio does about loudness.
type loudnessPlan struct {
	// norm is the second pass for the encode; nil: the level is kept.
	norm *ffmpeg.Loudnorm
	// result returns media.loudness (nil when not measured) once the
	// measurement is done.
	result func() (*contract.Loudness, error)
	// cancel stops a measurement running alongside the encode (nil when
	// none runs).
	cancel context.CancelFunc
}

// planLoudness measures the loudness of src's audio for an encode: first,
// when normalization is on (the encode needs the values), else alongside
// the encode (started here, collected by result) when Measure is on.
// Nothing is measured for a source without audio.
//
// known, if not nil, is the run's measurement from an earlier attempt
// (see loudnessMarker): nothing is measured again. measured, if not nil,
// is called with a new measurement (to keep it for later attempts); its
// error is only logged.
func (w *Worker) planLoudness(ctx context.Context, videoID, dir, src string, pr *probe.Result, enc ffmpeg.Encoding, maxSeconds float64,
	known *ffmpeg.Loudness, measured func(context.Context, ffmpeg.Loudness) error) (loudnessPlan, error) {
	ls := w.settings.Loudness
	none := loudnessPlan{result: func() (*contract.Loudness, error) { return nil, nil }}
	if pr.Audio == nil || (!ls.Normalize() && !ls.Measure) {
		return none, nil
	}
	runner := w.runner
	runner.Logger = w.log.With("video_id", videoID, "item", "loudness")
	// Not an encode: the ffmpeg metrics (runs, seconds encoded) count the
	// encodes only; the measurement's time is in its log line.
	runner.Metrics = nil
	job := ffmpeg.LoudnessJob{Input: src, Source: pr, Encoding: enc, MaxSeconds: maxSeconds}
	measure := func(ctx context.Context) (ffmpeg.Loudness, error) {
		if known != nil {
			runner.Logger.Info("loudness measured by an earlier attempt", "integrated_lufs", known.Integrated)
			return *known, nil
		}
		start := w.now()
		m, err := runner.MeasureLoudness(ctx, dir, job, maxSeconds)
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, ffmpeg.ErrRejected) {
				return m, stage.Coded(contract.ErrorCodeCorruptMedia, stage.Permanent(err))
			}
			return m, err
		}
		runner.Logger.Info("loudness measured", "integrated_lufs", m.Integrated, "true_peak_dbtp", m.TruePeak,
			"range_lu", m.LRA, "elapsed", w.now().Sub(start).Round(time.Millisecond))
		if measured != nil {
			if err := measured(ctx, m); err != nil {
				runner.Logger.Warn("loudness measurement not kept for later attempts", "err", err)
			}
		}
		return m, nil
	}
	if ls.Normalize() {
		m, err := measure(ctx)
		if err != nil {
			return none, err
		}
		p := loudnessPlan{result: func() (*contract.Loudness, error) { return loudnessOf(m, nil), nil }}
		if !m.Silent() {
			n := &ffmpeg.Loudnorm{Target: ls.TargetLUFS, TruePeak: ls.TruePeakDBTP, LRA: ls.RangeLU, Measured: m}
			p.norm = n
			p.result = func() (*contract.Loudness, error) { return loudnessOf(m, n), nil }
		}
		return p, nil
	}
	type res struct {
		m   ffmpeg.Loudness
		err error
	}
	mctx, cancel := context.WithCancel(ctx)
	ch := make(chan res, 1)
	go func() {
		m, err := measure(mctx)
		ch <- res{m, err}
	}()
	// Waited for once; abandon may call it again after a result.
	return loudnessPlan{cancel: cancel, result: sync.OnceValues(func() (*contract.Loudness, error) {
		defer cancel()
		r := <-ch
		if r.err != nil {
			return nil, r.err
		}
		return loudnessOf(r.m, nil), nil
	})}, nil
}

// abandon stops a measurement started alongside an encode that failed,
// and waits for it to end.
func (p loudnessPlan) abandon() {
	if p.cancel != nil {
		p.cancel()
		_, _ = p.result()
	}
}

// loudnessOf is media.loudness for measurement m normalized by n (nil:
// not normalized), rounded to 0.1 (the meter's precision).
func loudnessOf(m ffmpeg.Loudness, n *ffmpeg.Loudnorm) *contract.Loudness {
	r := func(v float64) *float64 { v = math.Round(v*10) / 10; return &v }
	if m.Silent() {
		return &contract.Loudness{Silent: true}
	}
	l := &contract.Loudness{IntegratedLUFS: r(m.Integrated), TruePeakDBTP: r(m.TruePeak), RangeLU: *r(math.Max(0, m.LRA))}
	if n != nil {
		l.TargetLUFS = r(n.Target)
		l.Normalization = contract.NormalizationDynamic
		if n.Linear() {
			l.Normalization = contract.NormalizationLinear
		}
	}
	return l
}

// loudnessMarker keeps a run's measurement for later attempts of its audio
// item (work/{run}/loudness.json), so that a retried or redelivered item
// does not measure again. JSON has no -Inf: TruePeak is absent for it.
type loudnessMarker struct {
	Integrated float64  `json:"integrated"`
	Threshold  float64  `json:"threshold"`
	LRA        float64  `json:"lra"`
	TruePeak   *float64 `json:"true_peak,omitempty"`
}

const loudnessMarkerName = "loudness.json"

func newLoudnessMarker(m ffmpeg.Loudness) loudnessMarker {
	k := loudnessMarker{Integrated: m.Integrated, Threshold: m.Threshold, LRA: m.LRA}
	if !math.IsInf(m.TruePeak, 0) && !math.IsNaN(m.TruePeak) {
		tp := m.TruePeak
		k.TruePeak = &tp
	}
	return k
}

func (k loudnessMarker) loudness() ffmpeg.Loudness {
	m := ffmpeg.Loudness{Integrated: k.Integrated, Threshold: k.Threshold, LRA: k.LRA, TruePeak: math.Inf(-1)}
	if k.TruePeak != nil {
		m.TruePeak = *k.TruePeak
	}
	return m
}

package contract

import "math"

// Loudness is the EBU R128 (ITU-R BS.1770) measurement of a video's audio,
// taken once per video by transcode on the stereo mix the renditions carry
// (the source downmixed or upmixed to two channels), before any
// normalization. It is the media description's "loudness" field
// (Media.Loudness), absent when the source has no audio track or the
// measurement is switched off (transcode.loudness.measure false and no
// target).
type Loudness struct {
	// IntegratedLUFS is the programme loudness in LUFS; absent when Silent.
	IntegratedLUFS *float64 `json:"integrated_lufs,omitempty"`
	// TruePeakDBTP is the highest true peak in dBTP; absent when Silent.
	TruePeakDBTP *float64 `json:"true_peak_dbtp,omitempty"`
	// RangeLU is the loudness range (LRA, EBU Tech 3342) in LU; 0 when Silent.
	RangeLU float64 `json:"range_lu"`
	// Silent reports audio that never rises above the absolute gate of
	// -70 LUFS (silence, or nearly): it has no integrated loudness and is
	// not normalized.
	Silent bool `json:"silent,omitempty"`
	// TargetLUFS is the integrated loudness the renditions' audio was
	// normalized to; absent when it was not normalized (normalization
	// off, or a silent source).
	TargetLUFS *float64 `json:"target_lufs,omitempty"`
	// Normalization is how the target was reached: "linear" (one constant
	// gain over the whole video) or "dynamic" (ffmpeg loudnorm's dynamic
	// mode with its true-peak limiter, used when the constant gain would
	// push the true peak over the limit or the loudness range is wider
	// than allowed); absent when TargetLUFS is.
	Normalization string `json:"normalization,omitempty"`
}

// Normalization modes of Loudness.Normalization.
const (
	NormalizationLinear  = "linear"
	NormalizationDynamic = "dynamic"
)

// loudness checks a Loudness: finite levels in plausible ranges, and the
// fields that go together present together.
func (c *checker) loudness(l *Loudness) {
	if l == nil {
		return
	}
	level := func(field string, v *float64, lo, hi float64) {
		if v != nil && (math.IsNaN(*v) || *v < lo || *v > hi) {
			c.fail(field, "must be between %v and %v, got %v", lo, hi, *v)
		}
	}
	level("media.loudness.integrated_lufs", l.IntegratedLUFS, -70, 10)
	level("media.loudness.true_peak_dbtp", l.TruePeakDBTP, -200, 30)
	level("media.loudness.target_lufs", l.TargetLUFS, -70, -5)
	if math.IsNaN(l.RangeLU) || l.RangeLU < 0 || l.RangeLU > 100 {
		c.fail("media.loudness.range_lu", "must be between 0 and 100, got %v", l.RangeLU)
	}
	switch {
	case l.Silent && (l.IntegratedLUFS != nil || l.TruePeakDBTP != nil || l.TargetLUFS != nil):
		c.fail("media.loudness", "silent audio has no integrated loudness, true peak or target")
	case !l.Silent && (l.IntegratedLUFS == nil || l.TruePeakDBTP == nil):
		c.fail("media.loudness", "integrated_lufs and true_peak_dbtp are required unless silent")
	case (l.TargetLUFS == nil) != (l.Normalization == ""):
		c.fail("media.loudness.normalization", "must be set exactly when target_lufs is")
	case l.Normalization != "" && l.Normalization != NormalizationLinear && l.Normalization != NormalizationDynamic:
		c.fail("media.loudness.normalization", "must be %q or %q, got %q", NormalizationLinear, NormalizationDynamic, l.Normalization)
	}
}

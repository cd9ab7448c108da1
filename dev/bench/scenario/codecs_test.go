package scenario

import (
	"math"
	"testing"
)

func TestAtSSIM(t *testing.T) {
	bitrate := func(e codecEncode) float64 { return float64(e.Bitrate) }
	encs := []codecEncode{{Bitrate: 1_000_000, SSIM: 0.90}, {Bitrate: 4_000_000, SSIM: 0.96}, {Bitrate: 2_000_000, SSIM: 0.93}}
	for _, tc := range []struct {
		target, want float64
	}{
		{0.93, 2_000_000},                    // an encode exactly there
		{0.945, math.Sqrt(2e6 * 4e6)},        // halfway between the two closest, in log scale
		{0.915, math.Sqrt(1e6 * 2e6)},        // between the lower two
		{0.99, 4e6 * math.Pow(2, 0.03/0.03)}, // extrapolated from the two closest (0.96, 0.93)
	} {
		if got := atSSIM(encs, tc.target, bitrate); math.Abs(got-tc.want) > 1 {
			t.Errorf("atSSIM(%v) = %.0f, want %.0f", tc.target, got, tc.want)
		}
	}
	same := []codecEncode{{Bitrate: 5, SSIM: 0.9}, {Bitrate: 7, SSIM: 0.9}}
	if got := atSSIM(same, 0.95, bitrate); got != 5 {
		t.Errorf("equal SSIMs: %v, want the first encode's value", got)
	}
}

package scenario

import (
	"math"
	"testing"
)

func TestThresholdOf(t *testing.T) {
	lengths := []int{16, 2, 8, 4} // any order
	tests := map[string]struct {
		ratio     map[int]float64
		at, next  int
		crossNear float64 // NaN: none
	}{
		"cut faster from 16 s": {map[int]float64{2: 0.8, 4: 0.9, 8: 0.95, 16: 1.05}, 8, 16, 12},
		"equal counts as fast": {map[int]float64{2: 1, 4: 1.2, 8: 0.9, 16: 1.3}, 2, 4, 2},
		"cut always faster":    {map[int]float64{2: 1.1, 4: 1.2, 8: 1.3, 16: 1.4}, 0, 2, math.NaN()},
		"never faster":         {map[int]float64{2: 0.5, 4: 0.6, 8: 0.7, 16: 0.8}, 16, 0, math.NaN()},
		"missing is not fast":  {map[int]float64{2: 0.9, 4: math.NaN(), 8: 0.7, 16: 0.8}, 2, 4, math.NaN()},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			at, next, cross := thresholdOf(lengths, tc.ratio)
			if at != tc.at || next != tc.next {
				t.Fatalf("at, next = %d, %d; want %d, %d", at, next, tc.at, tc.next)
			}
			switch {
			case math.IsNaN(tc.crossNear) != math.IsNaN(cross):
				t.Fatalf("cross = %v, want %v", cross, tc.crossNear)
			case !math.IsNaN(cross) && math.Abs(cross-tc.crossNear) > 1e-9:
				t.Fatalf("cross = %v, want %v", cross, tc.crossNear)
			}
		})
	}
}

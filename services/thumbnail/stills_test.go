package thumbnail

import (
	"image"
	"image/color"
	"slices"
	"testing"
)

func TestCandidateFractions(t *testing.T) {
	tests := map[string]struct {
		first float64
		want  []float64
	}{
		"default":            {0.33, []float64{0.33, 0.5, 0.75, 0.15, 0}},
		"near a fallback":    {0.52, []float64{0.52, 0.75, 0.15, 0}},
		"start of the video": {0, []float64{0, 0.5, 0.75, 0.15}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := candidateFractions(tc.first); !slices.Equal(got, tc.want) {
				t.Errorf("candidateFractions(%v) = %v, want %v", tc.first, got, tc.want)
			}
		})
	}
}

func TestMeanLuma(t *testing.T) {
	ycc := image.NewYCbCr(image.Rect(0, 0, 4, 2), image.YCbCrSubsampleRatio420)
	for i := range ycc.Y {
		ycc.Y[i] = 100
	}
	ycc.Y[0] = 180 // mean (7*100+180)/8 = 110
	gray := image.NewGray(image.Rect(0, 0, 2, 2))
	for i := range gray.Pix {
		gray.Pix[i] = 200
	}
	white := image.NewRGBA(image.Rect(0, 0, 3, 3))
	for y := range 3 {
		for x := range 3 {
			white.Set(x, y, color.White)
		}
	}
	tests := map[string]struct {
		img  image.Image
		want float64
	}{
		"YCbCr uses the Y plane": {ycc, 110},
		"gray":                   {gray, 200},
		"white RGBA":             {white, 255},
		"black":                  {image.NewRGBA(image.Rect(0, 0, 2, 2)), 0},
		"sub-image of YCbCr":     {ycc.SubImage(image.Rect(1, 0, 4, 2)), 100},
		"empty":                  {image.NewGray(image.Rectangle{}), 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := MeanLuma(tc.img); got < tc.want-1 || got > tc.want+1 {
				t.Errorf("MeanLuma = %.2f, want %.0f", got, tc.want)
			}
		})
	}
}

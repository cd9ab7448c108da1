package contract_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/contract"
)

func f(v float64) *float64 { return &v }

// media.loudness travels on video.transcoded → video.ready as JSON with
// the documented names, and is checked.
func TestLoudness(t *testing.T) {
	id := contract.NewID()
	valid := map[string]contract.Loudness{
		"normalized linearly": {IntegratedLUFS: f(-30), TruePeakDBTP: f(-29.2), RangeLU: 0, TargetLUFS: f(-16), Normalization: contract.NormalizationLinear},
		"normalized dynamically": {IntegratedLUFS: f(-20), TruePeakDBTP: f(0.4), RangeLU: 15.5, TargetLUFS: f(-16),
			Normalization: contract.NormalizationDynamic},
		"measured only": {IntegratedLUFS: f(-23), TruePeakDBTP: f(-1), RangeLU: 7},
		"silent":        {Silent: true},
	}
	for name, l := range valid {
		t.Run(name, func(t *testing.T) {
			e := sampleReady(id)
			e.Media.Loudness = &l
			b, err := contract.Encode(e)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			var raw struct {
				Media struct {
					Loudness map[string]any `json:"loudness"`
				} `json:"media"`
			}
			if err := json.Unmarshal(b, &raw); err != nil {
				t.Fatal(err)
			}
			for k := range raw.Media.Loudness {
				if !strings.Contains(" integrated_lufs true_peak_dbtp range_lu silent target_lufs normalization ", " "+k+" ") {
					t.Errorf("undocumented field %q in %s", k, b)
				}
			}
			got, err := contract.Decode[contract.VideoReady](b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			b2, _ := json.Marshal(got.Media.Loudness)
			b1, _ := json.Marshal(l)
			if string(b1) != string(b2) {
				t.Errorf("round trip %s, want %s", b2, b1)
			}
		})
	}
	invalid := map[string]contract.Loudness{
		"silent with a level":          {Silent: true, IntegratedLUFS: f(-70)},
		"silent with a target":         {Silent: true, TargetLUFS: f(-16), Normalization: contract.NormalizationLinear},
		"no integrated loudness":       {TruePeakDBTP: f(-1)},
		"no true peak":                 {IntegratedLUFS: f(-23)},
		"target without normalization": {IntegratedLUFS: f(-23), TruePeakDBTP: f(-1), TargetLUFS: f(-16)},
		"normalization without target": {IntegratedLUFS: f(-23), TruePeakDBTP: f(-1), Normalization: contract.NormalizationLinear},
		"unknown normalization":        {IntegratedLUFS: f(-23), TruePeakDBTP: f(-1), TargetLUFS: f(-16), Normalization: "magic"},
		"integrated under the gate":    {IntegratedLUFS: f(-71), TruePeakDBTP: f(-60)},
		"NaN integrated":               {IntegratedLUFS: f(math.NaN()), TruePeakDBTP: f(-1)},
		"target out of range":          {IntegratedLUFS: f(-23), TruePeakDBTP: f(-1), TargetLUFS: f(0), Normalization: contract.NormalizationLinear},
		"negative range":               {IntegratedLUFS: f(-23), TruePeakDBTP: f(-1), RangeLU: -1},
	}
	for name, l := range invalid {
		t.Run(name, func(t *testing.T) {
			e := sampleReady(id)
			e.Media.Loudness = &l
			var fe *contract.FieldError
			if err := e.Validate(); !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "media.loudness") {
				t.Fatalf("Validate() = %v, want a FieldError on media.loudness", err)
			}
		})
	}
}

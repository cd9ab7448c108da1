package watch

import (
	"encoding/json"
	"fmt"

	"github.com/vidpipe/vidpipe/contract"
)

// LoudnessSummary describes the media.loudness of an event value that
// carries media (video.transcoded), or returns "" when it has none:
//
//	loudness -30.0 LUFS -29.2 dBTP LRA 0.0 LU, normalized to -16.0 LUFS (linear)
//	loudness -23.0 LUFS -1.0 dBTP LRA 7.0 LU
//	loudness silent
func LoudnessSummary(value []byte) string {
	var e struct {
		Media struct {
			Loudness *contract.Loudness `json:"loudness"`
		} `json:"media"`
	}
	if json.Unmarshal(value, &e) != nil || e.Media.Loudness == nil {
		return ""
	}
	l := e.Media.Loudness
	if l.Silent || l.IntegratedLUFS == nil || l.TruePeakDBTP == nil {
		return "loudness silent"
	}
	s := fmt.Sprintf("loudness %.1f LUFS %.1f dBTP LRA %.1f LU", *l.IntegratedLUFS, *l.TruePeakDBTP, l.RangeLU)
	if l.TargetLUFS != nil {
		s += fmt.Sprintf(", normalized to %.1f LUFS (%s)", *l.TargetLUFS, printable(l.Normalization))
	}
	return s
}

package watch

import (
	"encoding/json"
	"fmt"

	"github.com/vidpipe/vidpipe/contract"
)

// PackageSummary describes the streaming package of an event value that
// carries one (video.transcoded) when it has a DASH manifest, or returns
// "" (an MPEG-TS-only output, or no package):
//
//	4 renditions, HLS + DASH
func PackageSummary(value []byte) string {
	var e struct {
		Renditions []contract.Rendition `json:"renditions"`
		DASH       *contract.DASH       `json:"dash"`
	}
	if json.Unmarshal(value, &e) != nil || e.DASH == nil {
		return ""
	}
	if len(e.Renditions) == 1 {
		return "1 rendition, HLS + DASH"
	}
	return fmt.Sprintf("%d renditions, HLS + DASH", len(e.Renditions))
}

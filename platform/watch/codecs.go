package watch

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/vidpipe/vidpipe/contract"
)

// CodecSummary describes the video codecs of the renditions of an event
// value (renditions[].codec, absent meaning h264) when any is not H.264,
// in the order of contract.VideoCodecs:
//
//	renditions h264 ×4, hevc ×2, av1 ×1
//
// and returns "" for an all-H.264 ladder (the line stays as it was) or a
// value it cannot read.
func CodecSummary(value []byte) string {
	var e struct {
		Renditions []struct {
			Codec string `json:"codec"`
		} `json:"renditions"`
	}
	if json.Unmarshal(value, &e) != nil {
		return ""
	}
	count := map[string]int{}
	for _, r := range e.Renditions {
		c := r.Codec
		if c == "" {
			c = "h264"
		}
		count[c]++
	}
	if len(count) == 0 || len(count) == 1 && count["h264"] > 0 {
		return ""
	}
	var parts []string
	for _, c := range contract.VideoCodecs {
		if n := count[c]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s ×%d", c, n))
		}
	}
	var other []string
	for c, n := range count {
		if !slices.Contains(contract.VideoCodecs, c) {
			other = append(other, fmt.Sprintf("%s ×%d", printable(c), n))
		}
	}
	slices.Sort(other)
	return "renditions " + strings.Join(append(parts, other...), ", ")
}

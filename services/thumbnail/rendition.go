package thumbnail

import (
	"errors"

	"github.com/vidpipe/vidpipe/contract"
)

// MinSourceHeight is the smallest rendition height worth taking stills
// from: a poster from a lower rung would look soft.
const MinSourceHeight = 360

// pickRendition returns the rendition to take stills from: the smallest
// one at least MinSourceHeight high (cheapest to decode that still makes
// a sharp poster), or, when every rendition is lower, the largest one.
// Ties keep the first listed. The raw upload is never a candidate.
func pickRendition(rs []contract.Rendition) (contract.Rendition, error) {
	if len(rs) == 0 {
		return contract.Rendition{}, errors.New("event lists no renditions")
	}
	best, bestIdx := -1, -1
	largest := 0
	for i, r := range rs {
		if r.Height > rs[largest].Height {
			largest = i
		}
		if r.Height >= MinSourceHeight && (bestIdx < 0 || r.Height < best) {
			best, bestIdx = r.Height, i
		}
	}
	if bestIdx < 0 {
		return rs[largest], nil
	}
	return rs[bestIdx], nil
}

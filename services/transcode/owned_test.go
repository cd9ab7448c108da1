package transcode

import (
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/contract"
)

// TestOwnedPrefixesCoverTheOutputs: the fence removes what transcode
// writes (renditions, HLS, work state) and nothing of thumbnail's.
func TestOwnedPrefixesCoverTheOutputs(t *testing.T) {
	id := contract.NewID()
	owned := OwnedPrefixes(id)
	covered := func(key string) bool {
		for _, p := range owned {
			if strings.HasPrefix(key, p) {
				return true
			}
		}
		return false
	}
	for _, key := range []string{contract.RenditionKey(id, "720p"), contract.HLSMasterKey(id),
		contract.HLSPrefix(id) + "360p/seg_00001.ts", contract.ChunkWorkPrefix(id, contract.NewID()) + "plan.json"} {
		if !covered(key) {
			t.Errorf("%s is not under an owned prefix %v", key, owned)
		}
	}
	if covered(contract.ThumbnailPrefix(id) + "poster.jpg") {
		t.Errorf("transcode claims thumbnail's objects: %v", owned)
	}
	for _, p := range owned {
		if !contract.VideoOwnsKey(id, p) || !strings.HasSuffix(p, "/") {
			t.Errorf("owned prefix %q is not a folder of the video", p)
		}
	}
}

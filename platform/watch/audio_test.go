package watch_test

import (
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/watch"
)

// TestSummaryAudioAsset: an audio asset's video.playable (no video
// chunks) reads as such.
func TestSummaryAudioAsset(t *testing.T) {
	v := []byte(`{"media":{"kind":"audio","duration_seconds":8},"chunks":0,"segments":4}`)
	if got := watch.Summary(contract.TopicPlayable, v); !strings.Contains(got, "playable (audio, 4 segments)") {
		t.Fatalf("Summary = %q, want playable (audio, 4 segments)", got)
	}
}

package watch_test

import (
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/platform/watch"
)

// TestLineShowsGeneration: a record of a reprocess's generation N > 0
// ends with generation=N; generation 0 lines are as before.
func TestLineShowsGeneration(t *testing.T) {
	id := "6f1c2b9e-3a7d-4c1e-9b2a-0d3e4f5a6b7c"
	for value, want := range map[string]string{
		`{"video_id":"` + id + `","generation":2}`: "  generation=2",
		`{"video_id":"` + id + `"}`:                "",
		`{"video_id":"` + id + `","generation":0}`: "",
		`not json`: "",
	} {
		l := watch.Line(kafka.Message{Topic: "video.ready", Key: []byte(id), Value: []byte(value), Time: time.Unix(0, 0)})
		if want != "" && !strings.HasSuffix(l, want) {
			t.Errorf("value %s: line %q does not end with %q", value, l, want)
		}
		if want == "" && strings.Contains(l, "generation=") {
			t.Errorf("value %s: line %q shows a generation", value, l)
		}
	}
}

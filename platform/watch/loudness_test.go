package watch_test

import (
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/watch"
)

func TestLineShowsLoudness(t *testing.T) {
	id := contract.NewID()
	tests := map[string]struct {
		value string
		want  string // "" = no summary
	}{
		"normalized": {`{"video_id":"` + id + `","media":{"loudness":{"integrated_lufs":-30,"true_peak_dbtp":-29.2,"range_lu":0,"target_lufs":-16,"normalization":"linear"}}}`,
			"loudness -30.0 LUFS -29.2 dBTP LRA 0.0 LU, normalized to -16.0 LUFS (linear)"},
		"measured only": {`{"video_id":"` + id + `","media":{"loudness":{"integrated_lufs":-23.04,"true_peak_dbtp":-1,"range_lu":7}}}`,
			"loudness -23.0 LUFS -1.0 dBTP LRA 7.0 LU"},
		"silent":      {`{"video_id":"` + id + `","media":{"loudness":{"silent":true,"range_lu":0}}}`, "loudness silent"},
		"no loudness": {`{"video_id":"` + id + `","media":{"width":640}}`, ""},
		"not json":    {`{`, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := watch.Summary(contract.TopicTranscoded, []byte(tc.value)); got != tc.want {
				t.Fatalf("Summary = %q, want %q", got, tc.want)
			}
			l := watch.Line(kafka.Message{Topic: contract.TopicTranscoded, Key: []byte(id), Value: []byte(tc.value),
				Headers: []kafka.Header{{Key: contract.HeaderType, Value: []byte(contract.TypeTranscoded)}}})
			if tc.want != "" && !strings.HasSuffix(l, contract.TypeTranscoded+"  "+tc.want) {
				t.Errorf("line %q lacks %q", l, tc.want)
			}
			if tc.want == "" && !strings.HasSuffix(l, contract.TypeTranscoded) {
				t.Errorf("line %q has a summary", l)
			}
		})
	}
}

package scenario

import "testing"

func TestMetricSum(t *testing.T) {
	text := `# HELP vidpipe_stage_handler_duration_seconds Duration of handler attempts.
# TYPE vidpipe_stage_handler_duration_seconds histogram
vidpipe_stage_handler_duration_seconds_bucket{result="ok",stage="transcode",le="0.001"} 0
vidpipe_stage_handler_duration_seconds_sum{result="ok",stage="transcode"} 12.5
vidpipe_stage_handler_duration_seconds_sum{result="error",stage="transcode"} 3
vidpipe_stage_handler_duration_seconds_count{result="ok",stage="transcode"} 2
vidpipe_transcode_ffmpeg_run_seconds_sum 10.25
vidpipe_transcode_ffmpeg_run_seconds_count 2 1700000000000
`
	tests := map[string]struct {
		name   string
		labels []string
		want   float64
	}{
		"ok only":           {"vidpipe_stage_handler_duration_seconds_sum", []string{`result="ok"`}, 12.5},
		"every result":      {"vidpipe_stage_handler_duration_seconds_sum", nil, 15.5},
		"no labels":         {"vidpipe_transcode_ffmpeg_run_seconds_sum", nil, 10.25},
		"timestamp ignored": {"vidpipe_transcode_ffmpeg_run_seconds_count", nil, 2},
		"prefix not enough": {"vidpipe_transcode_ffmpeg_run_seconds", nil, 0},
		"absent":            {"nope", nil, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := metricSum(text, tc.name, tc.labels...); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

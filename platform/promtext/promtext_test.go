package promtext_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vidpipe/vidpipe/platform/promtext"
)

const exposition = `# HELP vidpipe_stage_handler_duration_seconds Handler attempt duration.
# TYPE vidpipe_stage_handler_duration_seconds histogram
vidpipe_stage_handler_duration_seconds_bucket{result="ok",stage="transcode",le="0.5"} 1
vidpipe_stage_handler_duration_seconds_bucket{result="ok",stage="transcode",le="+Inf"} 2
vidpipe_stage_handler_duration_seconds_sum{result="ok",stage="transcode"} 1.25
vidpipe_stage_handler_duration_seconds_count{result="ok",stage="transcode"} 2
vidpipe_stage_handler_duration_seconds_bucket{result="ok",stage="thumbnail",le="0.5"} 0
vidpipe_stage_handler_duration_seconds_bucket{result="ok",stage="thumbnail",le="+Inf"} 3
vidpipe_stage_handler_duration_seconds_sum{result="ok",stage="thumbnail"} 4.5
vidpipe_stage_handler_duration_seconds_count{result="ok",stage="thumbnail"} 3
vidpipe_stage_handler_duration_seconds_count{result="error",stage="thumbnail"} 7
# TYPE vidpipe_stage_messages_total counter
vidpipe_stage_messages_total{outcome="ok",stage="transcode"} 5
vidpipe_stage_messages_total{outcome="retried",stage="transcode"} 2
# TYPE vidpipe_stage_in_flight gauge
vidpipe_stage_in_flight{stage="transcode"} 1 1700000000000
# TYPE go_goroutines gauge
go_goroutines 12
vidpipe_untyped 3.5
`

func TestValueAndSum(t *testing.T) {
	f, err := promtext.Parse(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		name    string
		labels  []string
		sum     float64
		value   float64
		present bool
	}{
		"counter by label":      {"vidpipe_stage_messages_total", []string{"outcome", "ok"}, 5, 5, true},
		"counter over labels":   {"vidpipe_stage_messages_total", nil, 7, 5, true},
		"gauge with timestamp":  {"vidpipe_stage_in_flight", nil, 1, 1, true},
		"unlabelled":            {"go_goroutines", nil, 12, 12, true},
		"untyped":               {"vidpipe_untyped", nil, 3.5, 3.5, true},
		"histogram sum":         {"vidpipe_stage_handler_duration_seconds_sum", []string{"result", "ok"}, 5.75, 1.25, true},
		"histogram count":       {"vidpipe_stage_handler_duration_seconds_count", []string{"result", "error"}, 7, 7, true},
		"histogram bucket":      {"vidpipe_stage_handler_duration_seconds_bucket", []string{"stage", "thumbnail", "le", "+Inf"}, 3, 3, true},
		"bucket by bound":       {"vidpipe_stage_handler_duration_seconds_bucket", []string{"le", "0.5"}, 1, 1, true},
		"histogram by its name": {"vidpipe_stage_handler_duration_seconds", nil, 0, 0, false},
		"label mismatch":        {"vidpipe_stage_messages_total", []string{"outcome", "dead_lettered"}, 0, 0, false},
		"unknown label":         {"go_goroutines", []string{"stage", "x"}, 0, 0, false},
		"absent":                {"vidpipe_nope_total", nil, 0, 0, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := f.Sum(tc.name, tc.labels...); got != tc.sum {
				t.Errorf("Sum = %v, want %v", got, tc.sum)
			}
			got, ok := f.Value(tc.name, tc.labels...)
			if ok != tc.present || got != tc.value {
				t.Errorf("Value = %v, %v; want %v, %v", got, ok, tc.value, tc.present)
			}
		})
	}
}

func TestParseRejectsMalformedText(t *testing.T) {
	for name, text := range map[string]string{
		"no value":        "vidpipe_x{a=\"b\"}\n",
		"unclosed labels": "vidpipe_x{a=\"b\" 1\n",
		"type twice":      "# TYPE x counter\n# TYPE x gauge\nx 1\n",
		"not a number":    "vidpipe_x one\n",
	} {
		if _, err := promtext.Parse(strings.NewReader(text)); err == nil {
			t.Errorf("%s: parsed %q without error", name, text)
		}
	}
}

// Scrape reads what client_golang serves, as on a service's /metrics.
func TestScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vidpipe_test_total", Help: "h"}, []string{"kind"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vidpipe_test_seconds", Help: "h", Buckets: []float64{0.1, 1}})
	reg.MustRegister(c, h)
	c.WithLabelValues("a").Add(2)
	c.WithLabelValues("b").Add(3)
	h.Observe(0.05)
	h.Observe(0.5)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	f, err := promtext.Scrape(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Sum("vidpipe_test_total"); got != 5 {
		t.Errorf("counter sum = %v, want 5", got)
	}
	if got, _ := f.Value("vidpipe_test_total", "kind", "b"); got != 3 {
		t.Errorf("counter b = %v, want 3", got)
	}
	if got, _ := f.Value("vidpipe_test_seconds_bucket", "le", "0.1"); got != 1 {
		t.Errorf("bucket le=0.1 = %v, want 1", got)
	}
	if got, _ := f.Value("vidpipe_test_seconds_bucket", "le", "+Inf"); got != 2 {
		t.Errorf("bucket le=+Inf = %v, want 2", got)
	}
	if got, _ := f.Value("vidpipe_test_seconds_sum"); got != 0.55 {
		t.Errorf("histogram sum = %v, want 0.55", got)
	}

	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	if _, err := promtext.Scrape(context.Background(), notFound.URL); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("scrape of a 404: err = %v", err)
	}
}

func TestSeriesListsEverySampleWithItsLabels(t *testing.T) {
	fams, err := promtext.Parse(strings.NewReader(`# TYPE m counter
m{outcome="ok",stage="a"} 2
m{outcome="retried",stage="a"} 1
m{outcome="ok",stage="b"} 5
# TYPE h histogram
h_bucket{le="1"} 3
h_bucket{le="+Inf"} 4
h_sum 2.5
h_count 4
`))
	if err != nil {
		t.Fatal(err)
	}
	got := fams.Series("m", "outcome", "ok")
	if len(got) != 2 || got[0].Labels["stage"] != "a" || got[0].Value != 2 || got[1].Labels["stage"] != "b" || got[1].Value != 5 {
		t.Fatalf("Series(m, outcome=ok) = %+v", got)
	}
	b := fams.Series("h_bucket")
	if len(b) != 2 || b[1].Labels["le"] != "+Inf" || b[1].Value != 4 {
		t.Fatalf("Series(h_bucket) = %+v", b)
	}
	if s := fams.Series("missing"); s != nil {
		t.Fatalf("Series(missing) = %+v, want nil", s)
	}
}

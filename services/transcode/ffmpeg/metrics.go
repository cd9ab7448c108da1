package ffmpeg

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus series of the ffmpeg runs of one process:
//
//	vidpipe_transcode_ffmpeg_running                 gauge: ffmpeg processes running now
//	vidpipe_transcode_ffmpeg_encoded_seconds_total   counter: media seconds encoded, from -progress
//	                                                 (rate() of it is the realtime speed)
//	vidpipe_transcode_ffmpeg_runs_total{result}      counter: finished runs by result
//	                                                 (ok, rejected, error, cancelled)
//	vidpipe_transcode_ffmpeg_run_seconds             histogram: wall time of a run
//
// A nil *Metrics is valid and records nothing.
type Metrics struct {
	running    prometheus.Gauge
	encoded    prometheus.Counter
	runs       *prometheus.CounterVec
	runSeconds prometheus.Histogram
}

// NewMetrics creates the series and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vidpipe_transcode_ffmpeg_running",
			Help: "ffmpeg processes running now.",
		}),
		encoded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vidpipe_transcode_ffmpeg_encoded_seconds_total",
			Help: "Seconds of media encoded by ffmpeg, from its -progress reports.",
		}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vidpipe_transcode_ffmpeg_runs_total",
			Help: "Finished ffmpeg runs by result (ok, rejected, error, cancelled).",
		}, []string{"result"}),
		runSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vidpipe_transcode_ffmpeg_run_seconds",
			Help:    "Wall time of one ffmpeg run.",
			Buckets: prometheus.ExponentialBuckets(0.5, 2, 14), // 0.5 s .. ~68 min
		}),
	}
	for _, c := range []prometheus.Collector{m.running, m.encoded, m.runs, m.runSeconds} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) start() {
	if m != nil {
		m.running.Inc()
	}
}

func (m *Metrics) finish(d time.Duration, result string) {
	if m != nil {
		m.running.Dec()
		m.runs.WithLabelValues(result).Inc()
		m.runSeconds.Observe(d.Seconds())
	}
}

func (m *Metrics) addEncoded(seconds float64) {
	if m != nil && seconds > 0 {
		m.encoded.Add(seconds)
	}
}

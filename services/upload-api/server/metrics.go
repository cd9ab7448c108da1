package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the API's Prometheus metrics, on a registry of its own
// (never the global one). Labels carry route patterns, never raw paths,
// ids or tokens.
type Metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	inflight    prometheus.Gauge
	uploadBytes *prometheus.CounterVec
	uploads     *prometheus.CounterVec
	published   *prometheus.CounterVec
}

// NewMetrics registers the API metrics, plus the Go and process
// collectors, on a new registry.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vidpipe_api_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vidpipe_api_request_duration_seconds",
			Help:    "HTTP request durations by route pattern and method (uploads and event streams included).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800},
		}, []string{"route", "method"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vidpipe_api_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		uploadBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vidpipe_api_upload_bytes_total",
			Help: "Bytes of video files received, by protocol (multipart or tus).",
		}, []string{"protocol"}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vidpipe_api_uploads_total",
			Help: "Finished upload attempts by protocol and result (accepted, or the error code).",
		}, []string{"protocol", "result"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vidpipe_api_events_published_total",
			Help: "video.uploaded records by result (ok or error).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.requests, m.duration, m.inflight, m.uploadBytes, m.uploads, m.published,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the API's metrics live; other components (tusd) may
// register theirs here too.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// handler serves the registry in the Prometheus text format.
func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// instrument counts and times every request under the route pattern the
// mux matched ("unmatched" when none did).
func (m *Metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inflight.Inc()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			m.inflight.Dec()
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			m.requests.WithLabelValues(route, r.Method, strconv.Itoa(code)).Inc()
			m.duration.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter records the status code. Unwrap lets http.ResponseController
// reach the underlying writer (deadlines, flush).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush supports streaming responses (SSE) through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

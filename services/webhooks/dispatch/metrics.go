package dispatch

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics of the webhooks service (prefix vidpipe_webhooks_).
type Metrics struct {
	reg *prometheus.Registry
	// attempts counts delivery attempts by outcome: delivered (2xx),
	// retried (failed, due again later), exhausted (failed until the
	// horizon).
	attempts *prometheus.CounterVec
	// latency of attempts, by outcome.
	latency *prometheus.HistogramVec
	// deadLettered counts deliveries produced to webhooks.dlq.
	deadLettered prometheus.Counter
	// disabled counts endpoints disabled for failing.
	disabled prometheus.Counter
	// events counts events recorded, by webhook event type.
	events *prometheus.CounterVec
	// inFlight is the number of attempts running.
	inFlight prometheus.Gauge
	// oldestDue is the age of the oldest due delivery (0: none due).
	oldestDue prometheus.Gauge
	// queueAge is the age of each endpoint's oldest due delivery.
	queueAge *prometheus.GaugeVec
	// stalls counts consumer readers replaced because they stalled.
	stalls prometheus.Counter
}

// NewMetrics returns the metrics on a registry of their own (with the Go
// and process collectors).
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vidpipe_webhooks_deliveries_total",
		Help: "Delivery attempts by outcome: delivered (2xx), retried (failed, due again later), exhausted (failed until the retry horizon)."}, []string{"outcome"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vidpipe_webhooks_delivery_duration_seconds",
		Help:    "Duration of delivery attempts (request until the bounded response body is read), by outcome.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"outcome"})
	m.deadLettered = prometheus.NewCounter(prometheus.CounterOpts{Name: "vidpipe_webhooks_dead_lettered_total",
		Help: "Deliveries produced to webhooks.dlq."})
	m.disabled = prometheus.NewCounter(prometheus.CounterOpts{Name: "vidpipe_webhooks_endpoints_disabled_total",
		Help: "Endpoints disabled because they kept failing."})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vidpipe_webhooks_events_total",
		Help: "Events recorded from Kafka, by webhook event type."}, []string{"type"})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "vidpipe_webhooks_in_flight",
		Help: "Delivery attempts running in this process."})
	m.oldestDue = prometheus.NewGauge(prometheus.GaugeOpts{Name: "vidpipe_webhooks_oldest_due_seconds",
		Help: "Age of the oldest due delivery of an enabled endpoint (0: none due)."})
	m.queueAge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vidpipe_webhooks_queue_age_seconds",
		Help: "Age of the oldest due delivery, per endpoint with deliveries due."}, []string{"endpoint"})
	m.stalls = prometheus.NewCounter(prometheus.CounterOpts{Name: "vidpipe_webhooks_consumer_stalls_total",
		Help: "Kafka readers replaced because the group lagged while nothing was recorded."})
	m.reg.MustRegister(m.attempts, m.latency, m.deadLettered, m.disabled, m.events, m.inFlight, m.oldestDue, m.queueAge, m.stalls,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range []string{outcomeDelivered, outcomeRetried, outcomeExhausted} {
		m.attempts.WithLabelValues(o)
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

// Attempt outcomes.
const (
	outcomeDelivered = "delivered"
	outcomeRetried   = "retried"
	outcomeExhausted = "exhausted"
)

package stage

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/platform/topics"
)

// Outcomes counted by vidpipe_stage_messages_total.
const (
	OutcomeOK           = "ok"            // output published and offset committed
	OutcomeRetried      = "retried"       // one failed attempt that will be retried
	OutcomeDeadLettered = "dead_lettered" // record sent to the DLQ
)

// metrics are the runtime's Prometheus series. All carry a "stage" label.
//
//	vidpipe_stage_messages_total{stage,outcome}          ok | retried | dead_lettered
//	vidpipe_stage_handler_duration_seconds{stage,result} histogram of handler attempts (ok | error)
//	vidpipe_stage_in_flight{stage}                       records being processed
//	vidpipe_stage_publish_retries_total{stage,kind}      failed publishes retried (output | dlq)
//	vidpipe_stage_commit_errors_total{stage}             failed offset commits (retried)
//	vidpipe_stage_commits_skipped_total{stage}           commits not sent: the partition is no longer this member's
//	vidpipe_stage_revoked_total{stage}                   in-flight records given up because their partition was revoked
//	vidpipe_stage_abandoned_handlers_total{stage}        attempts whose handler ignored cancellation (healthz fails)
//	vidpipe_stage_publish_errors_total{stage,kind,class} failed publishes by class (transient | too_large | topic | auth)
//	vidpipe_stage_stuck_seconds{stage}                   how long a publish or commit has been failing (0: none)
//	vidpipe_stage_ready{stage}                           1 when /readyz answers 200
//	vidpipe_stage_consumer_lag{stage,group,topic,partition} lag read from the broker at scrape time
type metrics struct {
	messages       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	inFlight       prometheus.Gauge
	publishRetries *prometheus.CounterVec
	commitErrors   prometheus.Counter
	commitsSkipped prometheus.Counter
	revoked        prometheus.Counter
	abandoned      prometheus.Counter
	publishErrors  *prometheus.CounterVec
	ready          prometheus.Gauge

	abandonedN atomic.Int64
}

func (m *metrics) abandonedCount() int64 { return m.abandonedN.Load() }

func (m *metrics) handlerAbandoned() {
	m.abandonedN.Add(1)
	m.abandoned.Inc()
}

func newMetrics(reg prometheus.Registerer, stage string, lag prometheus.Collector, stuckSeconds func() float64) *metrics {
	cl := prometheus.Labels{"stage": stage}
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vidpipe_stage_messages_total", Help: "Records by outcome: ok, retried (per failed attempt), dead_lettered.",
			ConstLabels: cl,
		}, []string{"outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vidpipe_stage_handler_duration_seconds", Help: "Duration of handler attempts.",
			ConstLabels: cl, Buckets: prometheus.ExponentialBuckets(0.001, 3, 14), // 1ms .. ~26min
		}, []string{"result"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vidpipe_stage_in_flight", Help: "Records being processed.", ConstLabels: cl,
		}),
		publishRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vidpipe_stage_publish_retries_total", Help: "Failed publishes that were retried, by kind (output, dlq).",
			ConstLabels: cl,
		}, []string{"kind"}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vidpipe_stage_commit_errors_total", Help: "Failed offset commits (retried).", ConstLabels: cl,
		}),
		commitsSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vidpipe_stage_commits_skipped_total", Help: "Offset commits not sent because the partition is no longer owned by the member.", ConstLabels: cl,
		}),
		revoked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vidpipe_stage_revoked_total", Help: "In-flight records given up because their partition was assigned to another member.", ConstLabels: cl,
		}),
		abandoned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vidpipe_stage_abandoned_handlers_total", Help: "Handler attempts abandoned because they ignored cancellation (/healthz fails).", ConstLabels: cl,
		}),
		publishErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vidpipe_stage_publish_errors_total", Help: "Failed publishes by kind (output, dlq) and class (transient, too_large, topic, auth).",
			ConstLabels: cl,
		}, []string{"kind", "class"}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vidpipe_stage_ready", Help: "1 when the stage is ready.", ConstLabels: cl,
		}),
	}
	for _, o := range []string{OutcomeOK, OutcomeRetried, OutcomeDeadLettered} {
		m.messages.WithLabelValues(o)
	}
	m.publishRetries.WithLabelValues("output")
	m.publishRetries.WithLabelValues("dlq")
	stuck := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vidpipe_stage_stuck_seconds", Help: "How long a publish or offset commit has been failing without success (0: none); /healthz fails past stage.stuck_timeout.",
		ConstLabels: cl,
	}, stuckSeconds)
	reg.MustRegister(m.messages, m.duration, m.inFlight, m.publishRetries, m.commitErrors, m.commitsSkipped,
		m.revoked, m.abandoned, m.publishErrors, m.ready, stuck, lag)
	return m
}

// lagCollector reads the consumer group's lag from the broker at scrape
// time: the high watermark of each partition minus the group's committed
// offset (kafka-go's Reader.Stats().Lag is per reader and meaningless for a
// group). Results are cached for a second so parallel scrapes are cheap.
type lagCollector struct {
	client *kafka.Client
	stage  string
	group  string
	topic  string
	log    *slog.Logger
	desc   *prometheus.Desc

	mu      sync.Mutex
	at      time.Time
	cached  map[int]int64
	lastErr error
}

func newLagCollector(client *kafka.Client, stage, group, topic string, log *slog.Logger) *lagCollector {
	return &lagCollector{
		client: client, stage: stage, group: group, topic: topic, log: log,
		desc: prometheus.NewDesc("vidpipe_stage_consumer_lag",
			"Consumer-group lag per partition, read from the broker (high watermark - committed offset).",
			[]string{"partition"}, prometheus.Labels{"stage": stage, "group": group, "topic": topic}),
	}
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) > time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		lag, err := topics.GroupLag(ctx, c.client, c.group, c.topic)
		cancel()
		c.at = time.Now()
		if err != nil {
			if c.lastErr == nil {
				c.log.Warn("reading consumer lag from the broker", "err", err)
			}
			c.lastErr = err
			c.cached = nil
		} else {
			c.lastErr, c.cached = nil, lag
		}
	}
	for p, l := range c.cached {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(l), strconv.Itoa(p))
	}
}

package dispatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vidpipe/vidpipe/platform/backoff"
	"github.com/vidpipe/vidpipe/services/webhooks/endpoints"
	"github.com/vidpipe/vidpipe/services/webhooks/signature"
	"github.com/vidpipe/vidpipe/services/webhooks/ssrf"
)

// Options configure a Deliverer; zero values take the defaults named
// (those of the webhooks configuration section).
type Options struct {
	// Workers is the number of attempts in flight at once. Default: 16.
	Workers int
	// PerEndpoint bounds the attempts to one endpoint in flight at once.
	// Default: 2.
	PerEndpoint int
	// Poll is how often the queue is read when no attempt ended. Default: 1s.
	Poll time.Duration
	// AttemptTimeout bounds one POST with its response. Default: 10s.
	AttemptTimeout time.Duration
	// Retry paces the attempts of a delivery (Initial 5s, Max 1h, equal
	// jitter when zero).
	Retry backoff.Policy
	// Horizon is how long a delivery is retried. Default: 24h.
	Horizon time.Duration
	// Disable says when a failing endpoint is disabled.
	Disable endpoints.DisablePolicy
	// MaxResponseBytes bounds the response body read. Default: 64 KiB.
	MaxResponseBytes int64
	// Retention of events and the delivery log (purged hourly). Default: 720h.
	Retention time.Duration
	// Guard checks every connection's address (SSRF).
	Guard ssrf.Guard
	// DeadLetters receives exhausted deliveries (webhooks.dlq). Nil: they
	// stay exhausted in the database.
	DeadLetters DeadLetterWriter
	Metrics     *Metrics
	Logger      *slog.Logger
}

func (o *Options) defaults() {
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.PerEndpoint <= 0 {
		o.PerEndpoint = 2
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 10 * time.Second
	}
	if o.Retry.Initial <= 0 {
		o.Retry = backoff.Policy{Initial: 5 * time.Second, Max: time.Hour, EqualJitter: true}
	}
	if o.Horizon <= 0 {
		o.Horizon = 24 * time.Hour
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = 64 << 10
	}
	if o.Retention <= 0 {
		o.Retention = 720 * time.Hour
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// UserAgent is sent with every delivery.
const UserAgent = "vidpipe-webhooks/1"

// ContentType of a delivery body: a CloudEvent in structured mode.
const ContentType = "application/cloudevents+json; charset=utf-8"

// Deliverer POSTs due deliveries.
type Deliverer struct {
	store  *endpoints.Store
	opts   Options
	client *http.Client
	wake   chan struct{}

	mu       sync.Mutex
	inFlight map[string]int // per endpoint
	running  int
	// dlMu serializes dead-lettering (the loop and finished attempts).
	dlMu sync.Mutex
}

// NewDeliverer returns a Deliverer of store's queue. Its HTTP client
// dials through opts.Guard's Control hook, uses no proxy, follows no
// redirect and keeps at most PerEndpoint idle connections per host.
func NewDeliverer(store *endpoints.Store, opts Options) *Deliverer {
	opts.defaults()
	dialer := &net.Dialer{Timeout: opts.AttemptTimeout, Control: opts.Guard.Control}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would connect on our behalf, past the guard
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   opts.AttemptTimeout,
		ResponseHeaderTimeout: opts.AttemptTimeout,
		MaxIdleConns:          opts.Workers * 2,
		MaxIdleConnsPerHost:   opts.PerEndpoint,
		IdleConnTimeout:       90 * time.Second,
	}
	return &Deliverer{store: store, opts: opts, wake: make(chan struct{}, 1), inFlight: map[string]int{},
		client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Run delivers until ctx is done, then waits for the attempts in flight
// (each bounded by AttemptTimeout) and returns nil. Database errors are
// logged and retried at the next poll.
func (d *Deliverer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(d.opts.Poll)
	defer tick.Stop()
	var lastPurge, lastAge time.Time
	for {
		d.claim(ctx, &wg)
		if time.Since(lastAge) >= min(d.opts.Poll*5, 5*time.Second) {
			d.measureQueue(ctx)
			d.deadLetter(ctx)
			lastAge = time.Now()
		}
		if time.Since(lastPurge) >= time.Hour {
			if n, err := d.store.Purge(ctx, d.opts.Retention); err != nil {
				d.opts.Logger.Warn("purge webhook events", "err", err)
			} else if n > 0 {
				d.opts.Logger.Info("purged webhook events past the retention", "events", n)
			}
			lastPurge = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-d.wake:
		}
	}
}

// claim starts as many due deliveries as there are free workers.
func (d *Deliverer) claim(ctx context.Context, wg *sync.WaitGroup) {
	d.mu.Lock()
	free := d.opts.Workers - d.running
	inFlight := make(map[string]int, len(d.inFlight))
	for ep, n := range d.inFlight {
		inFlight[ep] = n
	}
	d.mu.Unlock()
	if free <= 0 {
		return
	}
	// A lease outlasts the attempt, so a live attempt is never claimed twice.
	jobs, err := d.store.Claim(ctx, free, d.opts.PerEndpoint, inFlight, d.opts.AttemptTimeout+30*time.Second)
	if err != nil {
		if ctx.Err() == nil {
			d.opts.Logger.Warn("claim webhook deliveries", "err", err)
		}
		return
	}
	for _, j := range jobs {
		d.mu.Lock()
		if d.inFlight[j.EndpointID] >= d.opts.PerEndpoint {
			// Beyond this endpoint's share (the claim reads the share
			// before attempts that ended meanwhile were counted out, so
			// this is rare): due again at once, the attempt not counted.
			d.mu.Unlock()
			d.release(ctx, j)
			continue
		}
		d.inFlight[j.EndpointID]++
		d.running++
		d.mu.Unlock()
		d.opts.Metrics.inFlight.Inc()
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.attempt(context.WithoutCancel(ctx), j)
			d.mu.Lock()
			if d.inFlight[j.EndpointID]--; d.inFlight[j.EndpointID] <= 0 {
				delete(d.inFlight, j.EndpointID)
			}
			d.running--
			d.mu.Unlock()
			d.opts.Metrics.inFlight.Dec()
			select {
			case d.wake <- struct{}{}:
			default:
			}
		}()
	}
}

// release makes a claimed job due again at once, as if it had not been claimed.
func (d *Deliverer) release(ctx context.Context, j endpoints.Job) {
	if err := d.store.Release(ctx, j.DeliveryID); err != nil {
		d.opts.Logger.Warn("release webhook delivery", "delivery", j.DeliveryID, "err", err)
	}
}

// attempt POSTs j once and records the outcome.
func (d *Deliverer) attempt(ctx context.Context, j endpoints.Job) {
	log := d.opts.Logger.With("delivery", j.DeliveryID, "endpoint", j.EndpointID, "event", j.Event.ID, "attempt", j.Attempt)
	var o endpoints.Outcome
	if len(j.Event.Body) == 0 {
		o.Err = "event no longer recorded (past the retention)"
	} else {
		o = d.post(ctx, j)
	}
	now := time.Now()
	if o.Err == "" {
		d.opts.Metrics.attempts.WithLabelValues(outcomeDelivered).Inc()
		d.opts.Metrics.latency.WithLabelValues(outcomeDelivered).Observe(o.Latency.Seconds())
		if err := d.store.Delivered(ctx, j, o); err != nil {
			log.Warn("record webhook delivery", "err", err)
		}
		log.Debug("webhook delivered", "status", o.StatusCode, "latency", o.Latency)
		return
	}
	retryAt := now.Add(d.opts.Retry.Delay(j.Attempt))
	exhausted := retryAt.Sub(j.HorizonFrom) > d.opts.Horizon || len(j.Event.Body) == 0
	outcome := outcomeRetried
	if exhausted {
		outcome = outcomeExhausted
	}
	d.opts.Metrics.attempts.WithLabelValues(outcome).Inc()
	d.opts.Metrics.latency.WithLabelValues(outcome).Observe(o.Latency.Seconds())
	disabled, err := d.store.Failed(ctx, j, o, retryAt, exhausted, d.opts.Disable)
	if err != nil {
		log.Warn("record failed webhook delivery", "err", err)
		return
	}
	log.Info("webhook delivery failed", "status", o.StatusCode, "error", o.Err, "exhausted", exhausted, "retry_at", retryAt)
	if disabled {
		d.opts.Metrics.disabled.Inc()
		log.Warn("webhook endpoint disabled: it kept failing")
	}
	if exhausted {
		d.deadLetter(ctx)
	}
}

// post sends j and reads the bounded response.
func (d *Deliverer) post(ctx context.Context, j endpoints.Job) endpoints.Outcome {
	ctx, cancel := context.WithTimeout(ctx, d.opts.AttemptTimeout)
	defer cancel()
	start := time.Now()
	hs, err := signature.Headers(j.Event.ID, start, j.Event.Body, j.Secrets...)
	if err != nil {
		return endpoints.Outcome{Err: "signing: " + err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.URL, bytes.NewReader(j.Event.Body))
	if err != nil {
		return endpoints.Outcome{Err: "bad request: " + err.Error()}
	}
	for k, v := range hs {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", UserAgent)
	resp, err := d.client.Do(req)
	if err != nil {
		return endpoints.Outcome{Latency: time.Since(start), Err: describe(err, d.opts.AttemptTimeout)}
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, d.opts.MaxResponseBytes))
	o := endpoints.Outcome{StatusCode: resp.StatusCode, Latency: time.Since(start)}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return o // a body cut short does not undo a 2xx
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		o.Err = fmt.Sprintf("HTTP %d: redirects are not followed (Location: %s)", resp.StatusCode, trunc(resp.Header.Get("Location"), 200))
	default:
		o.Err = fmt.Sprintf("HTTP %d", resp.StatusCode)
		if s := strings.Join(strings.Fields(string(body)), " "); s != "" {
			o.Err += ": " + trunc(s, 200)
		}
	}
	if rerr != nil && o.Err == "" {
		o.Err = describe(rerr, d.opts.AttemptTimeout)
	}
	return o
}

// describe turns a client error into the delivery log's words.
func describe(err error, timeout time.Duration) string {
	switch {
	case errors.Is(err, ssrf.ErrForbidden):
		var msg string
		var op *net.OpError
		if errors.As(err, &op) && op.Err != nil {
			msg = op.Err.Error()
		} else {
			msg = err.Error()
		}
		return "refused: " + msg
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("timeout after %s", timeout)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Sprintf("timeout after %s", timeout)
	}
	return trunc(err.Error(), 300)
}

// measureQueue sets the queue-age gauges.
func (d *Deliverer) measureQueue(ctx context.Context) {
	ages, err := d.store.QueueAge(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.opts.Logger.Warn("measure webhook queue", "err", err)
		}
		return
	}
	d.opts.Metrics.queueAge.Reset()
	var oldest time.Duration
	for ep, a := range ages {
		d.opts.Metrics.queueAge.WithLabelValues(ep).Set(a.Seconds())
		oldest = max(oldest, a)
	}
	d.opts.Metrics.oldestDue.Set(oldest.Seconds())
}

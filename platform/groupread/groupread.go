// Package groupread runs a Kafka consumer-group reader that handles each
// record before committing it and that replaces itself when it stalls: the
// loop the status projection (upload-api) and the webhooks consumer share.
//
// Delivery is at least once: a record's offset is committed
// (synchronously, one commit per record) only after the handler returned
// nil; a handler must therefore be idempotent. A kafka-go group reader can
// stay silent after a rebalance (seen after the API was killed -9 and
// restarted while the broker held requests): when the group has lag on its
// topics but no record was handled for Config.StallTimeout, the reader is
// closed and a new one rejoins the group from the committed offsets.
package groupread

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/platform/backoff"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/kafkaconn"
	"github.com/vidpipe/vidpipe/platform/topics"
)

// Config configures Run.
type Config struct {
	Kafka config.Kafka
	// ClientID is the Kafka client id when Kafka.ClientID is empty.
	ClientID string
	Group    string
	Topics   []string
	// StallTimeout: with lag and no record handled for this long, the
	// reader is replaced. Required.
	StallTimeout time.Duration
	// FetchPause is the pause after a failed fetch. The reader retries on
	// its own and paces itself (each partition reader backs off between
	// reconnects, the group waits between joins); the errors it met are
	// queued with the records and returned one per call, many of them
	// stale once Kafka is back, so a growing backoff per error would
	// stall the consumer long after a short broker outage: a brief pause
	// instead.
	FetchPause time.Duration
	// Name prefixes the log messages, e.g. "projection consumer".
	Name   string
	Logger *slog.Logger
	// Ready, when set, is set once the reader has joined its group (a
	// rebalance) or fetched a record; it stays true (a later broker outage
	// shows as lag, not as unreadiness).
	Ready *atomic.Bool
	// OnStall, when set, is called each time a stalled reader is replaced.
	OnStall func()
}

// Handler handles one record. nil: the record is handled and its offset is
// committed. An error means ctx is done: the record stays uncommitted and
// Run's reader stops. A handler that waits for a dependency (a database
// outage retried inside) calls alive now and then, so that the wait is not
// taken for a stalled reader.
type Handler func(ctx context.Context, m kafka.Message, alive func()) error

// Run consumes until ctx is done and returns nil then. It returns an error
// only for an unusable configuration. Kafka being unreachable at start or
// later is not an error: the reader keeps re-joining in the background.
func Run(ctx context.Context, c Config, handle Handler) error {
	if len(c.Kafka.Brokers) == 0 {
		return fmt.Errorf("%s: no Kafka brokers configured", c.Name)
	}
	if c.StallTimeout <= 0 {
		return fmt.Errorf("%s: the stall timeout must be positive", c.Name)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Ready == nil {
		c.Ready = new(atomic.Bool)
	}
	clientID := c.Kafka.ClientID
	if clientID == "" {
		clientID = c.ClientID
	}
	dialer, err := kafkaconn.Dialer(c.Kafka, &kafka.Dialer{ClientID: clientID, Timeout: 10 * time.Second, DualStack: true})
	if err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	transport, err := kafkaconn.Transport(c.Kafka, &kafka.Transport{ClientID: clientID, DialTimeout: 10 * time.Second})
	if err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(c.Kafka.Brokers...), Timeout: 10 * time.Second, Transport: transport}
	for {
		stalled := consume(ctx, c, handle, dialer, client)
		if !stalled || ctx.Err() != nil {
			return nil
		}
		if c.OnStall != nil {
			c.OnStall()
		}
		c.Logger.Warn(c.Name+": no record handled while the group lags; starting a new reader", "stall_timeout", c.StallTimeout)
	}
}

// consume runs one reader until ctx is done (false) or the watchdog finds
// it stalled (true).
func consume(ctx context.Context, c Config, handle Handler, dialer *kafka.Dialer, client *kafka.Client) (stalled bool) {
	log := c.Logger
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:               c.Kafka.Brokers,
		GroupID:               c.Group,
		GroupTopics:           c.Topics,
		StartOffset:           kafka.FirstOffset,
		CommitInterval:        0, // synchronous: commit only what was handled
		MinBytes:              1,
		MaxBytes:              4 << 20,
		MaxWait:               2 * time.Second, // long poll (shorter leaves too little slack: idle fetches time out); bounds Close
		WatchPartitionChanges: true,            // topics created later are picked up
		Dialer:                dialer,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Warn(c.Name + ": kafka: " + fmt.Sprintf(msg, args...))
		}),
	})
	defer func() {
		// Close can hang when the broker does not answer (kafka-go #1006).
		done := make(chan error, 1)
		go func() { done <- r.Close() }()
		select {
		case err := <-done:
			if err != nil {
				log.Warn(c.Name+": close reader", "err", err)
			}
		case <-time.After(10 * time.Second):
			log.Warn(c.Name + ": closing the reader timed out; leaving it behind")
		}
	}()

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go watchJoin(rctx, c, r)
	var last atomic.Int64
	alive := func() { last.Store(time.Now().UnixNano()) }
	alive()
	var stall atomic.Bool
	go topics.WatchStall(rctx, client, c.Group, c.Topics, c.StallTimeout, &last, func(lag int64) {
		log.Warn(c.Name+": stalled", "lag", lag, "since_last_record", time.Since(time.Unix(0, last.Load())).Round(time.Second))
		stall.Store(true)
		cancel()
	})
	stopped := func() bool { return stall.Load() && ctx.Err() == nil }
	for {
		m, err := r.FetchMessage(rctx)
		if err != nil {
			if rctx.Err() != nil {
				return stopped()
			}
			log.Warn(c.Name+": fetch failed", "err", err, "retry_in", c.FetchPause)
			if !backoff.Sleep(rctx, c.FetchPause) {
				return stopped()
			}
			continue
		}
		c.Ready.Store(true)
		if err := handle(rctx, m, alive); err != nil {
			return stopped() // ctx done; the record stays uncommitted
		}
		alive()
		// Commit even if ctx ended meanwhile: the record is handled. A
		// failed commit is harmless: the record comes again, and handling
		// is idempotent.
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := r.CommitMessages(cctx, m); err != nil {
			log.Warn(c.Name+": commit failed", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
		}
		ccancel()
		if rctx.Err() != nil {
			return stopped()
		}
	}
}

// watchJoin sets c.Ready once the reader has been assigned partitions (its
// first group generation) or fetched a record. Reader.Stats resets its
// counters on each call; nothing else reads them.
func watchJoin(ctx context.Context, c Config, r *kafka.Reader) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for !c.Ready.Load() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if st := r.Stats(); (st.Rebalances > 0 || st.Messages > 0) && c.Ready.CompareAndSwap(false, true) {
				c.Logger.Info(c.Name+": joined group", "group", c.Group)
			}
		}
	}
}

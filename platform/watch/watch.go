// Package watch follows vidpipe topics and prints one line per event.
package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/topics"
)

// Options of Follow.
type Options struct {
	Brokers []string
	// Topics to follow. Default: every stage topic and DLQ.
	Topics []string
	// FromBeginning starts at the oldest record instead of new ones.
	FromBeginning bool
	// Key, if set, shows only records with this key (video id).
	Key string
	// Transport and Dialer carry the TLS and SASL settings (see package
	// kafkaconn). Default: nil, plaintext without authentication.
	Transport *kafka.Transport
	Dialer    *kafka.Dialer
}

// Line formats one record: time, topic, key, type, and for DLQ records the
// stage, class, attempts and error, and where the value is when it was
// moved out of Kafka (dlq.value_ref, with its size).
func Line(m kafka.Message) string {
	hs := make([]contract.Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = contract.Header{Key: h.Key, Value: h.Value}
	}
	typ := contract.HeaderValue(hs, contract.HeaderType)
	if typ == "" {
		typ = "-"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-19s  %-36s  %s", m.Time.UTC().Format("2006-01-02T15:04:05.000Z"), m.Topic, printable(string(m.Key)), typ)
	if dl, ok := contract.ParseDeadLetter(hs); ok {
		fmt.Fprintf(&b, "  stage=%s class=%s code=%s attempts=%d error=%q", dl.Stage, dl.Class, printable(dl.Code), dl.Attempts, dl.Err)
		if dl.ValueRef != "" {
			fmt.Fprintf(&b, "  value=%s (%d bytes)", printable(dl.ValueRef), dl.ValueBytes)
		}
	}
	if n := contract.HeaderValue(hs, contract.HeaderRedriveCount); n != "" {
		fmt.Fprintf(&b, "  redrive=%s", n)
	}
	return b.String()
}

func printable(s string) string {
	if s == "" {
		return "(no key)"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// Follow prints a line per record to w until ctx is cancelled. It reads
// every partition of each topic directly (no consumer group, so watching
// leaves nothing behind in the cluster).
func Follow(ctx context.Context, opts Options, w io.Writer) error {
	if len(opts.Topics) == 0 {
		opts.Topics = contract.AllTopics()
	}
	client := &kafka.Client{Addr: kafka.TCP(opts.Brokers...), Timeout: 10 * time.Second}
	if opts.Transport != nil { // a nil *Transport in the interface would panic
		client.Transport = opts.Transport
	}
	type tp struct {
		topic string
		part  int
	}
	var tps []tp
	for _, t := range opts.Topics {
		ps, err := topics.Partitions(ctx, client, t)
		if err != nil {
			return err
		}
		sort.Ints(ps)
		for _, p := range ps {
			tps = append(tps, tp{t, p})
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(tps))
	for _, x := range tps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: opts.Brokers, Dialer: opts.Dialer, Topic: x.topic, Partition: x.part, MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 2 * time.Second})
			defer r.Close()
			start := kafka.LastOffset
			if opts.FromBeginning {
				start = kafka.FirstOffset
			}
			if err := r.SetOffset(start); err != nil {
				errs <- err
				return
			}
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					if ctx.Err() == nil && !errors.Is(err, io.EOF) {
						errs <- fmt.Errorf("%s/%d: %w", x.topic, x.part, err)
					}
					return
				}
				if opts.Key != "" && string(m.Key) != opts.Key {
					continue
				}
				mu.Lock()
				fmt.Fprintln(w, Line(m))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

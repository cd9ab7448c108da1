package stage

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
)

// ErrNoOutput is returned by a Handler that finished its input without an
// output event: the record is committed and nothing is published to the
// output topic. A fan-out stage returns it after publishing its work items
// with [Publish]; a fan-in returns it until the last piece arrives.
var ErrNoOutput = errors.New("stage: finished without an output event")

// recordInfo is what a handler may learn about the record it processes.
type recordInfo struct {
	id, trace string
	publish   func(ctx context.Context, es []contract.Event, ids []string) error
}

type recordKey struct{}

// InputID returns the CloudEvents id of the record being handled (its
// ce_id header, or an id derived from its coordinates), or "" outside a
// Handler. Events derived from it with [contract.DeriveID] get the same id
// on every redelivery.
func InputID(ctx context.Context) string {
	if ri, ok := ctx.Value(recordKey{}).(*recordInfo); ok {
		return ri.id
	}
	return ""
}

// Publish publishes e to its topic (e.Topic()) with the CloudEvents id id,
// from inside a Handler, besides the handler's output: acks=all, retried
// until acknowledged or ctx ends (then it returns ctx's error). The input
// is committed only after the handler returns, so an attempt that fails
// after publishing publishes again on retry: derive id from the input
// ([InputID]) so that the copies are recognisably the same event. Outside a
// Handler it returns an error.
func Publish(ctx context.Context, e contract.Event, id string) error {
	ri, ok := ctx.Value(recordKey{}).(*recordInfo)
	if !ok {
		return errors.New("stage.Publish called outside a handler")
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("publish %s: %w", e.Topic(), err)
	}
	return ri.publish(ctx, []contract.Event{e}, []string{id})
}

// PublishAll is [Publish] for several events at once, ids[i] being the
// id of events[i], written in one batch: a fan-out of many work items
// costs one round trip to the brokers instead of one each.
func PublishAll(ctx context.Context, events []contract.Event, ids []string) error {
	ri, ok := ctx.Value(recordKey{}).(*recordInfo)
	if !ok {
		return errors.New("stage.PublishAll called outside a handler")
	}
	if len(events) != len(ids) {
		return fmt.Errorf("stage.PublishAll: %d events, %d ids", len(events), len(ids))
	}
	for _, e := range events {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("publish %s: %w", e.Topic(), err)
		}
	}
	return ri.publish(ctx, events, ids)
}

// withRecord returns ctx carrying msg's id, trace and the runner's publisher.
func (r *runner[In, Out]) withRecord(ctx context.Context, msg kafka.Message, trace string) context.Context {
	return context.WithValue(ctx, recordKey{}, &recordInfo{id: inputID(msg), trace: trace, publish: func(ctx context.Context, es []contract.Event, ids []string) error {
		msgs := make([]kafka.Message, len(es))
		for i, e := range es {
			m, err := NewMessageWithID(e, ids[i], r.opts.Service, trace)
			if err != nil {
				return fmt.Errorf("publish %s: %w", e.Topic(), err)
			}
			m.Topic = e.Topic()
			msgs[i] = m
		}
		if len(msgs) == 0 {
			return nil
		}
		ok, err := r.publishBatch(ctx, msgs, "extra")
		switch {
		case err != nil:
			return Permanent(err)
		case !ok:
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("publish %s: %w", msgs[0].Topic, err)
			}
			return fmt.Errorf("publish %s: cancelled", msgs[0].Topic)
		}
		return nil
	}})
}

// spreadBalancer sends the records of the Options.Spread topics to the
// partitions in turn (work items: every member of the consuming group gets
// its share whatever the keys) and every other record by the murmur2 hash
// of its key (Kafka's default partitioner: one video's events stay in order).
type spreadBalancer struct {
	hash   kafka.Murmur2Balancer
	spread map[string]bool
	next   atomic.Uint64
}

func (b *spreadBalancer) Balance(msg kafka.Message, partitions ...int) int {
	if b.spread[msg.Topic] && len(partitions) > 0 {
		return partitions[int((b.next.Add(1)-1)%uint64(len(partitions)))]
	}
	return b.hash.Balance(msg, partitions...)
}

func newSpreadBalancer(topics []string) *spreadBalancer {
	b := &spreadBalancer{spread: map[string]bool{}}
	for _, t := range topics {
		b.spread[t] = true
	}
	return b
}

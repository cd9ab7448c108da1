package stage

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vidpipe/vidpipe/contract"
)

// LifecycleOptions turns a stage's options into those of its consumer of
// a lifecycle topic (contract.TopicDeleted or contract.TopicUpdated):
// group contract.LifecycleGroup(<service>), the same Kafka, runtime,
// registry and DLQ (a lifecycle record that keeps failing is dead-lettered
// to the stage's DLQ, with dlq.topic naming the lifecycle topic, and
// `vidpipectl dlq redrive` puts it back there), no HTTP listener of its
// own (the stage's serves its metrics, labelled consumer=<Consumer>), no
// fence (its input is about deleted videos). Such a consumer publishes no
// output: its handler returns ErrNoOutput. base must have Consumer set
// (every Run sharing a Registry must) and is not modified.
func LifecycleOptions(base Options, topic, consumer string) Options {
	o := base
	svc := o.Service
	if svc == "" {
		svc = string(o.Stage)
	}
	if o.DLQTopic == "" {
		o.DLQTopic = o.Stage.DLQTopic()
	}
	o.InputTopic, o.OutputTopic = topic, topic // nothing is ever published to OutputTopic
	o.Group = contract.LifecycleGroup(svc)
	o.Consumer, o.NoHTTP = consumer, true
	o.Fence, o.Spread = nil, nil
	o.Listening, o.OnLiveness, o.Liveness = nil, nil, nil
	return o
}

// Remover is the handler of a stage's video.deleted consumer: it removes
// what the stage owns of the video (f.Remove: idempotent, so a redelivery
// removes nothing more) and publishes nothing.
func Remover(f Fence) Handler[contract.VideoDeleted, contract.VideoDeleted] {
	return func(ctx context.Context, in contract.VideoDeleted) (contract.VideoDeleted, error) {
		if err := f.Remove(ctx, in.VideoID); err != nil {
			return contract.VideoDeleted{}, fmt.Errorf("remove the outputs of deleted video %s: %w", in.VideoID, err)
		}
		return contract.VideoDeleted{}, ErrNoOutput
	}
}

// Consumer is one [Run] of a process that runs several (see RunConsumers):
// its options and how to run it, e.g.
//
//	stage.Consumer{Options: o, Run: func(ctx context.Context, o stage.Options) error { return stage.Run(ctx, o, w.Handle) }}
type Consumer struct {
	Options Options
	Run     func(ctx context.Context, o Options) error
}

// RunConsumers runs every consumer until ctx is cancelled. The first
// serves /healthz, /readyz and /metrics; the others serve none (NoHTTP)
// and their liveness is part of the first's /healthz. Every consumer
// shares the first's Registry and must have its own Consumer name. When
// one returns an error (it cannot start), the others are stopped and the
// first error is returned.
func RunConsumers(ctx context.Context, cs ...Consumer) error {
	if len(cs) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    = make(chan struct{}, 1)
		lives []func() error
	)
	lock := func() func() { mu <- struct{}{}; return func() { <-mu } }
	first := &cs[0].Options
	if first.Registry == nil {
		first.Registry = prometheus.NewRegistry()
	}
	first.Liveness = append(first.Liveness, func() error {
		defer lock()()
		for _, live := range lives {
			if err := live(); err != nil {
				return err
			}
		}
		return nil
	})
	for i := 1; i < len(cs); i++ {
		o := &cs[i].Options
		o.NoHTTP, o.Registry = true, first.Registry
		name := o.Consumer
		o.OnLiveness = func(live func() error) {
			defer lock()()
			lives = append(lives, func() error {
				if err := live(); err != nil {
					return fmt.Errorf("consumer %s: %w", name, err)
				}
				return nil
			})
		}
	}
	errs := make(chan error, len(cs))
	for _, c := range cs {
		go func() { errs <- c.Run(ctx, c.Options) }()
	}
	var firstErr error
	for range cs {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
			cancel()
		}
	}
	return firstErr
}

package scenario

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/bench/kload"
	"github.com/vidpipe/vidpipe/dev/bench/procs"
	"github.com/vidpipe/vidpipe/dev/bench/report"
	"github.com/vidpipe/vidpipe/dev/bench/stats"
	"github.com/vidpipe/vidpipe/dev/launch"
	"github.com/vidpipe/vidpipe/dev/servers"
	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// ScalingOptions configure the scaling scenario.
type ScalingOptions struct {
	// Workers are the process counts to try. Default: 1, 2, 3, 6.
	Workers []int
	// Partitions of the input topic. Default: 6.
	Partitions int
	// Sleep is the handler's time per event. Default: 50ms.
	Sleep time.Duration
	// PerPartition is the burst of one throughput run per partition.
	// Default: 20.
	PerPartition int
	// Runs per figure. Default: 3.
	Runs int
}

func (o *ScalingOptions) defaults() {
	if len(o.Workers) == 0 {
		o.Workers = []int{1, 2, 3, 6}
	}
	if o.Partitions <= 0 {
		o.Partitions = 6
	}
	if o.Sleep <= 0 {
		o.Sleep = 50 * time.Millisecond
	}
	if o.PerPartition <= 0 {
		o.PerPartition = 20
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
}

// workerSet is a group of bench worker processes on one lane.
type workerSet struct {
	env   Env
	lane  lane
	sleep time.Duration
	// extra are more flags of every worker (e.g. -mode chunk).
	extra []string
	procs []*procs.Proc
}

// start starts one more worker named service and waits for its /healthz.
func (w *workerSet) start(ctx context.Context, service string) (*procs.Proc, error) {
	addr, err := launch.FreeAddr()
	if err != nil {
		return nil, err
	}
	p, err := procs.Start(context.Background(), procgroup.Spec{
		Name: service,
		Path: w.env.Binary("vidpipe-benchworker"),
		Args: append([]string{
			"-brokers", strings.Join(w.lane.brokers, ","), "-input", w.lane.input, "-output", w.lane.output,
			"-dlq", w.lane.dlq, "-group", w.lane.grp, "-service", service, "-sleep", w.sleep.String(), "-http", addr,
		}, w.extra...),
		LogPath:     filepath.Join(w.env.Dir, "logs", service+".log"),
		TruncateLog: true,
	})
	if err != nil {
		return nil, err
	}
	w.procs = append(w.procs, p)
	if err := p.WaitHTTP(ctx, "http://"+addr+"/healthz", 30*time.Second); err != nil {
		return nil, err
	}
	return p, nil
}

// stop stops p (or every worker when p is nil).
func (w *workerSet) stop(p *procs.Proc) error {
	var errs []error
	keep := w.procs[:0]
	for _, q := range w.procs {
		if p == nil || q == p {
			errs = append(errs, q.Stop(syscall.SIGTERM, 15*time.Second))
		} else {
			keep = append(keep, q)
		}
	}
	w.procs = keep
	return errors.Join(errs...)
}

// newLane creates fresh topics and a group name for one measurement.
func newLane(ctx context.Context, brokers []string, name string, partitions int) (lane, error) {
	tag := name + "." + contract.NewID()[:8]
	l := lane{brokers: brokers, input: "bench.in." + tag, output: "bench.out." + tag, dlq: "bench.dlq." + tag, grp: "bench." + tag, concurrency: 1}
	return l, kload.CreateTopics(ctx, brokers, partitions, l.input, l.output, l.dlq)
}

// Scaling measures throughput with 1..N worker processes whose handler
// sleeps, and how long a new worker takes to get partitions.
func Scaling(ctx context.Context, env Env, o ScalingOptions) *report.Section {
	o.defaults()
	s := &report.Section{
		Title: "5. Scaling",
		Intro: fmt.Sprintf("Worker processes (`dev/bench/cmd/vidpipe-benchworker`: `stage.Run` with concurrency 1 and a handler that sleeps %s per event, no CPU work) "+
			"in one consumer group on a %d-partition topic, on an in-memory kfake broker in the driver's process. For each process count the driver waits for a stable group, "+
			"then produces %d events per partition (round-robin) and measures events/s = burst ÷ (last output − burst start); median of %d runs. "+
			"Linear = the process count × the 1-process median. The ideal per process is %.0f events/s (1 ÷ sleep); the rest is the per-record publish and fetch cost.",
			o.Sleep, o.Partitions, o.PerPartition, o.Runs, 1/o.Sleep.Seconds()),
	}
	return run(s, func() error {
		k, err := servers.StartKafka(ctx, servers.KafkaOptions{})
		if err != nil {
			return err
		}
		defer k.Stop()

		tbl := report.Table{
			Caption: "Throughput by worker processes",
			Header:  []string{"processes", "events/s (median)", "runs", "linear", "efficiency (÷ linear)"},
		}
		var one float64
		for _, n := range o.Workers {
			env.Log.Info("scaling", "processes", n)
			thr, err := measureWorkers(ctx, env, k.Brokers, n, o)
			if err != nil {
				s.Tables = []report.Table{tbl}
				return fmt.Errorf("%d processes: %w", n, err)
			}
			med := stats.Median(thr)
			if one == 0 {
				one = med / float64(n)
			}
			linear := one * float64(n)
			tbl.AddRow(fmt.Sprint(n), f1(med), list(thr, f1), f1(linear), f2(stats.Ratio(med, linear)))
			if n > 1 && n <= o.Partitions {
				s.Checks = append(s.Checks, report.Check{
					Name:   fmt.Sprintf("throughput ÷ linear, %d processes", n),
					Value:  stats.Ratio(med, linear),
					Detail: fmt.Sprintf("%s vs %s ev/s", f1(med), f1(linear)),
					Target: stats.Target{Dir: stats.AtLeast, Value: 0.85, Unit: "×"},
				})
			}
		}
		s.Tables = append(s.Tables, tbl)

		env.Log.Info("scaling: rebalance")
		rb, err := measureRebalance(ctx, env, k.Brokers, o)
		if err != nil {
			return fmt.Errorf("rebalance: %w", err)
		}
		rt := report.Table{
			Caption: "A third worker joins two busy ones (6 partitions, backlog)",
			Header:  []string{"figure", "median", "runs"},
		}
		rt.AddRow("new process start → its first output (partitions taken)", ms(stats.Median(rb.firstOutput)), list(rb.firstOutput, ms))
		rt.AddRow("new process start → group Stable with 3 members (broker view, polled every 50 ms)", ms(stats.Median(rb.stable)), list(rb.stable, ms))
		rt.AddRow("longest gap between outputs of the group during the join (stop-the-world)", ms(stats.Median(rb.stall)), list(rb.stall, ms))
		s.Tables = append(s.Tables, rt)
		s.Notes = append(s.Notes, "The join time includes the process start, the runtime's readiness checks, and kafka-go's eager rebalance: "+
			"the existing members notice the rebalance at their next heartbeat (heartbeat interval 1 s), finish their current record, and rejoin. "+
			"No target in the issue; reported for capacity planning.")
		return nil
	})
}

// measureWorkers runs n worker processes and returns events/s per run.
func measureWorkers(ctx context.Context, env Env, brokers []string, n int, o ScalingOptions) ([]float64, error) {
	l, err := newLane(ctx, brokers, fmt.Sprintf("scale%d", n), o.Partitions)
	if err != nil {
		return nil, err
	}
	ws := &workerSet{env: env, lane: l, sleep: o.Sleep}
	defer ws.stop(nil)
	for i := range n {
		if _, err := ws.start(ctx, fmt.Sprintf("bench-worker-%d-of-%d", i+1, n)); err != nil {
			return nil, err
		}
	}
	obs, err := kload.NewObserver(brokers, l.output)
	if err != nil {
		return nil, err
	}
	defer obs.Close()
	prod, err := kload.NewProducer(brokers, l.input, o.Partitions)
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	if err := kload.WaitGroupStable(ctx, brokers, l.grp, n, o.Partitions, 90*time.Second); err != nil {
		return nil, err
	}
	if err := prod.Burst(ctx, o.Partitions); err != nil {
		return nil, err
	}
	if _, err := obs.WaitCount(ctx, 0, o.Partitions, time.Minute); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	var out []float64
	total := o.PerPartition * o.Partitions
	for range o.Runs {
		mark := obs.Len()
		start := time.Now()
		if err := prod.Burst(ctx, total); err != nil {
			return nil, err
		}
		seen, err := obs.WaitCount(ctx, mark, total, 3*time.Minute)
		if err != nil {
			return nil, err
		}
		out = append(out, float64(total)/seen[total-1].At.Sub(start).Seconds())
	}
	return out, ws.stop(nil)
}

type rebalance struct {
	firstOutput, stable, stall []float64 // seconds per run
}

// measureRebalance starts a third worker while two work through a backlog.
func measureRebalance(ctx context.Context, env Env, brokers []string, o ScalingOptions) (rebalance, error) {
	var rb rebalance
	l, err := newLane(ctx, brokers, "rebalance", o.Partitions)
	if err != nil {
		return rb, err
	}
	ws := &workerSet{env: env, lane: l, sleep: o.Sleep}
	defer ws.stop(nil)
	for i := range 2 {
		if _, err := ws.start(ctx, fmt.Sprintf("bench-worker-base-%d", i+1)); err != nil {
			return rb, err
		}
	}
	obs, err := kload.NewObserver(brokers, l.output)
	if err != nil {
		return rb, err
	}
	defer obs.Close()
	prod, err := kload.NewProducer(brokers, l.input, o.Partitions)
	if err != nil {
		return rb, err
	}
	defer prod.Close()
	if err := kload.WaitGroupStable(ctx, brokers, l.grp, 2, o.Partitions, 90*time.Second); err != nil {
		return rb, err
	}
	backlog := 40 * o.Partitions
	for r := range o.Runs {
		mark := obs.Len()
		if err := prod.Burst(ctx, backlog); err != nil {
			return rb, err
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return rb, err
		}
		service := fmt.Sprintf("bench-worker-new-%d", r+1)
		source := contract.SourceFor(service)
		p, err := ws.start(ctx, service)
		if err != nil {
			return rb, err
		}
		t0 := p.Started
		stableCh := make(chan time.Time, 1)
		go func() {
			if kload.WaitGroupStable(ctx, brokers, l.grp, 3, o.Partitions, time.Minute) == nil {
				stableCh <- time.Now()
			}
			close(stableCh)
		}()
		err = obs.WaitFor(ctx, time.Minute, "the new worker's first output", func(seen []kload.Seen) bool {
			for _, s := range seen[mark:] {
				if s.Source == source {
					return true
				}
			}
			return false
		})
		if err != nil {
			return rb, err
		}
		var t1 time.Time
		prev := t0
		var gap time.Duration
		for _, s := range obs.Since(mark) {
			if s.At.Before(t0) {
				continue
			}
			if d := s.At.Sub(prev); d > gap {
				gap = d
			}
			prev = s.At
			if s.Source == source {
				t1 = s.At
				break
			}
		}
		stable, ok := <-stableCh
		if !ok {
			return rb, errors.New("group never became stable with 3 members")
		}
		rb.firstOutput = append(rb.firstOutput, t1.Sub(t0).Seconds())
		rb.stable = append(rb.stable, stable.Sub(t0).Seconds())
		rb.stall = append(rb.stall, gap.Seconds())
		if _, err := obs.WaitCount(ctx, mark, backlog, 2*time.Minute); err != nil {
			return rb, fmt.Errorf("draining the backlog: %w", err)
		}
		if err := ws.stop(p); err != nil {
			return rb, err
		}
		if err := kload.WaitGroupStable(ctx, brokers, l.grp, 2, o.Partitions, time.Minute); err != nil {
			return rb, err
		}
	}
	return rb, nil
}

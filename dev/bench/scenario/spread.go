package scenario

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/bench/kload"
	"github.com/vidpipe/vidpipe/dev/bench/report"
	"github.com/vidpipe/vidpipe/dev/bench/stats"
	"github.com/vidpipe/vidpipe/dev/servers"
)

// SpreadOptions configure the chunked-work scaling scenario.
type SpreadOptions struct {
	// Workers are the chunk-worker process counts. Default: 1, 2, 3, 4.
	Workers []int
	// Partitions are the partition counts of the work topic to try.
	// Default: 12 (the deployment's and the dev stack's, config
	// kafka.partitions).
	Partitions []int
	// Sleep is a work item's time. Default: 50ms.
	Sleep time.Duration
	// Videos per burst and Fanout work items per video. Default: 10 × 12.
	Videos, Fanout int
	// Runs per figure. Default: 3.
	Runs int
}

func (o *SpreadOptions) defaults() {
	if len(o.Workers) == 0 {
		o.Workers = []int{1, 2, 3, 4}
	}
	if len(o.Partitions) == 0 {
		o.Partitions = []int{12}
	}
	if o.Sleep <= 0 {
		o.Sleep = 50 * time.Millisecond
	}
	if o.Videos <= 0 {
		o.Videos = 10
	}
	if o.Fanout <= 0 {
		o.Fanout = 12
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
}

// Spread measures how work items fanned out by a planner spread over
// chunk-worker processes: the real stage runtime on both sides (planner
// with Options.Spread, workers in one consumer group with the runtime's
// round-robin group assignment), work that sleeps instead of using CPU.
func Spread(ctx context.Context, env Env, o SpreadOptions) *report.Section {
	o.defaults()
	s := &report.Section{
		Title: "11. Chunked work scaling",
		Intro: fmt.Sprintf("The segment pipeline's distribution of work without its CPU cost: a planner process (`vidpipe-benchworker -mode plan`: `stage.Run` "+
			"with `Options.Spread` on the work topic) turns each video.uploaded into %d work items (contract.TranscodeChunk values published with `stage.Publish`, "+
			"round-robin over the work topic's partitions, as transcode's planner does), and 1..%d chunk-worker processes (`-mode chunk`: `stage.Run`, concurrency 1, "+
			"the runtime's group settings: round-robin partition assignment) sleep %s per item and publish a chunks-done record. On an in-memory kfake broker in the "+
			"driver's process. Per configuration: fresh topics and groups, a stable group, one warm-up video, then %d runs of a burst of %d videos (%d items); "+
			"items/s = items ÷ (last chunks-done − burst start); linear = processes × the 1-process median; ideal per process %.0f items/s.",
			o.Fanout, slices.Max(o.Workers), o.Sleep, o.Runs, o.Videos, o.Videos*o.Fanout, 1/o.Sleep.Seconds()),
	}
	return run(s, func() error {
		k, err := servers.StartKafka(ctx, servers.KafkaOptions{})
		if err != nil {
			return err
		}
		defer k.Stop()
		tbl := report.Table{
			Caption: "Work items per second by chunk-worker processes and work-topic partitions",
			Header:  []string{"partitions", "processes", "items/s (median)", "runs", "linear", "efficiency (÷ linear)", "items per process (last run)"},
		}
		defer func() { s.Tables = append(s.Tables, tbl) }()
		for _, p := range o.Partitions {
			var one float64
			for _, n := range o.Workers {
				env.Log.Info("chunked work scaling", "partitions", p, "processes", n)
				thr, share, err := measureSpread(ctx, env, k.Brokers, p, n, o)
				if err != nil {
					return fmt.Errorf("%d partitions, %d processes: %w", p, n, err)
				}
				med := stats.Median(thr)
				if one == 0 {
					one = med / float64(n)
				}
				linear := one * float64(n)
				tbl.AddRow(fmt.Sprint(p), fmt.Sprint(n), f1(med), list(thr, f1), f1(linear), f2(stats.Ratio(med, linear)), share)
				if n > 1 {
					s.Checks = append(s.Checks, report.Check{
						Name:   fmt.Sprintf("items/s ÷ linear, %d processes, %d partitions", n, p),
						Value:  stats.Ratio(med, linear),
						Detail: fmt.Sprintf("%s vs %s items/s", f1(med), f1(linear)),
						Target: stats.Target{Dir: stats.AtLeast, Value: 0.9, Unit: "×"},
					})
				}
			}
		}
		s.Notes = append(s.Notes, "Items are spread evenly over the partitions and partitions over the members, so a member's share of the "+
			"work is its share of the partitions: with P partitions and n processes the busiest has ⌈P/n⌉ of them, and a backlog takes ⌈P/n⌉/P of the "+
			"1-process time instead of 1/n (6 partitions over 4 processes: 2, 2, 1, 1, so at most 0.75× linear). "+
			"A partition count divisible by every process count in use avoids it: the default is 12 (1, 2, 3, 4, 6) since this scenario "+
			"measured 0.75× at 4 processes with the former 6.")
		return nil
	})
}

// measureSpread runs a planner and n chunk workers on a work topic with
// partitions partitions, and returns items/s per run and how the last
// run's items spread over the processes ("40, 40, 20, 20").
func measureSpread(ctx context.Context, env Env, brokers []string, partitions, n int, o SpreadOptions) ([]float64, string, error) {
	tag := fmt.Sprintf("spread%dp%dw.%s", partitions, n, contract.NewID()[:8])
	in, chunks, done, dlq := "bench.in."+tag, "bench.chunks."+tag, "bench.done."+tag, "bench.dlq."+tag
	if err := kload.CreateTopics(ctx, brokers, partitions, in, chunks, done, dlq); err != nil {
		return nil, "", err
	}
	planner := &workerSet{env: env, lane: lane{brokers: brokers, input: in, output: chunks, dlq: dlq, grp: "bench.plan." + tag}, sleep: time.Millisecond,
		extra: []string{"-mode", "plan", "-fanout", fmt.Sprint(o.Fanout)}}
	defer planner.stop(nil)
	workers := &workerSet{env: env, lane: lane{brokers: brokers, input: chunks, output: done, dlq: dlq, grp: "bench.chunks." + tag}, sleep: o.Sleep,
		extra: []string{"-mode", "chunk"}}
	defer workers.stop(nil)
	if _, err := planner.start(ctx, fmt.Sprintf("bench-planner-%dp-%d", partitions, n)); err != nil {
		return nil, "", err
	}
	var sources []string
	for i := range n {
		service := fmt.Sprintf("bench-chunks-%dp-%d-of-%d", partitions, i+1, n)
		if _, err := workers.start(ctx, service); err != nil {
			return nil, "", err
		}
		sources = append(sources, contract.SourceFor(service))
	}
	obs, err := kload.NewObserver(brokers, done)
	if err != nil {
		return nil, "", err
	}
	defer obs.Close()
	prod, err := kload.NewProducer(brokers, in, partitions)
	if err != nil {
		return nil, "", err
	}
	defer prod.Close()
	if err := kload.WaitGroupStable(ctx, brokers, planner.lane.grp, 1, partitions, 90*time.Second); err != nil {
		return nil, "", err
	}
	if err := kload.WaitGroupStable(ctx, brokers, workers.lane.grp, n, partitions, 90*time.Second); err != nil {
		return nil, "", err
	}
	if err := prod.Burst(ctx, 1); err != nil {
		return nil, "", err
	}
	if _, err := obs.WaitCount(ctx, 0, o.Fanout, time.Minute); err != nil {
		return nil, "", fmt.Errorf("warm-up: %w", err)
	}
	var out []float64
	var share string
	total := o.Videos * o.Fanout
	for range o.Runs {
		mark := obs.Len()
		start := time.Now()
		if err := prod.Burst(ctx, o.Videos); err != nil {
			return nil, "", err
		}
		seen, err := obs.WaitCount(ctx, mark, total, 5*time.Minute)
		if err != nil {
			return nil, "", err
		}
		seen = seen[:total]
		out = append(out, float64(total)/seen[total-1].At.Sub(start).Seconds())
		per := map[string]int{}
		for _, r := range seen {
			per[r.Source]++
		}
		counts := make([]string, len(sources))
		for i, src := range sources {
			counts[i] = fmt.Sprint(per[src])
		}
		share = strings.Join(counts, ", ")
	}
	return out, share, nil
}

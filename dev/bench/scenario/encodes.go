package scenario

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/bench/procs"
	"github.com/vidpipe/vidpipe/dev/bench/report"
	"github.com/vidpipe/vidpipe/dev/bench/stats"
	"github.com/vidpipe/vidpipe/platform/promtext"
)

// EncodesOptions configure the scenarios that spread real encodes over
// transcode processes: chunk scaling (9) and a crash mid-transcode (10).
type EncodesOptions struct {
	// Scaling runs scenario 9: the 3-minute source and the backlog of four
	// short clips, with 1 and with 2 transcode processes.
	Scaling bool
	// Crash runs scenario 10: the 3-minute source with 2 processes, once
	// without a fault and once with one process killed (kill -9) at KillAt
	// of the time without, and started again at once.
	Crash bool
	// Runs of each measurement (medians). Default: 1 (each is minutes of
	// encoding).
	Runs int
	// KillAt is when the crash lands, as a share of the median time
	// without a fault. Default: 0.7.
	KillAt float64
}

func (o *EncodesOptions) defaults() {
	if o.Runs <= 0 {
		o.Runs = 1
	}
	if o.KillAt <= 0 || o.KillAt >= 1 {
		o.KillAt = 0.7
	}
}

// The sources: a 3-minute 720p30 clip (ladder 720p/480p/360p) and, for
// the backlog, four 10 s 1080p30 clips (ladder 1080p/720p/480p/360p).
var (
	encodesLong    = clipSpec{Width: 1280, Height: 720, Seconds: 180}
	encodesShort   = clipSpec{Width: 1920, Height: 1080, Seconds: 10}
	encodesBacklog = 4
)

// encodesThreads is transcode.threads in scenarios 9 and 10: one ffmpeg
// thread per encode, so that a process is one core's worth of work and
// the second process has the second core to itself.
const encodesThreads = "1"

// encodesRun is one measurement: seconds from the 202 (the first upload's
// start for a backlog) to the last video.transcoded, and what the
// transcode processes did meanwhile.
type encodesRun struct {
	total float64
	// ffmpeg counts ffmpeg processes run by the transcode workers;
	// doneRecords the chunks-done records (completions and audio
	// progress) and items the distinct work items completed.
	ffmpeg, doneRecords, items int
	// ffmpegCPU is those ffmpeg processes' CPU seconds (user + system);
	// busy and capacity the whole machine's busy CPU seconds and its
	// core-seconds in the window (/proc/stat): busy − ffmpegCPU is what
	// everything else took (MinIO, the broker, the services, other
	// processes on the machine).
	ffmpegCPU, busy, capacity float64
	// perProcess is each transcode process's time running ffmpeg
	// ("41.2, 20.3 s"), the killed one and its replacement apart.
	perProcess string
	// killAt is when the crash landed (crash runs); inFlight the victim's
	// work items in flight at that moment (its chunk consumer's
	// vidpipe_stage_in_flight).
	killAt   float64
	inFlight float64
}

// Encodes runs scenarios 9 and/or 10 and returns their sections (in that
// order, those selected). The 2-process run of the 3-minute source
// without a fault is shared: scenario 10 compares its crash with it.
func Encodes(ctx context.Context, env Env, o EncodesOptions) []*report.Section {
	o.defaults()
	scaling := &report.Section{
		Title: "9. Chunk scaling on real encodes",
		Intro: fmt.Sprintf("The segment pipeline on real encodes: upload-api and 1 or 2 transcode processes (each running the planner, the video chunk and audio encoders and the fan-in), "+
			"the default settings (transcode.chunk_seconds, first_chunk_seconds, preset, ladder: see docs/configuration.md) but **transcode.threads 1**, so that one process is one core's worth "+
			"of encoding and the second process can use the second core. **Long source**: one upload of %s; time = 202 → video.transcoded record (observer). "+
			"**Backlog**: %d uploads of %s posted at once; time = start of the uploads → the last video.transcoded. The same stack serves every measurement "+
			"of a process count, one after the other, each starting on an idle pipeline. %d run(s) per figure (medians). "+
			"The ffmpeg count comes from wrapper scripts around ffmpeg (a few ms each).",
			encodesLong.describe(), encodesBacklog, encodesShort.describe(), o.Runs),
	}
	crash := &report.Section{
		Title: "10. Crash during a chunked transcode",
		Intro: fmt.Sprintf("Scenario 9's long source (%s) with 2 transcode processes, threads 1: once without a fault, once with **kill -9** (SIGKILL to the "+
			"process group: the worker and its ffmpeg children, as a container crash) of the first transcode process at %.0f%% of the no-fault time, "+
			"**started again at once** (as an orchestrator restarts a crashed container; the new process joins the groups as a new member). "+
			"Time = 202 → video.transcoded. The killed process's work items in flight are redone by whichever member gets their partitions "+
			"(after the group notices the dead member: stage session timeout 10 s).", encodesLong.describe(), o.KillAt*100),
	}
	var out []*report.Section
	if o.Scaling {
		out = append(out, scaling)
	}
	if o.Crash {
		out = append(out, crash)
	}
	start := time.Now()
	err := encodes(ctx, env, o, scaling, crash)
	for _, s := range out {
		s.Elapsed = time.Since(start)
		if err != nil {
			s.Err = err
		}
	}
	return out
}

func encodes(ctx context.Context, env Env, o EncodesOptions, scaling, crash *report.Section) error {
	long, err := cachedClip(ctx, env, encodesLong)
	if err != nil {
		return err
	}
	short, err := cachedClip(ctx, env, encodesShort)
	if err != nil {
		return err
	}
	counts := []int{2}
	if o.Scaling {
		counts = []int{1, 2}
	}
	longRuns := map[int][]encodesRun{}
	backlogRuns := map[int][]encodesRun{}
	var crashRuns []encodesRun
	for _, n := range counts {
		err := func() error {
			name := fmt.Sprintf("encodes-%dproc", n)
			s, err := startSegStack(ctx, env, name, n, filepath.Join(env.Dir, name+"-tools"), "VIDPIPE_TRANSCODE_THREADS="+encodesThreads)
			if err != nil {
				return err
			}
			defer s.stop(false)
			for r := range o.Runs {
				env.Log.Info("chunk scaling: long source", "processes", n, "run", r+1)
				lr, err := encodeUploads(ctx, s, []string{long}, 0)
				if err != nil {
					return fmt.Errorf("%d process(es), long source: %w", n, err)
				}
				longRuns[n] = append(longRuns[n], lr)
				if !o.Scaling {
					continue
				}
				env.Log.Info("chunk scaling: backlog", "processes", n, "run", r+1)
				br, err := encodeUploads(ctx, s, repeat(short, encodesBacklog), 0)
				if err != nil {
					return fmt.Errorf("%d process(es), backlog: %w", n, err)
				}
				backlogRuns[n] = append(backlogRuns[n], br)
			}
			if !o.Crash || n != 2 {
				return nil
			}
			base := stats.Median(totals(longRuns[2]))
			for r := range o.Runs {
				env.Log.Info("crash: kill -9 at", "seconds", o.KillAt*base, "run", r+1)
				cr, err := encodeUploads(ctx, s, []string{long}, time.Duration(o.KillAt*base*float64(time.Second)))
				if err != nil {
					return fmt.Errorf("crash run: %w", err)
				}
				crashRuns = append(crashRuns, cr)
			}
			return nil
		}()
		if err != nil {
			return err
		}
	}

	secs := func(x float64) string { return num(x, "%.1f s") }
	if o.Scaling {
		tbl := report.Table{Caption: "Transcode time by process count (threads 1); CPU figures of the first run", Header: []string{"load", "processes", "time (median)", "runs", "ffmpeg runs", "work items",
			"ffmpeg CPU", "ffmpeg busy per process", "machine busy", "speed-up"}}
		for _, load := range []struct {
			name string
			runs map[int][]encodesRun
			what string
		}{{"long source (" + duration(encodesLong.Seconds) + " 720p)", longRuns, "long source, 202 → video.transcoded"},
			{fmt.Sprintf("backlog (%d × %s 1080p at once)", encodesBacklog, duration(encodesShort.Seconds)), backlogRuns, "backlog, uploads → last video.transcoded"}} {
			one, two := stats.Median(totals(load.runs[1])), stats.Median(totals(load.runs[2]))
			for _, n := range []int{1, 2} {
				rs := load.runs[n]
				speed := "1.00×"
				if n == 2 {
					speed = f2(stats.Ratio(one, two)) + "×"
				}
				tbl.AddRow(load.name, fmt.Sprint(n), secs(stats.Median(totals(rs))), list(totals(rs), secs), fmt.Sprint(rs[0].ffmpeg), fmt.Sprint(rs[0].items),
					secs(rs[0].ffmpegCPU), rs[0].perProcess, machine(rs[0]), speed)
			}
			scaling.Checks = append(scaling.Checks, report.Check{
				Name: "speed-up 1 → 2 transcode processes, " + load.what, Value: stats.Ratio(one, two), Format: "%.2f×",
				Detail: fmt.Sprintf("%.1f s vs %.1f s", one, two),
				Target: stats.Target{Dir: stats.AtLeast, Value: 1.7, Unit: "×"},
			})
		}
		scaling.Tables = append(scaling.Tables, tbl)
		scaling.Notes = append(scaling.Notes, "The ideal is 2.00× on 2 idle cores; the planner's checks of the source, the audio item (one ffmpeg for the whole timeline), "+
			"the fan-in's MP4 assembly and the last, shorter chunks are serial parts. **ffmpeg CPU** is the CPU time (user + system, GNU time) of the transcode "+
			"processes' ffmpeg runs; **machine busy** is the whole machine's (/proc/stat) over the run, and *not this ffmpeg* what everything else used "+
			"(MinIO, the broker, the services, and whatever else runs on the machine). Two processes can only be 2× faster if the second core is free: "+
			"when the machine is near 100% busy and *not this ffmpeg* is large, other work took the core the second process needed. "+
			"**ffmpeg busy per process** is the time each transcode process had an ffmpeg running (wrappers named after the process): "+
			"unequal shares mean the work items did not spread evenly. Items are spread round-robin over the work topic's partitions (6) and each of "+
			"2 processes owns every other partition (round-robin assignment), so when every video has the same number of items the same item of "+
			"every video can land on the same process when the items differ in size (chunks of unequal length, the audio).")
	}
	if o.Crash {
		base := stats.Median(totals(longRuns[2]))
		got := stats.Median(totals(crashRuns))
		tbl := report.Table{Caption: "Without and with a crash (2 processes, threads 1); other figures of the first run", Header: []string{"run", "time (median)", "runs", "kill at", "victim's items in flight",
			"ffmpeg runs", "chunks-done records", "work items", "ffmpeg CPU", "ffmpeg busy per process", "machine busy"}}
		nf := longRuns[2][0]
		tbl.AddRow("no fault", secs(base), list(totals(longRuns[2]), secs), "—", "—", fmt.Sprint(nf.ffmpeg), fmt.Sprint(nf.doneRecords), fmt.Sprint(nf.items), secs(nf.ffmpegCPU), nf.perProcess, machine(nf))
		c := crashRuns[0]
		tbl.AddRow("kill -9 + restart", secs(got), list(totals(crashRuns), secs), secs(c.killAt), f0(c.inFlight), fmt.Sprint(c.ffmpeg), fmt.Sprint(c.doneRecords), fmt.Sprint(c.items),
			secs(c.ffmpegCPU), c.perProcess, machine(c))
		crash.Tables = append(crash.Tables, tbl)
		crash.Checks = append(crash.Checks, report.Check{
			Name: "time with a kill -9 ÷ without, 2 processes", Value: stats.Ratio(got, base), Format: "%.2f×",
			Detail: fmt.Sprintf("%.1f s vs %.1f s", got, base),
			Target: stats.Target{Dir: stats.AtMost, Value: 1.25, Unit: "×"},
		})
		crash.Notes = append(crash.Notes, "An ffmpeg killed with its worker leaves no line in the wrappers' log (the wrapper dies with it), so the "+
			"ffmpeg count of the crash run counts the redone items once: the same count as without the fault means only what was in flight was redone; "+
			"more means more was (an item finished but not yet committed, or the audio item, which restarts from the beginning of the timeline). "+
			"Both runs use the same stack, the crash run last.")
	}
	return nil
}

// machine is how busy the machine was during a run: busy core-seconds,
// the share of its capacity, and what was not the transcode's ffmpeg.
func machine(r encodesRun) string {
	return fmt.Sprintf("%.0f%% (%.0f of %.0f core-s; not this ffmpeg: %.0f)", 100*r.busy/r.capacity, r.busy, r.capacity, r.busy-r.ffmpegCPU)
}

func totals(rs []encodesRun) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = r.total
	}
	return out
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// encodeUploads posts the files at once and waits until every one is
// transcoded. With killAfter > 0 it kills the first transcode process
// (SIGKILL to its group) that long after the (single) upload's 202 and
// starts a new one at once.
func encodeUploads(ctx context.Context, s *segStack, files []string, killAfter time.Duration) (encodesRun, error) {
	var r encodesRun
	ids := make([]string, len(files))
	acks := make([]time.Time, len(files))
	errs := make([]error, len(files))
	busy0, cap0, err := procs.SystemCPU()
	if err != nil {
		return r, err
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], acks[i], errs[i] = s.upload(ctx, f, fmt.Sprintf("Encode %d", i+1))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	t0 := start
	if len(files) == 1 {
		t0 = acks[0]
	}
	if killAfter > 0 {
		if err := sleepCtx(ctx, time.Until(t0.Add(killAfter))); err != nil {
			return r, err
		}
		victim := s.transcoders[0]
		if m, err := promtext.Scrape(ctx, victim.OpsURL("/metrics")); err == nil {
			r.inFlight = m.Sum("vidpipe_stage_in_flight", "consumer", "chunks")
		}
		r.killAt = time.Since(t0).Seconds()
		if err := victim.Kill(); err != nil {
			return r, fmt.Errorf("kill -9 %s: %w", victim.LogPath(), err)
		}
		s.env.Log.Info("crash: killed a transcode process, starting a new one", "log", victim.LogPath(), "at", r.killAt)
		sv, err := s.startTranscoder(ctx)
		if err != nil {
			return r, fmt.Errorf("restart after kill -9: %w", err)
		}
		s.transcoders[0] = sv
	}
	var end time.Time
	for _, id := range ids {
		rec, err := s.waitTopic(ctx, id, contract.TopicTranscoded, 15*time.Minute)
		if err != nil {
			return r, err
		}
		if rec.At.After(end) {
			end = rec.At
		}
		items := map[string]bool{}
		for _, d := range s.chunksDone(id) {
			r.doneRecords++
			if d.Complete {
				items[contract.ChunkKey(id, d.Kind, d.Index)] = true
			}
		}
		r.items += len(items)
	}
	r.total = end.Sub(t0).Seconds()
	busy1, cap1, err := procs.SystemCPU()
	if err != nil {
		return r, err
	}
	r.busy, r.capacity = busy1-busy0, cap1-cap0
	tools, err := readToolRuns(s.toolLog())
	if err != nil {
		return r, err
	}
	var names []string
	for _, t := range tools {
		if t.Tool == "ffmpeg" && !t.Start.Before(start) && !t.Start.After(end) {
			r.ffmpeg++
			r.ffmpegCPU += t.CPU
			if !slices.Contains(names, t.Stage) {
				names = append(names, t.Stage)
			}
		}
	}
	slices.Sort(names)
	var per []string
	for _, n := range names {
		d := busy(tools, start, end, func(t toolRun) bool { return t.Tool == "ffmpeg" && t.Stage == n })
		per = append(per, fmt.Sprintf("%.1f", d.Seconds()))
	}
	r.perProcess = strings.Join(per, ", ") + " s"
	return r, nil
}

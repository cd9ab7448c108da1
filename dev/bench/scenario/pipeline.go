package scenario

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/bench/kload"
	"github.com/vidpipe/vidpipe/dev/bench/report"
	"github.com/vidpipe/vidpipe/dev/bench/stats"
	"github.com/vidpipe/vidpipe/dev/devstack"
	"github.com/vidpipe/vidpipe/platform/promtext"
)

// PipelineOptions configure the end-to-end and memory scenarios.
type PipelineOptions struct {
	// Runs is the number of videos sent through, one after the other.
	// Default: 3.
	Runs int
}

// pipelineRun is what one video's trip measured, in seconds.
type pipelineRun struct {
	total, upload float64
	handler       map[string]float64 // stage → handler duration (metrics), every consumer of the process
	// consumer is stage → consumer → handler duration, for a process that
	// runs several consumers (transcode: plan, chunks, audio, assemble),
	// whose handlers overlap in time.
	consumer                      map[string]map[string]float64
	ffmpeg, ffprobe               map[string]float64 // stage → tool busy time (wrappers)
	ffmpegAll, ffprobeAll, metric float64            // all stages; metric = vidpipe_transcode_ffmpeg_run_seconds
}

// workerStages are the pipeline table's stages (contract.DefaultPipeline),
// in order: one process each.
var workerStages = stageNames(contract.DefaultPipeline())

// stageNames lists p's stage names in order.
func stageNames(p contract.Pipeline) []string {
	var out []string
	for _, s := range p.StageNames() {
		out = append(out, string(s))
	}
	return out
}

// Pipeline sends a 10 s 720p clip through the real binaries (upload-api and
// the three workers as processes) and breaks the latency down; it also
// reads every process's peak RSS when idle and after the load. It returns
// the end-to-end and the memory sections.
func Pipeline(ctx context.Context, env Env, o PipelineOptions) []*report.Section {
	if o.Runs <= 0 {
		o.Runs = 3
	}
	e2e := &report.Section{
		Title: "4. End to end",
		Intro: fmt.Sprintf("A 10 s 1280×720 30 fps H.264+AAC clip (testsrc2 + sine) uploaded with `POST /v1/videos` to the real upload-api binary, then transcode, thumbnail "+
			"and indexer as separate processes (the `make run` configuration: default ladder → 360p/480p/720p at preset veryfast, transcode's segment pipeline with its defaults, sprite sheet on), on kfake + MinIO + PostgreSQL; "+
			"%d videos one after the other, medians. **Total** = from the start of the upload request to the `video.ready` record received by an observer consumer. "+
			"ffmpeg and ffprobe time is measured exactly: the workers run them through wrapper scripts that log each process's start and end; "+
			"the handler durations come from each worker's `vidpipe_stage_handler_duration_seconds` (sum delta per video). "+
			"**Non-ffmpeg overhead** = total − time inside ffmpeg processes: it includes the upload request, ffprobe runs, object-store transfers, the catalog upsert and every Kafka hop.", o.Runs),
	}
	mem := &report.Section{
		Title: "6. Memory",
		Intro: "Peak resident set size (VmHWM from /proc/PID/status) of each service process of scenario 4: **idle** = once every process is ready and its consumer group is stable, " +
			"before any video; **under load** = after all the videos of scenario 4 went through (for upload-api, multi-GiB uploads are in scenario 2). " +
			"ffmpeg and ffprobe run as child processes with their own memory, not counted in the worker's RSS; their peak is listed separately (GNU time's maximum RSS).",
	}
	start := time.Now()
	err := pipeline(ctx, env, o, e2e, mem)
	e2e.Elapsed = time.Since(start)
	if err != nil {
		e2e.Err = err
		if len(mem.Tables) == 0 {
			mem.Err = fmt.Errorf("scenario 4 failed: %w", err)
		}
	}
	return []*report.Section{e2e, mem}
}

func pipeline(ctx context.Context, env Env, o PipelineOptions, e2e, mem *report.Section) error {
	st, err := StartStack(ctx, env, "pipeline-stack")
	if err != nil {
		return err
	}
	defer st.Stop()

	clipDir := filepath.Join(env.Dir, "clips")
	if err := os.MkdirAll(clipDir, 0o755); err != nil {
		return err
	}
	clip := filepath.Join(clipDir, "720p-10s.mp4")
	if err := makeClip(ctx, clip, 1280, 720, 10); err != nil {
		return err
	}
	toolDir := filepath.Join(env.Dir, "tools")
	wrappers, err := toolWrappers(toolDir, string(contract.StageTranscode), string(contract.StageThumbnail))
	if err != nil {
		return err
	}

	obs, err := kload.NewObserver(st.Brokers, contract.AllTopics()...)
	if err != nil {
		return err
	}
	defer obs.Close()

	services := map[string]*Service{}
	names := append([]string{devstack.UploadAPI}, workerStages...)
	for _, name := range names {
		var extra []string
		switch name {
		case string(contract.StageTranscode):
			extra = []string{"VIDPIPE_TRANSCODE_FFMPEG=" + wrappers[name]["ffmpeg"], "VIDPIPE_TRANSCODE_FFPROBE=" + wrappers[name]["ffprobe"]}
		case string(contract.StageThumbnail):
			extra = []string{"VIDPIPE_THUMBNAIL_FFMPEG=" + wrappers[name]["ffmpeg"], "VIDPIPE_THUMBNAIL_FFPROBE=" + wrappers[name]["ffprobe"]}
		}
		env.Log.Info("end to end: starting", "service", name)
		sv, err := st.StartService(ctx, env, name, name, extra...)
		if err != nil {
			return err
		}
		defer sv.Stop(syscall.SIGTERM, 15*time.Second)
		services[name] = sv
	}
	for _, s := range contract.DefaultPipeline().StageNames() {
		if err := kload.WaitGroupStable(ctx, st.Brokers, s.Group(), 1, 6, time.Minute); err != nil {
			return err
		}
	}
	if err := sleepCtx(ctx, 2*time.Second); err != nil {
		return err
	}
	idle := map[string]int64{}
	for _, name := range names {
		if idle[name], err = services[name].PeakRSS(); err != nil {
			return err
		}
	}

	api := newAPIClient(services[devstack.UploadAPI].URL(""))
	var runs []pipelineRun
	for r := range o.Runs {
		env.Log.Info("end to end", "video", r+1, "of", o.Runs)
		pr, err := pipelineOnce(ctx, st, services, api, obs, clip, filepath.Join(toolDir, "tools.log"), r)
		if err != nil {
			return fmt.Errorf("video %d: %w", r+1, err)
		}
		runs = append(runs, pr)
	}

	col := func(f func(pipelineRun) float64) []float64 {
		out := make([]float64, len(runs))
		for i, r := range runs {
			out[i] = f(r)
		}
		return out
	}
	secs := func(x float64) string { return fmt.Sprintf("%.3f s", x) }
	row := func(tbl *report.Table, name string, f func(pipelineRun) float64) {
		xs := col(f)
		tbl.AddRow(name, secs(stats.Median(xs)), list(xs, secs))
	}
	tbl := report.Table{Caption: "Where the time goes (seconds)", Header: []string{"part", "median", "runs"}}
	row(&tbl, "**total**: upload start → video.ready received", func(r pipelineRun) float64 { return r.total })
	row(&tbl, "upload request (POST /v1/videos until 202: store + video.uploaded acked)", func(r pipelineRun) float64 { return r.upload })
	overlap := false
	for _, s := range workerStages {
		if cs := consumersOf(runs, s); len(cs) > 1 {
			overlap = true
			row(&tbl, s+" handlers, summed over its consumers (they run at the same time: more than the wall time they cover)", func(r pipelineRun) float64 { return r.handler[s] })
			for _, c := range cs {
				row(&tbl, "  consumer "+c, func(r pipelineRun) float64 { return r.consumer[s][c] })
			}
		} else {
			row(&tbl, s+" handler", func(r pipelineRun) float64 { return r.handler[s] })
		}
		if s != string(contract.StageIndexer) {
			row(&tbl, "  of which ffmpeg", func(r pipelineRun) float64 { return r.ffmpeg[s] })
			row(&tbl, "  of which ffprobe", func(r pipelineRun) float64 { return r.ffprobe[s] })
			row(&tbl, "  of which the rest (object store, checks)", func(r pipelineRun) float64 { return r.handler[s] - r.ffmpeg[s] - r.ffprobe[s] })
		}
	}
	if overlap {
		tbl.AddRow("between handlers", "n/a", "a stage's consumers overlap in time, so total − upload − handlers means nothing")
	} else {
		row(&tbl, "between handlers (Kafka publish acks=all, fetch, observer) = total − upload − handlers", func(r pipelineRun) float64 {
			h := 0.0
			for _, s := range workerStages {
				h += r.handler[s]
			}
			return r.total - r.upload - h
		})
	}
	row(&tbl, "ffmpeg, all stages", func(r pipelineRun) float64 { return r.ffmpegAll })
	row(&tbl, "cross-check: transcode's vidpipe_transcode_ffmpeg_run_seconds", func(r pipelineRun) float64 { return r.metric })
	row(&tbl, "ffprobe, all stages", func(r pipelineRun) float64 { return r.ffprobeAll })
	row(&tbl, "**non-ffmpeg overhead** = total − ffmpeg", func(r pipelineRun) float64 { return r.total - r.ffmpegAll })
	row(&tbl, "non-ffmpeg, non-ffprobe overhead = total − ffmpeg − ffprobe", func(r pipelineRun) float64 { return r.total - r.ffmpegAll - r.ffprobeAll })
	e2e.Tables = append(e2e.Tables, tbl)

	total := stats.Median(col(func(r pipelineRun) float64 { return r.total }))
	over := stats.Median(col(func(r pipelineRun) float64 { return r.total - r.ffmpegAll }))
	e2e.Checks = append(e2e.Checks, report.Check{
		Name: "non-ffmpeg overhead, upload → video.ready", Value: over, Format: "%.2f s",
		Detail: fmt.Sprintf("total %.2f s, ffmpeg %.2f s (medians)", total, stats.Median(col(func(r pipelineRun) float64 { return r.ffmpegAll }))),
		Target: stats.Target{Dir: stats.AtMost, Value: 1, Unit: " s"},
	})
	e2e.Notes = append(e2e.Notes, "The wrapper scripts add a few milliseconds per tool run (bash start, GNU time); that time is counted as overhead, not as ffmpeg. "+
		"Commits are batched (stage.commit_interval 1s) and are not on the path of a record: the next stage can fetch the output as soon as it is acknowledged.")

	// Memory.
	tools, err := readToolRuns(filepath.Join(toolDir, "tools.log"))
	if err != nil {
		return err
	}
	mt := report.Table{Caption: "Peak RSS (VmHWM)", Header: []string{"process", "idle", "under load", "child tool peak RSS (max over its runs)"}}
	for _, name := range names {
		peak, err := services[name].PeakRSS()
		if err != nil {
			return err
		}
		child := "—"
		for _, tool := range []string{"ffmpeg", "ffprobe"} {
			var m int64
			for _, t := range tools {
				if t.Stage == name && t.Tool == tool && t.PeakKiB > m {
					m = t.PeakKiB
				}
			}
			if m > 0 {
				if child == "—" {
					child = ""
				} else {
					child += ", "
				}
				child += tool + " " + mib(m<<10)
			}
		}
		mt.AddRow(name, mib(idle[name]), mib(peak), child)
	}
	mem.Tables = append(mem.Tables, mt)
	mem.Notes = append(mem.Notes, fmt.Sprintf("Load = the %d videos of scenario 4, one at a time (each worker runs with stage.concurrency 1). No target in the issue; "+
		"the upload-api target (< 100 MiB while streaming 1 GiB) is checked in scenario 2.", o.Runs))
	return nil
}

// consumersOf lists the named consumers of stage's process seen in runs,
// sorted.
func consumersOf(runs []pipelineRun, stage string) []string {
	var out []string
	for _, r := range runs {
		for c := range r.consumer[stage] {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	slices.Sort(out)
	return out
}

// pipelineOnce sends the clip through and measures its trip.
func pipelineOnce(ctx context.Context, st *Stack, services map[string]*Service, api *apiClient, obs *kload.Observer, clip, toolLog string, r int) (pipelineRun, error) {
	pr := pipelineRun{handler: map[string]float64{}, ffmpeg: map[string]float64{}, ffprobe: map[string]float64{}, consumer: map[string]map[string]float64{}}
	before := map[string]promtext.Families{}
	for _, s := range workerStages {
		m, err := promtext.Scrape(ctx, services[s].OpsURL("/metrics"))
		if err != nil {
			return pr, err
		}
		before[s] = m
	}
	f, err := os.Open(clip)
	if err != nil {
		return pr, err
	}
	defer f.Close()
	t0 := time.Now()
	id, err := api.postVideo(ctx, "clip.mp4", fmt.Sprintf("Bench video %d", r+1), f)
	if err != nil {
		return pr, err
	}
	pr.upload = time.Since(t0).Seconds()

	// The trip ends on the pipeline's last step (video.ready) or a dead letter.
	pipe := contract.DefaultPipeline()
	lastTopic := pipe.Steps()[pipe.MaxRank()-1].Topic
	var ready kload.Seen
	var failed *kload.Seen
	err = obs.WaitFor(ctx, 5*time.Minute, "video.ready of "+id, func(seen []kload.Seen) bool {
		for i := range seen {
			s := seen[i]
			if s.Key != id {
				continue
			}
			if s.Topic == lastTopic {
				ready = s
				return true
			}
			if _, dead := pipe.StageForDLQ(s.Topic); dead {
				failed = &s
				return true
			}
		}
		return false
	})
	if err != nil {
		return pr, err
	}
	if failed != nil {
		return pr, fmt.Errorf("video %s was dead-lettered on %s (see the worker logs)", id, failed.Topic)
	}
	pr.total = ready.At.Sub(t0).Seconds()

	// The indexer's handler has finished when video.ready exists; give the
	// metrics a moment to be scraped consistently.
	for _, s := range workerStages {
		after, err := promtext.Scrape(ctx, services[s].OpsURL("/metrics"))
		if err != nil {
			return pr, err
		}
		name := "vidpipe_stage_handler_duration_seconds_sum"
		pr.handler[s] = after.Sum(name, "result", "ok") - before[s].Sum(name, "result", "ok")
		for _, series := range after.Series(name, "result", "ok") {
			if c := series.Labels["consumer"]; c != "" {
				if pr.consumer[s] == nil {
					pr.consumer[s] = map[string]float64{}
				}
				pr.consumer[s][c] = series.Value - before[s].Sum(name, "result", "ok", "consumer", c)
			}
		}
		if after.Sum(name, "result", "error") != before[s].Sum(name, "result", "error") {
			return pr, fmt.Errorf("%s: a handler attempt failed during the run (retried): the timing is not clean", s)
		}
		if s == string(contract.StageTranscode) {
			pr.metric = after.Sum("vidpipe_transcode_ffmpeg_run_seconds_sum") - before[s].Sum("vidpipe_transcode_ffmpeg_run_seconds_sum")
		}
	}
	tools, err := readToolRuns(toolLog)
	if err != nil {
		return pr, err
	}
	for _, t := range tools {
		if t.Exit != 0 && !t.Start.Before(t0) && !t.End.After(ready.At) {
			return pr, errors.New("an ffmpeg/ffprobe run failed during the video's trip")
		}
	}
	for _, s := range []string{string(contract.StageTranscode), string(contract.StageThumbnail)} {
		pr.ffmpeg[s] = busy(tools, t0, ready.At, func(t toolRun) bool { return t.Stage == s && t.Tool == "ffmpeg" }).Seconds()
		pr.ffprobe[s] = busy(tools, t0, ready.At, func(t toolRun) bool { return t.Stage == s && t.Tool == "ffprobe" }).Seconds()
	}
	pr.ffmpegAll = busy(tools, t0, ready.At, func(t toolRun) bool { return t.Tool == "ffmpeg" }).Seconds()
	pr.ffprobeAll = busy(tools, t0, ready.At, func(t toolRun) bool { return t.Tool == "ffprobe" }).Seconds()
	return pr, nil
}

package scenario

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/bench/kload"
	"github.com/vidpipe/vidpipe/dev/bench/report"
	"github.com/vidpipe/vidpipe/dev/bench/stats"
	"github.com/vidpipe/vidpipe/dev/devstack"
)

// ThresholdOptions configure scenario 12: where short videos stop being
// cut (issue 13: "short videos take whichever path is faster").
type ThresholdOptions struct {
	// Lengths are the source lengths in seconds (1080p30). Default: 2, 4,
	// 8, 16.
	Lengths []int
	// Runs of each length in each configuration (medians). Default: 3.
	Runs int
	// Settle is the pause after a video.transcoded before the next
	// upload, so that each upload meets an idle pipeline (the fan-in's
	// clean-up after the record is done). Default: 1s.
	Settle time.Duration
}

func (o *ThresholdOptions) defaults() {
	if len(o.Lengths) == 0 {
		o.Lengths = []int{2, 4, 8, 16}
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.Settle <= 0 {
		o.Settle = time.Second
	}
}

// thresholdMode is one configuration of the real transcode binary.
type thresholdMode struct {
	// label names it in the report ("(a) cut").
	label string
	// setting is what differs from the defaults, for the report.
	setting string
	// env is the transcode process's extra configuration.
	env []string
	// groups are the consumer groups the process joins.
	groups []string
	// check says whether the chunk count (0: no work items at all) is
	// what the configuration must produce, so that a setting the binary
	// ignored fails the scenario instead of measuring the wrong thing.
	check func(chunks int) bool
}

// The three configurations, in the order of the report: (a) every source
// cut, (b) one work item per video, (c) the single pass.
var thresholdModes = []thresholdMode{
	{label: "(a) cut", setting: "transcode.chunk_min_duration=0s (every source is cut)",
		env:    []string{"VIDPIPE_TRANSCODE_CHUNK_MIN_DURATION=0s"},
		groups: transcodeGroups, check: func(n int) bool { return n > 1 }},
	{label: "(b) one work item", setting: "transcode.chunk_min_duration=1h",
		env:    []string{"VIDPIPE_TRANSCODE_CHUNK_MIN_DURATION=1h"},
		groups: transcodeGroups, check: func(n int) bool { return n == 1 }},
	{label: "(c) single pass", setting: "transcode.chunk_seconds=0",
		env:    []string{"VIDPIPE_TRANSCODE_CHUNK_SECONDS=0"},
		groups: []string{contract.StageTranscode.Group()}, check: func(n int) bool { return n == 0 }},
}

// thresholdRun is one upload: seconds from its 202 to the records.
type thresholdRun struct {
	// transcoded: the video.transcoded record; playable: the video.playable
	// record, or video.transcoded when there is none (the single pass
	// publishes no video.playable: the status goes from uploaded to
	// transcoded, which is when a player can start).
	transcoded, playable float64
	// chunks is the plan's video chunk count (0: no work items);
	// chunk0 the place of video chunk 0 among the video chunks in the
	// order they finished (1: first; 0: no chunks).
	chunks, chunk0 int
	// retries counts the transcode process's failed attempts for the
	// video (log lines "attempt failed" naming it): each costs a retry
	// pause.
	retries int
}

// Threshold measures, on one transcode process, how long short sources
// take from the upload's 202 to video.transcoded and to playable when
// they are cut (the default), encoded as one work item, or transcoded in
// the old single pass; it reports the length below which one work item is
// at least as fast as cutting, where transcode.chunk_min_duration belongs
// for one process. A measurement without a target: its figure is INFO.
func Threshold(ctx context.Context, env Env, o ThresholdOptions) *report.Section {
	o.defaults()
	var settings []string
	for _, m := range thresholdModes {
		settings = append(settings, fmt.Sprintf("**%s**: %s", m.label, m.setting))
	}
	lengths := make([]string, len(o.Lengths))
	for i, l := range o.Lengths {
		lengths[i] = duration(l)
	}
	s := &report.Section{
		Title: "12. Where short videos stop being cut",
		Intro: fmt.Sprintf("Issue 13: *short videos take whichever path is faster*. Short 1080p30 H.264 (x264 veryfast) + AAC sources (testsrc2 + sine) of %s, "+
			"on **one transcode process** with the default settings (chunk_seconds, first_chunk_seconds, gop_seconds, preset, ladder, threads: see docs/configuration.md) "+
			"except: %s. The real upload-api and transcode binaries on kfake + MinIO + PostgreSQL; thumbnail and indexer are not started. "+
			"Time = from the upload's **202** to the video.transcoded record, and to playable (the video.playable record; the single pass publishes none, "+
			"so its playable time is its video.transcoded), arrival times at an observer consumer on every topic. "+
			"One upload at a time on an idle pipeline (%s pause after each video.transcoded); each configuration gets a fresh stack per round "+
			"and a 2 s 320×240 warm-up clip through to video.transcoded first; %d rounds, the configurations in a rotating order and the lengths too, "+
			"so that a slow spell of the machine does not land on one configuration only. Medians of %d runs.",
			strings.Join(lengths, ", "), strings.Join(settings, "; "), o.Settle, o.Runs, o.Runs),
	}
	return run(s, func() error { return threshold(ctx, env, o, s) })
}

func threshold(ctx context.Context, env Env, o ThresholdOptions, s *report.Section) error {
	clips := map[int]string{}
	for _, l := range o.Lengths {
		p, err := cachedClip(ctx, env, clipSpec{Width: 1920, Height: 1080, Seconds: l})
		if err != nil {
			return err
		}
		clips[l] = p
	}
	warm, err := cachedClip(ctx, env, warmupClip)
	if err != nil {
		return err
	}
	// runs[mode][length]
	runs := make([]map[int][]thresholdRun, len(thresholdModes))
	for i := range runs {
		runs[i] = map[int][]thresholdRun{}
	}
	for r := range o.Runs {
		for j := range thresholdModes {
			mi := (r + j) % len(thresholdModes)
			order := slices.Clone(o.Lengths)
			rot := r % len(order)
			order = append(order[rot:], order[:rot]...)
			got, err := thresholdRound(ctx, env, o, thresholdModes[mi], fmt.Sprintf("threshold-r%d-%c", r+1, 'a'+mi), warm, clips, order)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", thresholdModes[mi].label, r+1, err)
			}
			for l, tr := range got {
				runs[mi][l] = append(runs[mi][l], tr)
			}
		}
	}
	thresholdReport(o, s, runs)
	return nil
}

// thresholdRound starts a stack with one transcode process in mode m,
// sends the warm-up clip through, then uploads each length once, in
// order, one at a time.
func thresholdRound(ctx context.Context, env Env, o ThresholdOptions, m thresholdMode, name, warm string, clips map[int]string, order []int) (map[int]thresholdRun, error) {
	s, err := startModeStack(ctx, env, name, m)
	if err != nil {
		return nil, err
	}
	defer s.stop(true)
	wid, _, err := s.upload(ctx, warm, "Warm-up")
	if err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	if _, err := s.waitTopic(ctx, wid, contract.TopicTranscoded, 2*time.Minute); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	if err := sleepCtx(ctx, o.Settle); err != nil {
		return nil, err
	}
	out := map[int]thresholdRun{}
	for _, l := range order {
		env.Log.Info("short videos: cut or not", "config", m.label, "round", name, "source", duration(l))
		r, err := thresholdOnce(ctx, s, clips[l], l)
		if err != nil {
			return nil, fmt.Errorf("%s source: %w", duration(l), err)
		}
		if !m.check(r.chunks) {
			return nil, fmt.Errorf("%s source: the plan has %d video chunk(s), not what %s makes: is the setting applied?", duration(l), r.chunks, m.setting)
		}
		out[l] = r
		if err := sleepCtx(ctx, o.Settle); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// startModeStack is startSegStack with one transcode process in mode m,
// waiting for the groups that mode's process joins (the single pass joins
// the stage's group only).
func startModeStack(ctx context.Context, env Env, name string, m thresholdMode) (s *segStack, err error) {
	st, err := StartStack(ctx, env, name)
	if err != nil {
		return nil, err
	}
	s = &segStack{env: env, name: name, st: st, transcodeEnv: m.env}
	defer func() {
		if err != nil {
			s.stop(true)
			s = nil
		}
	}()
	if s.obs, err = kload.NewObserver(st.Brokers, contract.AllTopics()...); err != nil {
		return s, err
	}
	if s.api, err = st.StartService(ctx, env, devstack.UploadAPI, name+"-upload-api"); err != nil {
		return s, err
	}
	s.client = newAPIClient(s.api.URL(""))
	sv, err := s.startTranscoder(ctx)
	if err != nil {
		return s, err
	}
	s.transcoders = append(s.transcoders, sv)
	for _, g := range m.groups {
		if err := kload.WaitGroupStable(ctx, st.Brokers, g, 1, 6, 90*time.Second); err != nil {
			return s, err
		}
	}
	return s, nil
}

// thresholdOnce uploads one source and waits for its video.transcoded.
func thresholdOnce(ctx context.Context, s *segStack, clip string, secs int) (thresholdRun, error) {
	r := thresholdRun{}
	id, t0, err := s.upload(ctx, clip, fmt.Sprintf("Short %d s", secs))
	if err != nil {
		return r, err
	}
	done, err := s.waitTopic(ctx, id, contract.TopicTranscoded, 3*time.Minute)
	if err != nil {
		return r, err
	}
	r.transcoded = done.At.Sub(t0).Seconds()
	r.playable = r.transcoded
	if p, ok := s.obs.First(contract.TopicPlayable, id); ok {
		r.playable = p.At.Sub(t0).Seconds()
	}
	finished := 0
	for _, d := range s.chunksDone(id) {
		r.chunks = d.Chunks
		if d.Kind == contract.ChunkVideo && d.Complete {
			finished++
			if d.Index == 0 && r.chunk0 == 0 {
				r.chunk0 = finished
			}
		}
	}
	if log, err := os.ReadFile(s.transcoders[0].LogPath()); err == nil {
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, "attempt failed") && strings.Contains(line, id) {
				r.retries++
			}
		}
	}
	return r, nil
}

// thresholdReport adds the tables, the INFO figure and the notes.
func thresholdReport(o ThresholdOptions, s *report.Section, runs []map[int][]thresholdRun) {
	secs := func(x float64) string { return num(x, "%.2f s") }
	med := func(rs []thresholdRun, f func(thresholdRun) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		return stats.Median(xs)
	}
	all := func(rs []thresholdRun, f func(thresholdRun) float64) string {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		return list(xs, f2)
	}
	tr := func(r thresholdRun) float64 { return r.transcoded }
	pl := func(r thresholdRun) float64 { return r.playable }
	const a, b, c = 0, 1, 2

	sum := report.Table{
		Caption: fmt.Sprintf("202 → video.transcoded and 202 → playable, one transcode process (medians of %d runs)", o.Runs),
		Header: []string{"source", "(a) chunks", "(a) cut → transcoded", "(b) one item → transcoded", "(c) single pass → transcoded",
			"**(b) ÷ (a)**", "(c) ÷ (a)", "(a) → playable", "(b) → playable", "(c) → playable"},
	}
	detail := report.Table{
		Caption: "Every run (seconds from the 202, in round order)",
		Header:  []string{"source", "configuration", "→ video.transcoded", "→ playable", "video chunks", "chunk 0 finished as", "failed attempts"},
	}
	ratio := map[int]float64{}
	var ratios, later []string
	late := 0 // cut runs whose chunk 0 was not the first video chunk done
	for _, l := range o.Lengths {
		ta, tb, tc := med(runs[a][l], tr), med(runs[b][l], tr), med(runs[c][l], tr)
		ratio[l] = stats.Ratio(tb, ta)
		ratios = append(ratios, fmt.Sprintf("%s %s×", duration(l), f2(ratio[l])))
		later = append(later, fmt.Sprintf("%s %+.2f s", duration(l), med(runs[b][l], pl)-med(runs[a][l], pl)))
		chunks := "n/a"
		if rs := runs[a][l]; len(rs) > 0 {
			chunks = fmt.Sprint(rs[0].chunks)
		}
		sum.AddRow(duration(l), chunks, secs(ta), secs(tb), secs(tc), f2(ratio[l])+"×", f2(stats.Ratio(tc, ta))+"×",
			secs(med(runs[a][l], pl)), secs(med(runs[b][l], pl)), secs(med(runs[c][l], pl)))
		for mi, m := range thresholdModes {
			rs := runs[mi][l]
			ch, first, retries := make([]string, len(rs)), make([]string, len(rs)), make([]string, len(rs))
			for i, r := range rs {
				ch[i], first[i], retries[i] = fmt.Sprint(r.chunks), "—", fmt.Sprint(r.retries)
				if r.chunks > 1 {
					first[i] = fmt.Sprintf("%d of %d", r.chunk0, r.chunks)
					if r.chunk0 > 1 {
						late++
					}
				}
			}
			detail.AddRow(duration(l), m.label, all(rs, tr), all(rs, pl), strings.Join(slices.Compact(ch), ", "), strings.Join(first, ", "), strings.Join(retries, ", "))
		}
	}
	s.Tables = append(s.Tables, sum, detail)

	at, next, cross := thresholdOf(o.Lengths, ratio)
	value, rec := float64(at), ""
	switch {
	case at == 0:
		rec = fmt.Sprintf("cutting was faster already at %s: keep transcode.chunk_min_duration at 0s", duration(o.Lengths[0]))
	case next == 0:
		rec = fmt.Sprintf("one work item was at least as fast up to the longest length measured (%s): chunk_min_duration belongs at %ds or above (measure longer sources to place it)", duration(at), at)
	default:
		rec = fmt.Sprintf("one work item was at least as fast up to %s, cutting faster at %s", duration(at), duration(next))
		if !math.IsNaN(cross) {
			rec += fmt.Sprintf(" (break-even ≈ %.0f s by linear interpolation of the difference)", cross)
		}
		rec += fmt.Sprintf(": transcode.chunk_min_duration = %ds for one process", at)
	}
	s.Checks = append(s.Checks, report.Check{
		Name: "longest source for which one work item is at least as fast as cutting (one process, 202 → video.transcoded)", Value: value, Format: "%.0f s",
		Detail: "(b) ÷ (a) medians: " + strings.Join(ratios, ", "), Info: true,
	})
	if late > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("**Chunk order:** in %d cut run(s) video chunk 0 was not the first video chunk to finish (column *chunk 0 finished as*), "+
			"so the video became playable only when that chunk was done, as late as when the whole video was: the planner puts consecutive chunks on "+
			"consecutive partitions, and a group member reads each of its partitions in a goroutine of its own feeding one processing loop, so which "+
			"item a single process takes first is a race between its partition readers, not the chunk order.", late))
	}
	s.Notes = append(s.Notes,
		"**Recommendation (INFO, not a pass/fail target):** "+rec+". "+
			"What the figure means: on one process the chunks of a video run one after the other, so cutting only adds cost (one ffmpeg start and a decode from "+
			"the keyframe before each chunk, one chunks-done record and fan-in pass each, the MP4 assembly from more segments); below the figure that cost "+
			"outweighs what cutting gains (the audio and the first chunk in flight together, a playlist growing while the rest encodes). "+
			"It is also the break-even of a **busy group** of several processes (every process has work anyway, so cutting spreads nothing and costs the same). "+
			"On an **idle group of several processes** cutting also spreads one video's chunks over them (scenario 9), so there a cut video finishes sooner "+
			"and the break-even is lower: the figure is an upper bound for chunk_min_duration, not a length below which cutting never pays.",
		"**Playable:** with one work item the first segment is only playable when the whole video is encoded (the one chunk is chunk 0), while a cut video is playable "+
			"after its first 1 s chunk: the *→ playable* columns show what a higher chunk_min_duration costs in time to playable for those lengths "+
			"(medians, one work item − cut: "+strings.Join(later, ", ")+"). "+
			"(c) is the single pass for reference (one ffmpeg for video and audio, no fan-in; no video.playable, so its playable time is its video.transcoded).")
}

// thresholdOf returns the longest length at (0 if none) such that one work
// item was at least as fast as cutting at every length up to it (ratio ≤
// 1), the next length measured (0 if at is the last), and an estimate of
// the break-even between the two by linear interpolation of ratio − 1
// (NaN when there is no next length).
func thresholdOf(lengths []int, ratio map[int]float64) (at, next int, cross float64) {
	ls := slices.Clone(lengths)
	slices.Sort(ls)
	cross = math.NaN()
	for i, l := range ls {
		if !(ratio[l] <= 1) {
			next = l
			if i > 0 {
				p := ls[i-1]
				d0, d1 := ratio[p]-1, ratio[l]-1
				if d1 != d0 {
					cross = float64(p) + float64(l-p)*(-d0)/(d1-d0)
				}
			}
			return at, next, cross
		}
		at = l
	}
	return at, 0, cross
}

package e2e_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/backoff"
)

// Fault kinds injected by the chaos driver, in the order of one round.
const (
	faultKill9    = "kill -9 worker"
	faultKill9TC  = "kill -9 transcode mid-chunk/fan-in"
	faultBroker   = "broker stop/start"
	faultMinIO    = "MinIO stop/start"
	faultPostgres = "PostgreSQL restart"
	faultAPIKill  = "kill -9 upload-api"
	faultSIGTERM  = "SIGTERM transcode"
)

// chaosFaults is one round of the driver. The worker faults come first,
// while the uploads keep the workers busy.
var chaosFaults = []string{faultKill9, faultKill9TC, faultSIGTERM, faultBroker, faultMinIO, faultPostgres, faultAPIKill}

// The consumers of a transcode process whose work the segment faults
// target (their vidpipe_stage_in_flight label consumer): video chunk
// encoding and the fan-in.
const (
	consumerChunks   = "chunks"
	consumerAssemble = "assemble"
)

// segmentFault is a fault aimed at the segment pipeline (kill -9 of a
// transcode process mid-chunk or mid-fan-in, a broker restart while chunks
// are encoded): when it began and which transcode consumer had work in
// flight then ("" if none did within inFlightWait). Whether a video's
// fan-in was under way is decided afterwards from the records
// (fanInDuring).
type segmentFault struct {
	kind     string
	at       time.Time
	consumer string
}

// chaosMinMidAttempt is the share of the worker faults (kill -9 and
// SIGTERM) that must hit a worker with an attempt in flight: a fault at
// an idle worker tests a restart, not a crash mid-attempt.
const chaosMinMidAttempt = 0.75

// Driver timing. Every wait is bounded.
const (
	// faultPause separates two faults so the pipeline makes progress.
	faultPause = 2 * time.Second
	// brokerDown is how long the broker stays stopped.
	brokerDown = 3 * time.Second
	// postgresDown is how long PostgreSQL stays stopped during a restart.
	postgresDown = 2 * time.Second
	// minioDown is how long MinIO stays stopped after it exited: many
	// backoff steps (stage.backoff_initial is 200ms), well within the
	// retry budget.
	minioDown = 25 * chaosBackoffInitial
	// inFlightWait bounds the wait for a worker in the middle of an attempt.
	inFlightWait = 20 * time.Second
	// feedAfter is how long the driver waits for a busy worker before it
	// uploads feedVideos clips itself.
	feedAfter  = 8 * time.Second
	feedVideos = 2
)

// chaosDriver injects faults into a running stack, one at a time.
type chaosDriver struct {
	t     *testing.T
	s     *chaosStack
	rng   *rand.Rand
	media chaosMedia
	// counts holds the faults injected, by kind.
	counts map[string]int
	// workerFaults counts the worker faults (kill -9, SIGTERM);
	// workerMidAttempt those that hit a worker with an attempt in flight
	// (its vidpipe_stage_in_flight was > 0 at the scrape right before the
	// signal); otherMidAttempt the broker, MinIO and PostgreSQL faults that
	// began while a worker was busy.
	workerFaults, workerMidAttempt, otherMidAttempt int
	// segment lists the faults aimed at the segment pipeline.
	segment []segmentFault
	// pending lists the faults not injected because the time budget ran
	// out.
	pending []string
	// inputs are the uploads the driver started (API-kill faults, and
	// feeds: fed counts these); up their clients' refusals and errors;
	// apiKill what the API-kill faults did.
	inputs  []*chaosInput
	fed     int
	up      *uploadResult
	apiKill apiKillStats
}

func newChaosDriver(t *testing.T, s *chaosStack, rng *rand.Rand, media chaosMedia) *chaosDriver {
	return &chaosDriver{t: t, s: s, rng: rng, media: media, counts: map[string]int{}, up: newUploadResult()}
}

// run injects rounds rounds of chaosFaults. When ctx is done (the time
// budget ran out) it stops between two faults and records the faults left
// in d.pending.
func (d *chaosDriver) run(ctx context.Context, rounds int) {
	for r := 1; r <= rounds; r++ {
		for i, f := range chaosFaults {
			if !backoff.Sleep(ctx, faultPause) {
				for rr := r; rr <= rounds; rr++ {
					rest := chaosFaults
					if rr == r {
						rest = chaosFaults[i:]
					}
					for _, p := range rest {
						d.pending = append(d.pending, fmt.Sprintf("round %d %s", rr, p))
					}
				}
				d.note("time budget ran out: %d fault(s) not injected", len(d.pending))
				return
			}
			start := time.Now()
			switch f {
			case faultKill9:
				d.kill9(ctx)
			case faultKill9TC:
				d.kill9Transcode(ctx, r)
			case faultBroker:
				d.restartBroker(ctx)
			case faultMinIO:
				d.restartMinIO(ctx)
			case faultPostgres:
				d.restartPostgres(ctx)
			case faultAPIKill:
				d.killAPI(ctx, r)
			case faultSIGTERM:
				d.sigtermTranscode(ctx)
			}
			d.counts[f]++
			d.note("round %d: %s done in %v", r, f, time.Since(start).Round(time.Millisecond))
		}
	}
}

// note logs what the driver did, with the wall-clock time (to match the
// service logs).
func (d *chaosDriver) note(format string, args ...any) {
	d.t.Log("chaos: " + time.Now().Format("15:04:05.000") + " " + fmt.Sprintf(format, args...))
}

// waitInFlight waits (up to inFlightWait) until one of procs is in the
// middle of an attempt and returns it; nil if none got busy in time. Each
// pass scrapes the processes in a random order and returns the first busy
// one at once, so the scrape that saw its attempt in flight is the last
// thing before the caller's fault. When none is busy after feedAfter (the
// uploads are over, or between two bursts), it uploads feedVideos good
// clips to give the pipeline work (they are verified like every upload).
func (d *chaosDriver) waitInFlight(ctx context.Context, procs []*chaosProc) *chaosProc {
	return d.waitConsumer(ctx, procs, "", inFlightWait)
}

// waitConsumer is waitInFlight for one consumer of the processes
// (consumerChunks, consumerAssemble; "" = any), waiting up to limit.
func (d *chaosDriver) waitConsumer(ctx context.Context, procs []*chaosProc, consumer string, limit time.Duration) *chaosProc {
	start := time.Now()
	order := slices.Clone(procs)
	fed := false
	for time.Since(start) < limit {
		d.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, p := range order {
			if f, err := p.scrape(ctx); err == nil && f.busy(consumer) {
				return p
			}
		}
		if !fed && time.Since(start) > feedAfter {
			fed = true
			d.feed(ctx)
		}
		if !backoff.Sleep(ctx, 50*time.Millisecond) {
			return nil
		}
	}
	return nil
}

// feed uploads feedVideos good clips (multipart) for waitInFlight.
func (d *chaosDriver) feed(ctx context.Context) {
	client := &http.Client{Timeout: 2 * time.Minute}
	for range feedVideos {
		d.fed++
		in := &chaosInput{kind: kindGood, file: d.media.good, title: fmt.Sprintf("Chaos feed %03d", d.fed)}
		d.inputs = append(d.inputs, in)
		d.s.uploadUntilAccepted(ctx, client, in, d.up, nil)
	}
}

// checkMidAttempt fails the test when fewer than chaosMinMidAttempt of
// the worker faults hit a worker with an attempt in flight.
func (d *chaosDriver) checkMidAttempt() {
	if d.workerFaults == 0 {
		return
	}
	want := int(math.Ceil(chaosMinMidAttempt * float64(d.workerFaults)))
	if d.workerMidAttempt < want {
		d.t.Errorf("only %d of %d worker faults (kill -9, SIGTERM) hit a worker with an attempt in flight, want at least %d (%.0f%%)",
			d.workerMidAttempt, d.workerFaults, want, chaosMinMidAttempt*100)
	}
}

// kill9 kills a random worker that is in the middle of an attempt with
// SIGKILL (a random idle one if none gets busy), then starts it again.
func (d *chaosDriver) kill9(ctx context.Context) {
	p := d.waitInFlight(ctx, d.s.workers)
	how := d.workerBusy(p)
	if p == nil {
		p = d.s.workers[d.rng.IntN(len(d.s.workers))]
		_, _ = p.scrape(ctx) // the counters right before it dies
	}
	p.signal(d.t, syscall.SIGKILL)
	_ = p.wait(d.t, 10*time.Second)
	d.note("kill -9 %s (%s)", p.name, how)
	d.counts[faultKill9+" ("+p.kind+")"]++
	p.restartAfterExit(d.t)
}

// kill9Transcode kills a transcode worker with SIGKILL while it encodes a
// video chunk, or, in even rounds, while it assembles (the fan-in: growing
// playlists, video.playable, the MP4s; short, so it falls back to a chunk
// after half of inFlightWait), then starts it again.
func (d *chaosDriver) kill9Transcode(ctx context.Context, round int) {
	transcoders := d.workersOf("transcode")
	consumer := consumerChunks
	var p *chaosProc
	if round%2 == 0 {
		consumer = consumerAssemble
		p = d.waitConsumer(ctx, transcoders, consumerAssemble, inFlightWait/2)
	}
	if p == nil {
		consumer = consumerChunks
		p = d.waitConsumer(ctx, transcoders, consumerChunks, inFlightWait)
	}
	how := d.workerBusy(p)
	at := time.Now()
	if p == nil {
		consumer = ""
		p = transcoders[d.rng.IntN(len(transcoders))]
		_, _ = p.scrape(ctx)
	}
	p.signal(d.t, syscall.SIGKILL)
	d.segment = append(d.segment, segmentFault{kind: faultKill9TC, at: at, consumer: consumer})
	_ = p.wait(d.t, 10*time.Second)
	d.note("kill -9 %s (%s, %s in flight)", p.name, how, orNone(consumer))
	p.restartAfterExit(d.t)
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

// sigtermTranscode sends SIGTERM to a transcode worker during a transcode
// (graceful path: it finishes or abandons the attempt within the grace,
// commits, leaves the group and exits 0), then starts it again.
func (d *chaosDriver) sigtermTranscode(ctx context.Context) {
	transcoders := d.workersOf("transcode")
	p := d.waitInFlight(ctx, transcoders)
	how := d.workerBusy(p)
	if p == nil {
		p = transcoders[d.rng.IntN(len(transcoders))]
		_, _ = p.scrape(ctx)
	}
	p.signal(d.t, syscall.SIGTERM)
	// The metrics endpoint answers until the runtime has stopped: keep
	// scraping so the counters of the attempt that finishes count.
	done, _ := p.running()
	deadline := time.After(chaosShutdownGrace + 15*time.Second)
wait:
	for {
		select {
		case <-done:
			break wait
		case <-deadline:
			d.t.Errorf("%s did not exit within %v of SIGTERM", p.name, chaosShutdownGrace+15*time.Second)
			break wait
		case <-time.After(100 * time.Millisecond):
			_, _ = p.scrape(ctx)
		}
	}
	err := p.wait(d.t, 15*time.Second)
	if err != nil {
		d.t.Errorf("%s: graceful shutdown on SIGTERM exited with %v, want status 0", p.name, err)
	}
	d.note("SIGTERM %s (%s): exited %v", p.name, how, exitText(err))
	p.restartAfterExit(d.t)
}

func exitText(err error) string {
	if err == nil {
		return "0"
	}
	return err.Error()
}

// workerBusy describes whether a worker fault hits a worker in the middle
// of an attempt (p, from waitInFlight) and counts it.
func (d *chaosDriver) workerBusy(p *chaosProc) string {
	d.workerFaults++
	if p == nil {
		return "idle: no attempt in flight within " + inFlightWait.String()
	}
	d.workerMidAttempt++
	return "mid-attempt"
}

// busy describes which worker was in the middle of an attempt when a
// broker, MinIO or PostgreSQL fault began, and counts the hits.
func (d *chaosDriver) busy(p *chaosProc) string {
	if p == nil {
		return "no attempt in flight within " + inFlightWait.String()
	}
	d.otherMidAttempt++
	return p.name + " mid-attempt"
}

// workersOf returns the workers of the given kinds.
func (d *chaosDriver) workersOf(kinds ...string) []*chaosProc {
	var out []*chaosProc
	for _, p := range d.s.workers {
		for _, k := range kinds {
			if p.kind == k {
				out = append(out, p)
			}
		}
	}
	return out
}

// restartBroker stops the broker, once a transcode worker is encoding a
// video chunk (its completion must ride out the outage; any busy worker if
// none gets to one in time), and starts it again on the same port and data
// directory after brokerDown.
func (d *chaosDriver) restartBroker(ctx context.Context) {
	consumer := consumerChunks
	p := d.waitConsumer(ctx, d.workersOf("transcode"), consumerChunks, inFlightWait)
	if p == nil {
		consumer = ""
		p = d.waitInFlight(ctx, d.s.workers)
	}
	d.segment = append(d.segment, segmentFault{kind: faultBroker, at: time.Now(), consumer: consumer})
	d.s.k.Stop(d.t)
	time.Sleep(brokerDown)
	d.s.k.Restart(d.t)
	d.note("broker stopped for %v (%s, transcode %s in flight) and started again on the same data", brokerDown, d.busy(p), orNone(consumer))
}

// restartMinIO stops MinIO (SIGTERM), once a transcode or thumbnail
// worker is in the middle of an attempt, for minioDown after it exited,
// and starts it again on the same port and data.
func (d *chaosDriver) restartMinIO(ctx context.Context) {
	p := d.waitInFlight(ctx, d.workersOf("transcode", "thumbnail"))
	start := time.Now()
	d.s.minio.Stop(d.t)
	time.Sleep(minioDown)
	d.s.minio.Start(d.t)
	d.note("MinIO down %v (%s), started again", time.Since(start).Round(time.Millisecond), d.busy(p))
}

// restartPostgres stops PostgreSQL (fast shutdown: sessions are cut) for
// postgresDown, once the thumbnail worker or the indexer is busy (an
// indexer attempt is short: a busy thumbnail worker means work for the
// indexer is on its way), and starts it again on the same port and data.
func (d *chaosDriver) restartPostgres(ctx context.Context) {
	p := d.waitInFlight(ctx, d.workersOf("thumbnail", "indexer"))
	start := time.Now()
	d.s.pg.Stop(d.t)
	time.Sleep(postgresDown)
	d.s.pg.Start(d.t)
	d.note("PostgreSQL down %v (%s), started again", time.Since(start).Round(time.Millisecond), d.busy(p))
}

// faultSummary returns the fault counts as "kind: n" lines in round order
// (with the kill -9 targets by kind), then how many began mid-attempt.
func (d *chaosDriver) faultSummary() []string {
	var out []string
	for _, f := range chaosFaults {
		out = append(out, fmt.Sprintf("%s: %d", f, d.counts[f]))
		if f == faultKill9 {
			for _, name := range contract.DefaultPipeline().StageNames() {
				kind := string(name)
				if n := d.counts[f+" ("+kind+")"]; n > 0 {
					out = append(out, fmt.Sprintf("  %s: %d", kind, n))
				}
			}
		}
	}
	other := 0
	for _, f := range []string{faultBroker, faultMinIO, faultPostgres} {
		other += d.counts[f]
	}
	out = append(out,
		fmt.Sprintf("worker faults mid-attempt: %d of %d (must be ≥ %.0f%%)", d.workerMidAttempt, d.workerFaults, chaosMinMidAttempt*100),
		fmt.Sprintf("broker/MinIO/PostgreSQL faults while a worker was busy: %d of %d", d.otherMidAttempt, other),
		fmt.Sprintf("clips uploaded by the driver for idle workers: %d", d.fed))
	if len(d.pending) > 0 {
		out = append(out, fmt.Sprintf("NOT injected (time budget ran out): %d", len(d.pending)))
	}
	return out
}

// fanInSpan is when a video's fan-in was under way: from its first
// video.transcode.chunks-done record to its first video.transcoded (zero:
// none), by the records' timestamps.
type fanInSpan struct {
	first, transcoded time.Time
}

// fanInsDuring counts the videos whose fan-in was under way at t.
func fanInsDuring(spans map[string]fanInSpan, t time.Time) int {
	n := 0
	for _, s := range spans {
		if s.first.Before(t) && (s.transcoded.IsZero() || s.transcoded.After(t)) {
			n++
		}
	}
	return n
}

// segmentSummary describes the faults aimed at the segment pipeline: what
// they hit, and how many landed while a video's fan-in was under way.
func (d *chaosDriver) segmentSummary(spans map[string]fanInSpan) []string {
	var out []string
	for _, kind := range []string{faultKill9TC, faultBroker} {
		var total, chunks, assemble, fanIn int
		for _, f := range d.segment {
			if f.kind != kind {
				continue
			}
			total++
			switch f.consumer {
			case consumerChunks:
				chunks++
			case consumerAssemble:
				assemble++
			}
			if fanInsDuring(spans, f.at) > 0 {
				fanIn++
			}
		}
		out = append(out, fmt.Sprintf("%s: %d; with a chunk in flight %d, the fan-in in flight %d; while a video's fan-in was under way %d",
			kind, total, chunks, assemble, fanIn))
	}
	return out
}

// checkSegmentFaults fails the test when fewer than chaosMinMidAttempt of
// the segment faults hit a chunk or a fan-in in flight, or when none
// landed while a video's fan-in was under way.
func (d *chaosDriver) checkSegmentFaults(spans map[string]fanInSpan) {
	if len(d.segment) == 0 {
		return
	}
	hit, fanIn := 0, 0
	for _, f := range d.segment {
		if f.consumer != "" {
			hit++
		}
		if fanInsDuring(spans, f.at) > 0 {
			fanIn++
		}
	}
	if want := int(math.Ceil(chaosMinMidAttempt * float64(len(d.segment)))); hit < want {
		d.t.Errorf("only %d of %d segment faults (kill -9 of transcode, broker restart) hit a chunk or a fan-in in flight, want at least %d",
			hit, len(d.segment), want)
	}
	if fanIn == 0 {
		d.t.Errorf("none of the %d segment faults landed while a video's fan-in was under way", len(d.segment))
	}
}

package e2e_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// chaosConfig sizes the chaos test; see chaosConfigFromEnv.
type chaosConfig struct {
	videos         int
	rounds         int
	seed           uint64
	uploadInterval time.Duration
	chaosBudget    time.Duration // bounds uploads + fault injection
	quietTimeout   time.Duration // bounds the wait for the pipeline to settle
}

// chaosConfigFromEnv reads the chaos test's size from the environment:
//
//	VIDPIPE_CHAOS_VIDEOS           good videos uploaded (default 20; `make chaos`: 60)
//	VIDPIPE_CHAOS_ROUNDS           rounds of the six faults (default 1; `make chaos`: 3);
//	                               each round's API kill adds 4 good uploads (2 tus, 2 multipart)
//	VIDPIPE_CHAOS_SEED             seed of the random choices (default: random, logged)
//	VIDPIPE_CHAOS_UPLOAD_INTERVAL  pause between two uploads (default: spreads the
//	                               uploads over about 40s per round)
//	VIDPIPE_CHAOS_LOG_DIR          keep the service logs in a new directory under
//	                               this one (default: a test temp dir, removed)
func chaosConfigFromEnv(t *testing.T) chaosConfig {
	t.Helper()
	c := chaosConfig{videos: 20, rounds: 1, seed: rand.Uint64()}
	intEnv := func(key string, dst *int, min int) {
		if v := os.Getenv(key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < min {
				t.Fatalf("%s=%q: want an integer ≥ %d", key, v, min)
			}
			*dst = n
		}
	}
	intEnv("VIDPIPE_CHAOS_VIDEOS", &c.videos, 1)
	intEnv("VIDPIPE_CHAOS_ROUNDS", &c.rounds, 1)
	if v := os.Getenv("VIDPIPE_CHAOS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("VIDPIPE_CHAOS_SEED=%q: want an unsigned integer", v)
		}
		c.seed = n
	}
	uploads := c.videos + 3
	c.uploadInterval = min(max(time.Duration(c.rounds)*40*time.Second/time.Duration(uploads), 200*time.Millisecond), 2*time.Second)
	if v := os.Getenv("VIDPIPE_CHAOS_UPLOAD_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			t.Fatalf("VIDPIPE_CHAOS_UPLOAD_INTERVAL=%q: want a duration", v)
		}
		c.uploadInterval = d
	}
	c.chaosBudget = 2*time.Minute + time.Duration(c.rounds)*(2*time.Minute+45*time.Second) + time.Duration(uploads)*c.uploadInterval
	c.quietTimeout = 2*time.Minute + time.Duration(c.videos+c.rounds*(apiKillTus+apiKillMultipart))*3*time.Second
	return c
}

// TestChaos runs the whole pipeline as real processes, uploads good and
// bad videos through the API while a driver kills, stops and restarts its
// parts (the API too, between storing uploads and announcing them), then
// checks the promise: every accepted upload ends ready or in a DLQ with a
// reason, nothing is lost or stuck, a duplicate output carries the same
// content and the same CloudEvents id (one distinct ce_id per video and
// topic), and the worker faults hit attempts in flight. Running out of its
// time budget (uploads, faults, settling) fails it. It prints a summary
// table.
func TestChaos(t *testing.T) {
	cfg := chaosConfigFromEnv(t)
	rng := rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15))
	t.Logf("chaos: %d good videos, %d round(s) of faults, upload every %v, seed %d (VIDPIPE_CHAOS_SEED to replay the choices)",
		cfg.videos, cfg.rounds, cfg.uploadInterval, cfg.seed)
	sum := &chaosSummary{start: time.Now()}

	s := newChaosStack(t)
	media := makeChaosMedia(t, t.TempDir())
	// Direct publishes happen before the driver starts: the harness's
	// Kafka must not be used while the driver restarts it.
	direct := s.publishDirect(t, media)
	uploads := chaosInputs(cfg.videos, media, rng)
	sum.setup = time.Since(sum.start)

	scrapeCtx, stopScrape := context.WithCancel(context.Background())
	var scrapers sync.WaitGroup
	scrapers.Add(1)
	go func() { defer scrapers.Done(); s.scrapeLoop(scrapeCtx, time.Second) }()
	defer func() { stopScrape(); scrapers.Wait() }()

	chaosStart := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.chaosBudget)
	defer cancel()
	upDone := make(chan *uploadResult, 1)
	go func() { upDone <- s.uploadAll(ctx, uploads, cfg.uploadInterval) }()
	d := newChaosDriver(t, s, rng, media)
	d.run(ctx, cfg.rounds)
	up := <-upDone
	sum.chaos = time.Since(chaosStart)
	if len(d.pending) > 0 {
		t.Errorf("the chaos time budget (%v) ran out before every fault was injected; not injected: %s",
			cfg.chaosBudget, strings.Join(d.pending, ", "))
	}
	up.merge(d.up)
	for _, err := range up.errs {
		t.Errorf("upload: %v", err)
	}
	d.checkMidAttempt()

	var accepted []*chaosInput
	for _, ins := range [][]*chaosInput{uploads, direct, d.inputs} {
		for _, in := range ins {
			if in.id != "" {
				accepted = append(accepted, in)
			}
		}
	}
	quietStart := time.Now()
	pending := s.waitQuiet(t, accepted, cfg.quietTimeout)
	sum.quiet = time.Since(quietStart)
	d.checkAPIReady()
	stopScrape()
	scrapers.Wait()
	for _, p := range s.workers {
		if _, err := p.scrape(context.Background()); err != nil {
			t.Errorf("%s: final /metrics scrape: %v", p.name, err)
		}
	}

	verifyStart := time.Now()
	v := s.verify(t, accepted)
	d.checkSegmentFaults(v.fanIn)
	sum.verify = time.Since(verifyStart)
	if len(pending) > 0 {
		t.Errorf("the pipeline did not settle within its time budget (%v); still pending:\n  %s",
			cfg.quietTimeout, strings.Join(pending, "\n  "))
	}

	sum.fill(s, d, up, append(slices.Clone(uploads), d.inputs...), direct, v)
	table := sum.table(cfg)
	t.Log("\n" + table)
	fmt.Println(table)
	if v.lost != 0 {
		t.Errorf("lost videos: %d, want 0", v.lost)
	}
	if v.differingDuplicates != 0 {
		t.Errorf("duplicate outputs with different content: %d, want 0", v.differingDuplicates)
	}
	if v.logicalDuplicates != 0 {
		t.Errorf("logical duplicates (more than one distinct ce_id for a video on a topic): %d, want 0", v.logicalDuplicates)
	}
}

// waitQuiet waits until every accepted video has a final status (ready or
// failed) and no consumer group lags, or until timeout; it returns what is
// still pending then (nothing: the pipeline settled).
func (s *chaosStack) waitQuiet(t *testing.T, accepted []*chaosInput, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var pending []string
	for {
		pending = pending[:0]
		for _, in := range accepted {
			st, err := s.status(context.Background(), in.id)
			switch {
			case err != nil:
				pending = append(pending, fmt.Sprintf("%s: %v", in.title, err))
			case st.Status != "ready" && st.Status != "failed":
				pending = append(pending, fmt.Sprintf("%s (%s): status %q", in.title, in.id, st.Status))
			}
		}
		if len(pending) == 0 {
			lags := s.lags(t)
			if len(lags) == 0 {
				return nil
			}
			pending = append(pending, lags...)
		}
		if time.Now().After(deadline) {
			return pending
		}
		time.Sleep(time.Second)
	}
}

// lags returns a line for every consumer group that has not committed
// everything: the stages on their input topics, transcode's work groups on
// its work topics, and the status projection (group upload-api) on every
// topic it reads (all but the work items).
func (s *chaosStack) lags(t *testing.T) []string {
	t.Helper()
	var out []string
	groups := [][2]string{
		{contract.GroupTranscodeChunks, contract.TopicTranscodeChunks},
		{contract.GroupTranscodeAudio, contract.TopicTranscodeChunks},
		{contract.GroupTranscodeAssemble, contract.TopicTranscodeChunksDone},
	}
	for _, st := range contract.Stages {
		groups = append(groups, [2]string{st.Group(), st.InputTopic()})
	}
	for _, g := range groups {
		if lag := s.k.Lag(t, g[0], g[1]); lag != 0 {
			out = append(out, fmt.Sprintf("group %s on %s: lag %d", g[0], g[1], lag))
		}
	}
	for _, topic := range contract.AllTopics() {
		if topic == contract.TopicTranscodeChunks || contract.IsLifecycleTopic(topic) {
			continue // the projection counts completions, not work items; lifecycle topics have groups of their own
		}
		if lag := s.k.Lag(t, "upload-api", topic); lag != 0 {
			out = append(out, fmt.Sprintf("group upload-api on %s: lag %d", topic, lag))
		}
	}
	return out
}

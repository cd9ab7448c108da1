package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/dev/launch"
	"github.com/vidpipe/vidpipe/platform/procgroup"
	"github.com/vidpipe/vidpipe/platform/promtext"
)

// chaosStack is the whole pipeline as the chaos test runs it: a persistent
// kfake broker in the test process (so it can be stopped and started again
// on the same data), a private MinIO, a private PostgreSQL, and the service
// binaries as processes — upload-api, two transcode workers, one thumbnail
// worker and one indexer. Service output goes to one log file per process
// slot under logDir (every restart of a slot appends to the same file).
type chaosStack struct {
	k      *harness.Kafka
	minio  *harness.MinIO
	mc     *minio.Client
	bucket string
	pg     *harness.Postgres
	pgURL  string
	// env is the configuration every service gets (VIDPIPE_* variables).
	env    map[string]string
	logDir string

	api    *chaosProc
	apiURL string
	// apiOpsURL is the API's operations listener (/readyz, /metrics).
	apiOpsURL string
	workers   []*chaosProc // transcode-1, transcode-2, thumbnail-1, indexer-1
}

// Chaos-test service settings. The retry budget (attempts × backoff) is
// chosen to outlast every injected outage (a MinIO or PostgreSQL restart
// takes a few seconds): a good video must ride out a fault, not be
// dead-lettered as "exhausted". With 15 attempts, backoff caps from 200ms
// doubling to 5s and full jitter, a record retries for 26s on average
// (51s at most) before it is given up; the longest outage, MinIO's, is
// about 7s.
const (
	chaosPartitions     = 4
	chaosMaxAttempts    = "15"
	chaosBackoffInitial = 200 * time.Millisecond
	chaosBackoffMax     = "5s"
	chaosShutdownGrace  = 20 * time.Second
	// chaosLadder keeps transcoding cheap: two small rungs (see package
	// transcode/ladder: NAME:SHORT_SIDE:VIDEO_BITRATE:AUDIO_BITRATE).
	chaosLadder = "144p:144:150k:48k,240p:240:300k:64k"
	chaosToken  = "dev-alice"
	chaosOwner  = "alice"
	// chaosClipSeconds is the length of the good clip and chaosChunkSeconds
	// transcode.chunk_seconds (a multiple of the 2 s GOP): after the 1 s
	// first chunk, an 8 s clip is cut at 1, 3, 5 and 7 s, five video chunks
	// and the audio item spread over both transcode workers, then
	// assembled, so faults land between and inside chunks and during the
	// fan-in.
	chaosClipSeconds  = 8
	chaosChunkSeconds = 2
	// chaosMinChunks is the fewest video chunks a good video must have been
	// cut into.
	chaosMinChunks = 4
)

// newChaosStack starts the servers and every service, and waits until the
// API is ready and every worker is healthy.
func newChaosStack(t *testing.T) *chaosStack {
	t.Helper()
	dir := t.TempDir()
	k := harness.StartKafkaPersistent(t, filepath.Join(dir, "kafka"))
	k.CreatePipelineTopics(t, chaosPartitions)
	m := harness.StartMinIO(t)
	bucket := harness.MustBucket(t, m)
	pg := harness.StartPostgres(t)
	pgURL := harness.MustDatabase(t, pg)
	s3 := m.S3Config(bucket)
	s := &chaosStack{
		k: k, minio: m, mc: m.Client(t), bucket: bucket, pg: pg, pgURL: pgURL,
		logDir: chaosLogDir(t, dir),
		env: map[string]string{
			"VIDPIPE_KAFKA_BROKERS":         joinBrokers(k.Brokers),
			"VIDPIPE_S3_ENDPOINT":           s3.Endpoint,
			"VIDPIPE_S3_BUCKET":             bucket,
			"VIDPIPE_S3_ACCESS_KEY":         s3.AccessKey,
			"VIDPIPE_S3_SECRET_KEY":         s3.SecretKey,
			"VIDPIPE_POSTGRES_URL":          pgURL,
			"VIDPIPE_STAGE_MAX_ATTEMPTS":    chaosMaxAttempts,
			"VIDPIPE_STAGE_BACKOFF_INITIAL": chaosBackoffInitial.String(),
			"VIDPIPE_STAGE_BACKOFF_MAX":     chaosBackoffMax,
			"VIDPIPE_STAGE_ATTEMPT_TIMEOUT": "2m",
			"VIDPIPE_STAGE_SHUTDOWN_GRACE":  chaosShutdownGrace.String(),
			"VIDPIPE_TRANSCODE_PRESET":      "ultrafast",
			"VIDPIPE_TRANSCODE_LADDER":      chaosLadder,
			"VIDPIPE_TRANSCODE_THREADS":     "1",
			// Every good clip is cut into several chunks (chaosChunkSeconds).
			"VIDPIPE_TRANSCODE_CHUNK_SECONDS":       strconv.Itoa(chaosChunkSeconds),
			"VIDPIPE_TRANSCODE_FIRST_CHUNK_SECONDS": "1",
			"VIDPIPE_THUMBNAIL_THREADS":             "1",
			"VIDPIPE_LOG_LEVEL":                     "info",
		},
	}
	if err := os.MkdirAll(s.logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// On failure, the end of every service log goes to the test log.
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range append([]*chaosProc{s.api}, s.workers...) {
				if p != nil {
					t.Logf("end of %s:\n%s", p.logPath, procgroup.LogTail(p.logPath, 6<<10))
				}
			}
		}
	})

	apiAddr, apiOpsAddr := launch.MustFreeAddr(t), launch.MustFreeAddr(t)
	s.apiURL, s.apiOpsURL = "http://"+apiAddr, "http://"+apiOpsAddr
	s.api = s.newProc(t, "upload-api", "upload-api", apiAddr,
		"VIDPIPE_API_ADDR="+apiAddr,
		"VIDPIPE_API_OPS_ADDR="+apiOpsAddr,
		"VIDPIPE_API_TOKENS="+chaosToken+"="+chaosOwner,
		"VIDPIPE_API_SIGNING_KEY=chaos-signing-key-0123456789abcdef")
	for _, w := range []struct{ name, bin string }{
		{"transcode-1", "transcode"}, {"transcode-2", "transcode"},
		{"thumbnail-1", "thumbnail"}, {"indexer-1", "indexer"},
	} {
		addr := launch.MustFreeAddr(t)
		tmp := t.TempDir()
		p := s.newProc(t, w.name, w.bin, addr, "VIDPIPE_STAGE_HTTP_ADDR="+addr, "TMPDIR="+tmp)
		p.tmpDir = tmp
		s.workers = append(s.workers, p)
	}
	for _, p := range append([]*chaosProc{s.api}, s.workers...) {
		p.start(t)
	}
	for _, p := range s.workers {
		p.waitHealthy(t, 60*time.Second)
	}
	// The API is ready once Kafka, storage and PostgreSQL answer and its
	// status projection joined its group.
	launch.MustWaitHTTP(t, s.apiOpsURL+"/readyz", 90*time.Second)
	return s
}

// chaosLogDir is where the service logs go: $VIDPIPE_CHAOS_LOG_DIR/<time>
// when that is set (kept after the test, for diagnosis), else dir/logs.
func chaosLogDir(t *testing.T, dir string) string {
	t.Helper()
	if root := os.Getenv("VIDPIPE_CHAOS_LOG_DIR"); root != "" {
		d := filepath.Join(root, time.Now().Format("20060102-150405"))
		t.Logf("chaos: service logs kept in %s", d)
		return d
	}
	return filepath.Join(dir, "logs")
}

// worker returns the worker in slot name (e.g. "transcode-2").
func (s *chaosStack) worker(name string) *chaosProc {
	for _, p := range s.workers {
		if p.name == name {
			return p
		}
	}
	return nil
}

// newProc declares a service process slot; start runs it.
func (s *chaosStack) newProc(t *testing.T, name, bin, httpAddr string, extra ...string) *chaosProc {
	t.Helper()
	env := procgroup.EnvWithout("VIDPIPE_") // a developer's shell settings must not leak into the services
	env = append(env, envList(s.env)...)
	env = append(env, extra...)
	p := &chaosProc{
		name: name, bin: mustBinary(t, bin), kind: bin, env: env, httpAddr: httpAddr,
		logPath: filepath.Join(s.logDir, name+".log"),
		last:    map[string]float64{}, total: map[string]float64{},
	}
	t.Cleanup(func() { p.stop(t) })
	return p
}

// chaosProc is one service process slot: the binary, its environment and
// HTTP address stay the same across restarts. It also keeps the slot's
// stage counters (vidpipe_stage_messages_total by outcome) across
// restarts: total holds what earlier instances counted, last what the
// current instance reported at its latest scrape.
type chaosProc struct {
	name, kind, bin string
	env             []string
	httpAddr        string
	logPath         string
	// tmpDir is the worker's TMPDIR (its per-attempt work directories).
	tmpDir string

	mu       sync.Mutex
	proc     *procgroup.Process // the current instance; nil before the first start
	starts   int
	gen      int                // instance generation, bumped when an instance's counters are folded into total
	last     map[string]float64 // outcome → counter of the current instance
	total    map[string]float64 // outcome → counters of the previous instances
	inFlight flight
}

// flight is what a worker has in flight (vidpipe_stage_in_flight) by
// consumer: transcode runs several (plan, chunks, audio, assemble), the
// other workers one without a name ("").
type flight map[string]float64

// total is every consumer's records in flight.
func (f flight) total() float64 {
	n := 0.0
	for _, v := range f {
		n += v
	}
	return n
}

// busy reports whether consumer ("" = any) has a record in flight.
func (f flight) busy(consumer string) bool {
	if consumer == "" {
		return f.total() > 0
	}
	return f[consumer] > 0
}

// start runs a new instance of the process (through procgroup: own
// process group, killed with the test process if it dies), its output
// appended to the slot's log after a line naming the start.
func (p *chaosProc) start(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		if done, _ := p.proc.Exited(); !done {
			t.Fatalf("%s: start while running", p.name)
		}
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("%s: log file: %v", p.name, err)
	}
	p.starts++
	fmt.Fprintf(f, "=== chaos: start #%d of %s at %s ===\n", p.starts, p.name, time.Now().Format(time.RFC3339Nano))
	f.Close()
	proc, err := procgroup.Start(context.Background(), procgroup.Spec{Name: p.name, Path: p.bin, Env: p.env, LogPath: p.logPath})
	if err != nil {
		t.Fatalf("%v", err)
	}
	p.proc = proc
}

// running returns the current instance's done channel and whether it runs.
func (p *chaosProc) running() (<-chan struct{}, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return nil, false
	}
	done, _ := p.proc.Exited()
	return p.proc.Done(), !done
}

// signal sends sig to the process (not its group: a worker's ffmpeg
// children are its own business, as they would be in production).
func (p *chaosProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.proc.Signal(sig); err != nil {
		t.Fatalf("%s: send %v: %v", p.name, sig, err)
	}
}

// wait waits up to timeout for the current instance to exit and returns
// its exit error (nil for status 0).
func (p *chaosProc) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	done, _ := p.running()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %v", p.name, timeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.proc.Wait()
}

// stop ends the process at the test's end: SIGTERM, SIGKILL to its group
// after 30s.
func (p *chaosProc) stop(t *testing.T) {
	p.mu.Lock()
	proc := p.proc
	p.mu.Unlock()
	if proc == nil {
		return
	}
	if err := proc.Stop(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Errorf("%v", err)
	}
}

// waitHealthy polls the worker's /healthz until it answers 200.
func (p *chaosProc) waitHealthy(t *testing.T, timeout time.Duration) {
	t.Helper()
	launch.MustWaitHTTP(t, "http://"+p.httpAddr+"/healthz", timeout)
}

// restartAfterExit folds the exited instance's counters into the slot's
// totals and starts a new instance, waiting for its /healthz.
func (p *chaosProc) restartAfterExit(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	for k, v := range p.last {
		p.total[k] += v
	}
	p.last = map[string]float64{}
	p.inFlight = nil
	p.gen++
	p.mu.Unlock()
	p.start(t)
	p.waitHealthy(t, 60*time.Second)
}

// scrape reads the current instance's /metrics and records its stage
// counters and in-flight gauges. It returns the in-flight gauges by
// consumer, or an error when the instance does not answer.
func (p *chaosProc) scrape(ctx context.Context) (inFlight flight, err error) {
	p.mu.Lock()
	gen := p.gen
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.httpAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	counters, inFlight, err := parseStageMetrics(resp.Body)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen != gen {
		return nil, fmt.Errorf("%s restarted during the scrape", p.name)
	}
	// Counters only grow within an instance; a lower value would mean
	// another instance answered.
	for k, v := range counters {
		if v >= p.last[k] {
			p.last[k] = v
		}
	}
	p.inFlight = inFlight
	return inFlight, nil
}

// counters returns the slot's stage counters: every instance so far.
func (p *chaosProc) counters() map[string]float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]float64{}
	for k, v := range p.total {
		out[k] += v
	}
	for k, v := range p.last {
		out[k] += v
	}
	return out
}

// logCount counts the lines of the slot's log (every instance) that
// contain s.
func (p *chaosProc) logCount(s string) int {
	f, err := os.Open(p.logPath)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			n++
		}
	}
	return n
}

// Keys of the counters parseStageMetrics returns besides the outcomes of
// vidpipe_stage_messages_total (ok, retried, dead_lettered).
const (
	counterPublishRetries = "publish_retries" // vidpipe_stage_publish_retries_total, every kind
	counterCommitErrors   = "commit_errors"   // vidpipe_stage_commit_errors_total
)

// parseStageMetrics reads a Prometheus text exposition (platform/promtext)
// and returns vidpipe_stage_messages_total by outcome (every consumer of
// the process), the publish retries and commit errors
// (counterPublishRetries, counterCommitErrors), and
// vidpipe_stage_in_flight by consumer.
func parseStageMetrics(r io.Reader) (counters map[string]float64, inFlight flight, err error) {
	fams, err := promtext.Parse(r)
	if err != nil {
		return nil, nil, fmt.Errorf("read metrics: %w", err)
	}
	counters = map[string]float64{}
	for _, s := range fams.Series("vidpipe_stage_messages_total") {
		outcome := s.Labels["outcome"]
		if outcome == "" {
			return nil, nil, fmt.Errorf("vidpipe_stage_messages_total sample without outcome: %v", s.Labels)
		}
		counters[outcome] += s.Value
	}
	if _, ok := fams.Value("vidpipe_stage_publish_retries_total"); ok {
		counters[counterPublishRetries] = fams.Sum("vidpipe_stage_publish_retries_total")
	}
	if _, ok := fams.Value("vidpipe_stage_commit_errors_total"); ok {
		counters[counterCommitErrors] = fams.Sum("vidpipe_stage_commit_errors_total")
	}
	inFlight = flight{}
	for _, s := range fams.Series("vidpipe_stage_in_flight") {
		inFlight[s.Labels["consumer"]] += s.Value
	}
	return counters, inFlight, nil
}

// scrapeLoop scrapes every worker every interval until ctx is done, so
// that each instance's counters are known shortly before it dies.
func (s *chaosStack) scrapeLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for _, p := range s.workers {
			_, _ = p.scrape(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func TestChaosParseStageMetrics(t *testing.T) {
	tests := map[string]struct {
		text         string
		wantCounters map[string]float64
		wantInFlight flight
	}{
		"runtime exposition": {
			text: `# HELP vidpipe_stage_messages_total Records by outcome.
# TYPE vidpipe_stage_messages_total counter
vidpipe_stage_messages_total{outcome="dead_lettered",stage="transcode"} 1
vidpipe_stage_messages_total{outcome="ok",stage="transcode"} 12
vidpipe_stage_messages_total{outcome="retried",stage="transcode"} 3
vidpipe_stage_publish_retries_total{kind="dlq",stage="transcode"} 0
vidpipe_stage_publish_retries_total{kind="output",stage="transcode"} 2
vidpipe_stage_commit_errors_total{stage="transcode"} 4
vidpipe_stage_in_flight{stage="transcode"} 1
vidpipe_stage_consumer_lag{group="transcode",partition="0",stage="transcode",topic="video.uploaded"} 7
`,
			wantCounters: map[string]float64{"dead_lettered": 1, "ok": 12, "retried": 3, counterPublishRetries: 2, counterCommitErrors: 4},
			wantInFlight: flight{"": 1},
		},
		"transcode's consumers": {
			text: `vidpipe_stage_messages_total{consumer="plan",outcome="ok",stage="transcode"} 2
vidpipe_stage_messages_total{consumer="chunks",outcome="ok",stage="transcode"} 10
vidpipe_stage_in_flight{consumer="plan",stage="transcode"} 0
vidpipe_stage_in_flight{consumer="chunks",stage="transcode"} 1
vidpipe_stage_in_flight{consumer="assemble",stage="transcode"} 1
`,
			wantCounters: map[string]float64{"ok": 12},
			wantInFlight: flight{"plan": 0, "chunks": 1, "assemble": 1},
		},
		"nothing yet": {
			text:         "# HELP go_goroutines x\ngo_goroutines 9\n",
			wantCounters: map[string]float64{},
			wantInFlight: flight{},
		},
		"exponent and label order": {
			text:         `vidpipe_stage_messages_total{stage="indexer",outcome="ok"} 1.5e+01` + "\n",
			wantCounters: map[string]float64{"ok": 15},
			wantInFlight: flight{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, inFlight, err := parseStageMetrics(strings.NewReader(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.wantCounters) || fmt.Sprint(inFlight) != fmt.Sprint(tc.wantInFlight) {
				t.Errorf("got %v in flight %v, want %v in flight %v", got, inFlight, tc.wantCounters, tc.wantInFlight)
			}
		})
	}
	if _, _, err := parseStageMetrics(strings.NewReader(`vidpipe_stage_messages_total{stage="x"} 1`)); err == nil {
		t.Error("a messages sample without outcome parsed")
	}
}

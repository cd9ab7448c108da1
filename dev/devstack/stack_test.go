package devstack

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/dev/launch"
)

// mustFakeRepo returns a workspace (go.work, go.mod) in which every
// service's ./services/SERVICE/cmd/SERVICE is testdata/fakeservice.
func mustFakeRepo(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "fakeservice", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	files := map[string]string{
		"go.work": "go 1.26.0\n\nuse .\n",
		"go.mod":  "module example.com/fake\n\ngo 1.26.0\n",
	}
	for _, svc := range Services {
		files[filepath.Join("services", svc, "cmd", svc, "main.go")] = string(src)
	}
	for name, body := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// runningStack is a Run in progress.
type runningStack struct {
	out   *syncBuffer
	ready chan Endpoints
	done  chan error
	stop  context.CancelFunc
}

// startRun starts Run with o (Out and Ready set here) and stops it at
// cleanup.
func startRun(t *testing.T, o Options) *runningStack {
	t.Helper()
	r := &runningStack{out: &syncBuffer{}, ready: make(chan Endpoints, 1), done: make(chan error, 1)}
	o.Out = NewOutput(r.out, false)
	o.Ready = func(ep Endpoints) { r.ready <- ep }
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() { r.done <- Run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(time.Minute):
			t.Errorf("Run did not return within 1m of cancel; output:\n%s\ngoroutines:\n%s", r.out, goroutines())
		}
	})
	return r
}

// waitReady waits for Ready, failing with the output if Run ends first.
func (r *runningStack) waitReady(t *testing.T) Endpoints {
	t.Helper()
	select {
	case ep := <-r.ready:
		return ep
	case err := <-r.done:
		r.done <- err // for the cleanup
		t.Fatalf("Run returned %v before it was ready; output:\n%s", err, r.out)
	case <-time.After(2 * time.Minute):
		t.Fatalf("Run not ready within 2m; output:\n%s", r.out)
	}
	return Endpoints{}
}

// shutdown cancels Run and returns its error.
func (r *runningStack) shutdown(t *testing.T) error {
	t.Helper()
	r.stop()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(time.Minute):
		t.Fatalf("Run did not return within 1m of cancel; output:\n%s\ngoroutines:\n%s", r.out, goroutines())
	}
	return nil
}

// mustFreeRange returns the first of n consecutive ports of 127.0.0.1
// that were free a moment ago, below Linux's ephemeral range (32768 and
// up) so that client connections of tests running in parallel do not
// take them.
func mustFreeRange(t *testing.T, n int) int {
	t.Helper()
	return launch.MustFreePortRun(t, n)
}

// goroutines returns the stacks of every goroutine, to show where Run hangs.
func goroutines() string {
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
	return b.String()
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, body)
	}
	return string(body)
}

func TestRunServicesThenResume(t *testing.T) {
	dir := mustStackDir(t)
	ports := mustFreePorts(t, 3)
	apiPort := mustFreeRange(t, 4) // API, two indexers, the API's operations port
	o := Options{
		Dir: dir, KafkaPort: ports[0], S3Port: ports[1], PGPort: ports[2], APIPort: apiPort,
		Partitions: 2,
		Scale:      Scale{UploadAPI: 1, Indexer: 2},
		RepoRoot:   mustFakeRepo(t),
		Backoff:    Backoff{Initial: 50 * time.Millisecond},
	}

	r := startRun(t, o)
	ep := r.waitReady(t)
	if want := "http://127.0.0.1:" + strconv.Itoa(apiPort); ep.APIURL != want {
		t.Errorf("APIURL = %q, want %q", ep.APIURL, want)
	}
	// The API's operations listener follows the workers' ports; the stack
	// waited for its /readyz.
	if want := "http://127.0.0.1:" + strconv.Itoa(apiPort+3); ep.APIOpsURL != want {
		t.Errorf("APIOpsURL = %q, want %q", ep.APIOpsURL, want)
	}
	if got := get(t, ep.APIOpsURL+"/readyz"); got != "ok\n" {
		t.Errorf("upload-api-1 operations /readyz = %q", got)
	}
	waitFor(t, 10*time.Second, "upload-api-1 serving its operations port", func() bool {
		return strings.Contains(r.out.String(), "[upload-api-1] operations on "+hostPort(apiPort+3)+"\n")
	})
	// Every child listens on its own port and got the stack's endpoints.
	for i, name := range []string{"upload-api-1", "indexer-1", "indexer-2"} {
		port := apiPort + i
		// The stack waits for the API's readiness only: a worker may
		// still be starting on a busy machine (fresh-clone CI saw a
		// refused connection to an indexer's port once).
		waitFor(t, 30*time.Second, name+" listening", func() bool {
			resp, err := http.Get("http://" + hostPort(port) + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return true
		})
		if got := get(t, "http://"+hostPort(port)+"/healthz"); got != "ok\n" {
			t.Errorf("%s /healthz = %q", name, got)
		}
		waitFor(t, 10*time.Second, name+"'s config lines", func() bool {
			return strings.Contains(r.out.String(), "["+name+"] config VIDPIPE_KAFKA_CLIENT_ID="+name+"\n")
		})
		out := r.out.String()
		for _, want := range []string{
			"[" + name + "] listening on " + hostPort(port) + " as pid ",
			"[" + name + "] config VIDPIPE_KAFKA_BROKERS=" + hostPort(ports[0]) + "\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
	}
	if out := r.out.String(); !strings.Contains(out, "[indexer-1] config VIDPIPE_POSTGRES_URL=postgres://vidpipe@"+hostPort(ports[2])+"/vidpipe?sslmode=disable\n") {
		t.Errorf("indexer-1 did not get the database URL:\n%s", out)
	}

	// dev.env has the endpoints; the next steps were printed.
	env, err := os.ReadFile(filepath.Join(dir, "dev.env"))
	if err != nil {
		t.Fatal(err)
	}
	if want := DevEnv(ep, filepath.Join(dir, "dev.env")); string(env) != want {
		t.Errorf("dev.env:\n%s\nwant:\n%s", env, want)
	}
	for _, want := range []string{"export VIDPIPE_KAFKA_BROKERS='" + hostPort(ports[0]) + "'", "export VIDPIPE_TOKEN='dev-alice'"} {
		if !strings.Contains(string(env), want) {
			t.Errorf("dev.env lacks %q", want)
		}
	}
	if !strings.Contains(r.out.String(), "  upload:  curl ") {
		t.Errorf("next steps not printed:\n%s", r.out)
	}

	// A second stack on the same directory is refused while this one runs.
	err = Run(context.Background(), Options{Dir: dir, Out: NewOutput(io.Discard, false), Scale: Scale{}})
	if err == nil || !strings.Contains(err.Error(), "another vidpipe-dev is running with "+dir) {
		t.Errorf("second Run on the same directory = %v, want it refused", err)
	}

	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run = %v after cancel, want nil; output:\n%s", err, r.out)
	}
	out := r.out.String()
	for _, want := range []string{
		"created topics video.uploaded, ",
		"[upload-api-1] got SIGTERM, stopping\n",
		"[indexer-2] got SIGTERM, stopping\n",
		"[dev] stopped; data kept in " + dir,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "restarting") {
		t.Errorf("a child was restarted:\n%s", out)
	}
	for _, name := range []string{"kafka", "minio", "postgres"} {
		if st, err := os.Stat(LogPath(dir, name)); err != nil || (name != "kafka" && st.Size() == 0) {
			t.Errorf("log of %s: %v, want a file with the server's output", name, err)
		}
	}

	// Again on the same directory: the topics exist, nothing is created.
	r = startRun(t, o)
	r.waitReady(t)
	if err := r.shutdown(t); err != nil {
		t.Fatalf("second Run = %v, want nil; output:\n%s", err, r.out)
	}
	if out := r.out.String(); strings.Contains(out, "created topics") {
		t.Errorf("second run created topics again:\n%s", out)
	}
}

func TestRunRestartsServiceThatDies(t *testing.T) {
	dir := mustStackDir(t)
	ports := mustFreePorts(t, 3)
	apiPort := mustFreeRange(t, 2)
	o := Options{
		Dir: dir, KafkaPort: ports[0], S3Port: ports[1], PGPort: ports[2], APIPort: apiPort,
		Scale:    Scale{Thumbnail: 1},
		RepoRoot: mustFakeRepo(t),
		Backoff:  Backoff{Initial: 50 * time.Millisecond},
	}
	r := startRun(t, o)
	r.waitReady(t)
	port := apiPort + 1 // the first worker port
	listening := regexp.MustCompile(`\[thumbnail-1\] listening on ` + regexp.QuoteMeta(hostPort(port)) + ` as pid (\d+)\n`)
	var m []string
	waitFor(t, 20*time.Second, "thumbnail-1 listening", func() bool {
		m = listening.FindStringSubmatch(r.out.String())
		return m != nil
	})
	get(t, "http://"+hostPort(port)+"/healthz")
	// Kill the service behind the supervisor's back.
	pid, _ := strconv.Atoi(m[1])
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "thumbnail-1 restarted", func() bool {
		return strings.Contains(r.out.String(), "[dev] thumbnail-1 exited (signal: killed); restarting in 50ms") &&
			len(listening.FindAllString(r.out.String(), -1)) == 2
	})
	get(t, "http://"+hostPort(port)+"/healthz")
	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}

func TestRunRefusesBusyPorts(t *testing.T) {
	ports := mustFreePorts(t, 4)
	tests := map[string]struct {
		busy int // index into ports
		want string
	}{
		"postgres": {2, "is in use on 127.0.0.1 by another program: is another PostgreSQL server running? Stop it or choose another port with --pg-port, e.g. --pg-port " + strconv.Itoa(ports[2]+1)},
		"kafka":    {0, "is in use on 127.0.0.1 by another program: choose another port with --kafka-port"},
		"api":      {3, "is in use on 127.0.0.1 by another program: choose another --api-port"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l, err := net.Listen("tcp", hostPort(ports[tc.busy]))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			dir := t.TempDir()
			err = Run(context.Background(), Options{
				Dir: dir, KafkaPort: ports[0], S3Port: ports[1], PGPort: ports[2], APIPort: ports[3],
				Scale: Scale{UploadAPI: 1}, Out: NewOutput(io.Discard, false),
			})
			if err == nil || !strings.Contains(err.Error(), " port "+strconv.Itoa(ports[tc.busy])+" ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want port %d named with %q", err, ports[tc.busy], tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "logs")); err == nil {
				t.Error("servers were started despite a busy port")
			}
		})
	}
}

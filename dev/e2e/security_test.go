package e2e_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/launch"
	"github.com/vidpipe/vidpipe/platform/stage"
)

// recorder is the test's testing.TB that also keeps what is logged
// through it, so a service's output can be searched.
type recorder struct {
	testing.TB
	mu  sync.Mutex
	out strings.Builder
}

func (r *recorder) Logf(format string, args ...any) {
	r.mu.Lock()
	fmt.Fprintf(&r.out, format+"\n", args...)
	r.mu.Unlock()
	r.TB.Logf(format, args...)
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// listeners returns the TCP addresses process pid listens on: the LISTEN
// entries of /proc/<pid>/net/tcp and tcp6 whose socket inode is one of
// the process's open file descriptors (/proc/<pid>/fd).
func listeners(pid int) ([]netip.AddrPort, error) {
	proc := filepath.Join("/proc", strconv.Itoa(pid))
	fds, err := os.ReadDir(filepath.Join(proc, "fd"))
	if err != nil {
		return nil, err
	}
	own := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(proc, "fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			own[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	var out []netip.AddrPort
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(filepath.Join(proc, "net", table))
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			if len(f) < 10 || f[3] != "0A" || !own[f[9]] {
				continue
			}
			ap, err := parseProcAddr(f[1])
			if err != nil {
				return nil, fmt.Errorf("%s: %q: %w", table, f[1], err)
			}
			out = append(out, ap)
		}
	}
	return out, nil
}

// parseProcAddr parses an address of /proc/net/tcp{,6}: the IP as 32-bit
// words in host (little-endian) byte order, in hex, then ":" and the port
// in hex.
func parseProcAddr(s string) (netip.AddrPort, error) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("no port")
	}
	raw, err := hex.DecodeString(ipHex)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address")
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ip, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}

func TestParseProcAddr(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"ipv4 loopback": {"0100007F:1F90", "127.0.0.1:8080"},
		"ipv4 any":      {"00000000:0050", "0.0.0.0:80"},
		"ipv6 any":      {"00000000000000000000000000000000:1F91", "[::]:8081"},
		"ipv6 loopback": {"00000000000000000000000001000000:0016", "[::1]:22"},
		"ipv4-mapped":   {"0000000000000000FFFF00000100007F:0050", "127.0.0.1:80"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseProcAddr(tc.in)
			if err != nil || got.String() != tc.want {
				t.Fatalf("parseProcAddr(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

// withoutField returns v's JSON with the top-level field removed.
func withoutField(tb testing.TB, v any, field string) []byte {
	tb.Helper()
	return editJSON(tb, v, func(m map[string]any) { delete(m, field) })
}

func editJSON(tb testing.TB, v any, edit func(map[string]any)) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatal(err)
	}
	edit(m)
	if b, err = json.Marshal(m); err != nil {
		tb.Fatal(err)
	}
	return b
}

// sampleChain returns a valid event of each stage's input type for a new
// video id (objects need not exist: bad records never reach a handler).
func sampleChain(bucket string) (contract.VideoUploaded, contract.VideoTranscoded, contract.VideoThumbnailed) {
	id := contract.NewID()
	now := time.Now().UTC()
	up := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: id, Owner: "alice", Title: "hostile",
		Source:     contract.SourceObject{Bucket: bucket, Key: contract.SourceKey(id), Size: 1, ContentType: "video/mp4"},
		UploadedAt: now,
	}}
	tr := up.Transcoded(contract.Media{DurationSeconds: 1, Width: 160, Height: 120},
		[]contract.Rendition{{Name: "120p", Width: 160, Height: 120, Key: contract.RenditionKey(id, "120p"), Size: 1}},
		contract.HLS{MasterKey: contract.HLSMasterKey(id)}, now)
	th := tr.Thumbnailed(contract.Thumbnails{
		Poster: contract.Image{Key: contract.ThumbnailPrefix(id) + "poster.jpg", Width: 160, Height: 120, Size: 1},
		Small:  contract.Image{Key: contract.ThumbnailPrefix(id) + "thumb.jpg", Width: 160, Height: 120, Size: 1},
	}, now)
	return up, tr, th
}

// TestServicesSecurity runs the four service binaries with known secret
// values (S3 secret key, a password in the PostgreSQL URL, API tokens,
// the playlist signing key) and checks that:
//   - each listens only where configured (127.0.0.1), read from /proc;
//   - every stage dead-letters records it cannot take (invalid JSON, a
//     valid envelope with missing fields, an unknown schema version, no
//     key) as permanent with a reason, and a good upload still ends ready;
//   - no secret appears in any log line, /metrics page, record or header,
//     including the error paths of a bad or unreachable database URL.
func TestServicesSecurity(t *testing.T) {
	s := newStack(t)
	const (
		pgPassword = "pg-Pa55-e2e-7d41c9"
		aliceToken = "tok-alice-e2e-9c2b7f"
		bobToken   = "tok-bob-e2e-51aa0e"
		signingKey = "signing-key-e2e-0b6f3a9d2c-7e41aa90"
	)
	pg, err := url.Parse(s.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	pg.User = url.UserPassword(pg.User.Username(), pgPassword) // the test server trusts local connections
	env := map[string]string{}
	for k, v := range s.env {
		env[k] = v
	}
	env["VIDPIPE_POSTGRES_URL"] = pg.String()
	env["VIDPIPE_API_TOKENS"] = aliceToken + "=alice," + bobToken + "=bob"
	env["VIDPIPE_API_SIGNING_KEY"] = signingKey
	env["VIDPIPE_LOG_LEVEL"] = "debug"
	secrets := map[string]string{
		"S3 secret key":       env["VIDPIPE_S3_SECRET_KEY"],
		"PostgreSQL password": pgPassword,
		"API token":           aliceToken,
		"another API token":   bobToken,
		"signing key":         signingKey,
	}
	mustNoSecret := func(t *testing.T, where, text string) {
		t.Helper()
		for name, v := range secrets {
			if strings.Contains(text, v) {
				t.Errorf("the %s appears in %s", name, where)
			}
		}
	}

	// addrs are the listeners with /healthz, /readyz and /metrics: the
	// workers' HTTP listeners and the API's operations listener; apiAddr
	// is the API's own listener (/healthz only of those).
	addrs := map[string]string{}
	apiAddr := launch.MustFreeAddr(t)
	outputs := map[string]*recorder{}
	services := map[string]*service{}
	for _, name := range serviceNames() {
		addrs[name] = launch.MustFreeAddr(t)
		vars := []string{"VIDPIPE_STAGE_HTTP_ADDR=" + addrs[name]}
		if name == "upload-api" {
			vars = []string{"VIDPIPE_API_ADDR=" + apiAddr, "VIDPIPE_API_OPS_ADDR=" + addrs[name]}
		}
		outputs[name] = &recorder{TB: t}
		services[name] = startService(outputs[name], name, mustBinary(t, name),
			append(envList(env), append(vars, "TMPDIR="+t.TempDir())...)...)
	}
	for name, addr := range addrs {
		launch.MustWaitHTTP(t, "http://"+addr+"/healthz", time.Minute)
		if name == "upload-api" {
			launch.MustWaitHTTP(t, "http://"+addr+"/readyz", time.Minute)
			launch.MustWaitHTTP(t, "http://"+apiAddr+"/healthz", time.Minute)
		}
	}
	api := "http://" + apiAddr

	t.Run("readiness and metrics are not on the API listener", func(t *testing.T) {
		for _, path := range []string{"/readyz", "/metrics"} {
			resp, err := http.Get(api + path)
			if err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("API listener %s: %d, want 404 (it is on api.ops_addr)", path, resp.StatusCode)
			}
		}
	})

	t.Run("listeners are where configured", func(t *testing.T) {
		for name, svc := range services {
			wants := []string{addrs[name]}
			if name == "upload-api" {
				wants = append(wants, apiAddr)
			}
			got, err := listeners(svc.proc.PID())
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, ap := range got {
				if !ap.Addr().IsLoopback() {
					t.Errorf("%s listens on %s, not on loopback", name, ap)
				}
			}
			for _, w := range wants {
				if want := netip.MustParseAddrPort(w); !slices.Contains(got, want) {
					t.Errorf("%s does not listen on its configured %s (listens on %v)", name, want, got)
				}
			}
			t.Logf("%s listens on %v", name, got)
		}
	})

	t.Run("bad records are dead-lettered by every stage", func(t *testing.T) {
		type badCase struct {
			key    string // "" for none
			value  []byte
			reason string
		}
		stages := map[contract.Stage]map[string]badCase{}
		var msgs []kafka.Message
		for _, st := range []contract.Stage{contract.StageTranscode, contract.StageThumbnail, contract.StageIndexer} {
			sample := func() (contract.Event, string) {
				up, tr, th := sampleChain(s.bucket)
				switch st {
				case contract.StageTranscode:
					return up, up.VideoID
				case contract.StageThumbnail:
					return tr, tr.VideoID
				}
				return th, th.VideoID
			}
			missingField := map[contract.Stage]string{
				contract.StageTranscode: "owner", contract.StageThumbnail: "renditions", contract.StageIndexer: "thumbnails",
			}[st]
			cases := map[string]badCase{}
			ev, id := sample()
			cases["invalid JSON"] = badCase{id, []byte(`{"schema_version":1,"video_id":"` + id + `",`), "decode"}
			ev, id = sample()
			cases["missing fields"] = badCase{id, withoutField(t, ev, missingField), missingField}
			ev, id = sample()
			cases["unknown schema version"] = badCase{id, editJSON(t, ev, func(m map[string]any) { m["schema_version"] = 2 }), "schema_version"}
			// A forged event naming another video's object (§3): refused
			// before any handler reads or writes it.
			victim := contract.NewID()
			foreignKey := map[contract.Stage]struct {
				field string
				set   func(map[string]any)
			}{
				contract.StageTranscode: {"source.key", func(m map[string]any) { m["source"].(map[string]any)["key"] = contract.SourceKey(victim) }},
				contract.StageThumbnail: {"renditions[0].key", func(m map[string]any) {
					m["renditions"].([]any)[0].(map[string]any)["key"] = contract.RenditionKey(victim, "120p")
				}},
				contract.StageIndexer: {"thumbnails.poster.key", func(m map[string]any) {
					m["thumbnails"].(map[string]any)["poster"].(map[string]any)["key"] = contract.ThumbnailPrefix(victim) + "poster.jpg"
				}},
			}[st]
			ev, id = sample()
			cases["key of another video"] = badCase{id, editJSON(t, ev, foreignKey.set), foreignKey.field}
			ev, _ = sample()
			noKey, err := contract.Encode(ev)
			if err != nil {
				t.Fatal(err)
			}
			cases["no key"] = badCase{"", noKey, "no key"}
			stages[st] = cases
			for _, c := range cases {
				m := kafka.Message{Topic: st.InputTopic(), Value: c.value}
				if c.key != "" {
					m.Key = []byte(c.key)
				}
				msgs = append(msgs, m)
			}
		}
		s.k.Produce(t, msgs...)
		for st, cases := range stages {
			dlq := s.k.ReadAll(t, st.DLQTopic(), len(cases), 2*time.Minute)
			if len(dlq) != len(cases) {
				t.Errorf("%s: %d dead letters, want %d", st.DLQTopic(), len(dlq), len(cases))
			}
			for name, c := range cases {
				var m *kafka.Message
				for i := range dlq {
					if string(dlq[i].Key) == c.key && bytes.Equal(dlq[i].Value, c.value) {
						m = &dlq[i]
					}
				}
				if m == nil {
					t.Errorf("%s: no dead letter for %s", st.DLQTopic(), name)
					continue
				}
				d, ok := contract.ParseDeadLetter(stage.FromKafkaHeaders(m.Headers))
				if !ok || d.Class != contract.ErrorClassPermanent || !strings.Contains(d.Err, c.reason) || d.Code != contract.ErrorCodeInvalidEvent {
					t.Errorf("%s %s: dead letter %+v, want permanent with a reason naming %q", st.DLQTopic(), name, d, c.reason)
				}
			}
		}
	})

	t.Run("a good upload still ends ready", func(t *testing.T) {
		clipPath := clip(t, t.TempDir(), "good.mp4", 160, 120, 1, true)
		data, err := os.ReadFile(clipPath)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "good.mp4")
		_, _ = fw.Write(data)
		_ = mw.Close()
		req, _ := http.NewRequest(http.MethodPost, api+"/v1/videos", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var acc struct{ ID string }
		_ = json.NewDecoder(resp.Body).Decode(&acc)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("upload: %d", resp.StatusCode)
		}
		deadline := time.Now().Add(3 * time.Minute)
		for {
			req, _ := http.NewRequest(http.MethodGet, api+"/v1/videos/"+acc.ID, nil)
			req.Header.Set("Authorization", "Bearer "+aliceToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), `"status":"ready"`) {
				break
			}
			if strings.Contains(string(b), `"status":"failed"`) || time.Now().After(deadline) {
				t.Fatalf("video %s: %d %s", acc.ID, resp.StatusCode, b)
			}
			time.Sleep(200 * time.Millisecond)
		}
		// Add captions, edit, then delete it: the lifecycle topics get a
		// record each (read below like every topic's).
		for _, c := range []struct {
			method, path, contentType, body string
			want                            int
		}{
			{http.MethodPost, "/captions?language=en&label=English", "text/vtt", "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHello\n", http.StatusCreated},
			{http.MethodPatch, "", "application/json", `{"title":"edited"}`, http.StatusOK},
			{http.MethodDelete, "", "application/json", "", http.StatusAccepted},
		} {
			req, _ := http.NewRequest(c.method, api+"/v1/videos/"+acc.ID+c.path, strings.NewReader(c.body))
			req.Header.Set("Authorization", "Bearer "+aliceToken)
			req.Header.Set("Content-Type", c.contentType)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Fatalf("%s /v1/videos/%s%s: %d, want %d", c.method, acc.ID, c.path, resp.StatusCode, c.want)
			}
		}
		// An authenticated request with a wrong token, for the logs.
		req, _ = http.NewRequest(http.MethodGet, api+"/v1/videos/"+acc.ID, nil)
		req.Header.Set("Authorization", "Bearer "+aliceToken+"x")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})

	t.Run("no secret in metrics, records, logs or error paths", func(t *testing.T) {
		for name, addr := range addrs {
			resp, err := http.Get("http://" + addr + "/metrics")
			if err != nil {
				t.Fatalf("%s /metrics: %v", name, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || len(b) == 0 {
				t.Fatalf("%s /metrics: %d", name, resp.StatusCode)
			}
			mustNoSecret(t, name+" /metrics", string(b))
		}
		for _, topic := range contract.AllTopics() {
			if slices.Contains(contract.WebhookTopics(), topic) {
				// The webhooks service is not part of this stack, so nothing
				// writes its topics here (TestWebhooksRealPipeline runs it).
				continue
			}
			for _, m := range s.k.ReadAll(t, topic, 1, time.Minute) {
				mustNoSecret(t, "a record of "+topic, string(m.Value))
				for _, h := range m.Headers {
					mustNoSecret(t, "header "+h.Key+" of a record of "+topic, string(h.Value))
				}
			}
		}

		// Error paths: a database URL that does not parse (the indexer
		// stops), and one that points nowhere (the API waits, retrying).
		bad := *pg
		bad.Host = "127.0.0.1:1"
		badEnv := map[string]string{}
		for k, v := range env {
			badEnv[k] = v
		}
		badEnv["VIDPIPE_POSTGRES_URL"] = "postgres://postgres:" + pgPassword + "@127.0.0.1:notaport/x"
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, mustBinary(t, "indexer"))
		cmd.Env = append(os.Environ(), append(envList(badEnv), "VIDPIPE_STAGE_HTTP_ADDR="+launch.MustFreeAddr(t))...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("indexer with an unparsable database URL exited 0")
		}
		t.Logf("indexer with an unparsable database URL: %s", out)
		mustNoSecret(t, "the indexer's output for an unparsable database URL", string(out))

		badEnv["VIDPIPE_POSTGRES_URL"] = bad.String()
		rec := &recorder{TB: t}
		svc := startService(rec, "upload-api-nodb", mustBinary(t, "upload-api"),
			append(envList(badEnv), "VIDPIPE_API_ADDR="+launch.MustFreeAddr(t), "VIDPIPE_API_OPS_ADDR="+launch.MustFreeAddr(t))...)
		deadline := time.Now().Add(time.Minute)
		for !strings.Contains(rec.String(), "waiting for a dependency") {
			if time.Now().After(deadline) {
				t.Fatal("upload-api with an unreachable database logged no retry within a minute")
			}
			time.Sleep(100 * time.Millisecond)
		}
		svc.stop(t)
		mustNoSecret(t, "the upload-api log with an unreachable database", rec.String())

		// Everything the services printed, once they have stopped. Each
		// logged its configuration at start, with the secrets redacted:
		// the search covers the lines most likely to leak one.
		for name, svc := range services {
			svc.stop(t)
			out := outputs[name].String()
			if !strings.Contains(out, "starting") || !strings.Contains(out, "[REDACTED]") {
				t.Errorf("the %s log has no start line with redacted configuration:\n%s", name, out)
			}
			mustNoSecret(t, "the "+name+" log", out)
		}
	})
}

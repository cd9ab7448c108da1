package e2e_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/devstack"
	"github.com/vidpipe/vidpipe/dev/launch"
)

// TestWebhooksRealPipeline runs the dev stack with the webhooks service,
// registers an endpoint over the API and uploads a real video: the
// endpoint receives every step of it, video.uploaded to video.ready, each
// verified by the Standard Webhooks reference library; bob's endpoint
// receives nothing of alice's video.
func TestWebhooksRealPipeline(t *testing.T) {
	dir, err := os.MkdirTemp("", "vidpipe-webhooks-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // PostgreSQL runs as postgres when root
		t.Fatal(err)
	}
	scale := oneOfEach()
	scale[devstack.Webhooks] = 1
	opts := devstack.Options{
		Dir: filepath.Join(dir, "state"), KafkaPort: launch.MustFreePort(t), S3Port: launch.MustFreePort(t), PGPort: launch.MustFreePort(t),
		APIPort: launch.MustFreePortRun(t, len(serviceNames())+2), Partitions: 3,
		Scale: scale,
		Environ: append(os.Environ(), "VIDPIPE_TRANSCODE_PRESET=ultrafast", "VIDPIPE_STAGE_BACKOFF_INITIAL=100ms",
			"VIDPIPE_WEBHOOKS_POLL_INTERVAL=100ms"),
	}
	run := startDev(t, opts)
	defer run.stop(t)
	alice := api{base: run.ep.APIURL, token: "dev-alice"}
	bob := api{base: run.ep.APIURL, token: "dev-bob"}

	type got struct {
		header http.Header
		body   []byte
		err    error
	}
	var mu sync.Mutex
	var aliceGot, bobGot []got
	var aliceSecret string
	recv := func(into *[]got, secret func() string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			wh, err := standardwebhooks.NewWebhook(secret())
			if err == nil {
				err = wh.Verify(body, r.Header)
			}
			mu.Lock()
			*into = append(*into, got{r.Header.Clone(), body, err})
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}))
	}
	aliceSrv := recv(&aliceGot, func() string { mu.Lock(); defer mu.Unlock(); return aliceSecret })
	defer aliceSrv.Close()
	bobSrv := recv(&bobGot, func() string { return "whsec_AAAA" })
	defer bobSrv.Close()

	register := func(a api, url string) string {
		code, body := a.do(t, "POST", "/v1/webhooks", strings.NewReader(`{"url":"`+url+`","event_types":["*"]}`), "application/json")
		var ep struct{ Secret string }
		if code != http.StatusCreated || json.Unmarshal(body, &ep) != nil || !strings.HasPrefix(ep.Secret, "whsec_") {
			t.Fatalf("register %s: %d %s", url, code, body)
		}
		return ep.Secret
	}
	secret := register(alice, aliceSrv.URL+"/hook")
	mu.Lock()
	aliceSecret = secret
	mu.Unlock()
	register(bob, bobSrv.URL+"/hook")

	id := alice.upload(t, clip(t, dir, "hook.mp4", 640, 360, 2, true), "Webhook clip", "hooks")
	alice.waitStatus(t, id, "ready", 3*time.Minute)
	want := []string{contract.TypeUploaded, contract.TypePlayable, contract.TypeTranscoded, contract.TypeThumbnailed, contract.TypeReady}
	waitFor(t, 2*time.Minute, "every step at alice's endpoint", func() bool {
		mu.Lock()
		defer mu.Unlock()
		seen := map[string]bool{}
		for _, g := range aliceGot {
			var ce struct{ Type, Subject string }
			if json.Unmarshal(g.body, &ce) == nil && ce.Subject == id {
				seen[ce.Type] = true
			}
		}
		for _, w := range want {
			if !seen[w] {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	for _, g := range aliceGot {
		if g.err != nil {
			t.Errorf("delivery %s does not verify: %v", g.header.Get("webhook-id"), g.err)
		}
		if !contract.IsUUID(g.header.Get("webhook-id")) {
			t.Errorf("webhook-id %q is no CloudEvents id of vidpipe", g.header.Get("webhook-id"))
		}
	}
	if len(bobGot) != 0 {
		t.Errorf("bob's endpoint got %d deliveries of alice's video", len(bobGot))
	}
}

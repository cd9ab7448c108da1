package server

import (
	"context"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestHealthReadyMetrics(t *testing.T) {
	e := mustEnv(t, withConsumer())
	// /healthz on both listeners (load balancers check the API's).
	if resp, body := e.do(t, http.MethodGet, "/healthz", "", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.ops(t, http.MethodGet, "/healthz"); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"ok"`) {
		t.Fatalf("ops healthz: %d %s", resp.StatusCode, body)
	}
	// Ready once the projection consumer joined its group (bounded wait).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		resp, body := e.ops(t, http.MethodGet, "/readyz")
		if resp.StatusCode == http.StatusOK {
			if !strings.Contains(string(body), `"projection":"ok"`) || !strings.Contains(string(body), `"kafka":"ok"`) {
				t.Fatalf("readyz body %s", body)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("never ready: %s", body)
		case <-time.After(100 * time.Millisecond):
		}
	}
	// An upload, a 404 and a 401, then /metrics counts them by route.
	resp, body := e.upload(t, aliceToken, formPart{name: "file", filename: "m.mp4", data: mustClip(t)})
	mustAccepted(t, resp, body)
	e.do(t, http.MethodGet, "/v1/videos/"+newVideoID(), aliceToken, nil, nil)
	e.do(t, http.MethodGet, "/v1/videos", "wrong-token-value", nil, nil)
	resp, metrics := e.ops(t, http.MethodGet, "/metrics")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("ops /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`vidpipe_api_requests_total{code="202",method="POST",route="POST /v1/videos"} 1`,
		`vidpipe_api_requests_total{code="404",method="GET",route="GET /v1/videos/{id}"} 1`,
		`vidpipe_api_requests_total{code="401",method="GET",route="GET /v1/videos"} 1`,
		`vidpipe_api_uploads_total{protocol="multipart",result="accepted"} 1`,
		`vidpipe_api_events_published_total{result="ok"} 1`,
		`vidpipe_api_upload_bytes_total{protocol="multipart"}`,
		`vidpipe_api_request_duration_seconds_bucket`,
		`tusd_requests_total`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, secret := range []string{aliceToken, bobToken, "wrong-token-value", e.MinIO.SecretKey} {
		if strings.Contains(string(metrics), secret) {
			t.Errorf("/metrics contains a secret %q", secret)
		}
	}
	// Requests to the operations listener are not the API's traffic.
	if strings.Contains(string(metrics), `route="GET /metrics"`) || strings.Contains(string(metrics), `route="GET /readyz"`) {
		t.Errorf("/metrics counts operations requests as API requests")
	}
	// Readiness follows Kafka.
	e.Kafka.Stop(t)
	resp, body = e.ops(t, http.MethodGet, "/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"kafka":"unavailable"`) {
		t.Fatalf("readyz with Kafka down: %d %s", resp.StatusCode, body)
	}
}

// TestOpsListener checks the split between the two listeners: /readyz
// and /metrics only on the operations listener (404 on the API's, with
// or without a token), /healthz on both, and nothing of the API on the
// operations listener.
func TestOpsListener(t *testing.T) {
	e := mustEnv(t)
	for _, path := range []string{"/readyz", "/metrics"} {
		for _, token := range []string{"", aliceToken} {
			resp, body := e.do(t, http.MethodGet, path, token, nil, nil)
			mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)
		}
		if resp, body := e.ops(t, http.MethodGet, path); resp.StatusCode != http.StatusOK {
			t.Errorf("ops %s: %d %s", path, resp.StatusCode, body)
		}
		resp, body := e.ops(t, http.MethodPost, path)
		mustErrorCode(t, resp, body, http.StatusMethodNotAllowed, codeMethodNotAllowed)
		if allow := resp.Header.Get("Allow"); allow != "GET, HEAD" {
			t.Errorf("ops POST %s: Allow %q", path, allow)
		}
	}
	if resp, body := e.ops(t, http.MethodHead, "/metrics"); resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Errorf("ops HEAD /metrics: %d, %d bytes", resp.StatusCode, len(body))
	}
	for _, path := range []string{"/v1/videos", "/v1/usage", "/openapi.yaml", "/v1/uploads/", "/"} {
		resp, body := doURL(t, http.MethodGet, e.OpsURL+path, aliceToken, nil, nil)
		mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)
	}
	for _, u := range []string{e.URL, e.OpsURL} {
		if resp, body := doURL(t, http.MethodGet, u+"/healthz", "", nil, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("%s/healthz: %d %s", u, resp.StatusCode, body)
		}
	}
}

func TestRoutesAnswerJSON(t *testing.T) {
	e := mustEnv(t)
	tests := map[string]struct {
		method, path string
		status       int
		code         string
	}{
		"unknown API path":     {"GET", "/v1/nope", 404, codeNotFound},
		"wrong method":         {"DELETE", "/v1/videos", 405, codeMethodNotAllowed},
		"wrong method on id":   {"POST", "/v1/videos/" + newVideoID(), 405, codeMethodNotAllowed},
		"tus download refused": {"GET", "/v1/uploads/" + newVideoID(), 405, codeMethodNotAllowed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			resp, body := e.do(t, tc.method, tc.path, aliceToken, nil, nil)
			mustErrorCode(t, resp, body, tc.status, tc.code)
		})
	}
	// tus discovery needs no token.
	resp, _ := e.do(t, http.MethodOptions, "/v1/uploads/", "", nil, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Tus-Version") != "1.0.0" ||
		!strings.Contains(resp.Header.Get("Tus-Extension"), "termination") || resp.Header.Get("Tus-Max-Size") == "" {
		t.Fatalf("OPTIONS /v1/uploads/: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestOpenAPIDescribesEveryRoute checks that openapi.yaml is valid YAML
// in OpenAPI 3 shape and lists every route registered in routes.go.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	e := mustEnv(t)
	resp, body := e.do(t, http.MethodGet, "/openapi.yaml", "", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("openapi.yaml: %d", resp.StatusCode)
	}
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	// Every "METHOD /path" route of routes.go (read from the source).
	src := readFile(t, "routes.go")
	re := regexp.MustCompile(`mux\.Handle\("([A-Z]+) ([^"]+)"`)
	var missing []string
	for _, m := range re.FindAllStringSubmatch(src, -1) {
		method, path := strings.ToLower(m[1]), m[2]
		path = strings.TrimSuffix(strings.ReplaceAll(path, "{$}", ""), "/") // /v1/uploads/{$} -> /v1/uploads
		path = strings.ReplaceAll(path, "{path...}", "{path}")
		candidates := []string{path, path + "/"}
		found := false
		for _, p := range candidates {
			if ops, ok := doc.Paths[p]; ok {
				if _, ok := ops[method]; ok || (method == "get" && ops["get"] != nil) {
					found = true
				}
			}
		}
		if !found && !(method == "post" && path == "/v1/uploads" && doc.Paths["/v1/uploads/"]["post"] != nil) {
			missing = append(missing, m[1]+" "+m[2])
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("routes missing from openapi.yaml: %v", missing)
	}
	// The operations listener's routes are not the API's.
	for _, p := range []string{"/readyz", "/metrics"} {
		if _, ok := doc.Paths[p]; ok {
			t.Errorf("openapi.yaml lists %s, which the API listener does not serve (it is on api.ops_addr)", p)
		}
	}
}

package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestWebAppMounted checks that the API listener serves the web app at /
// and its page routes, with a CSP that allows media from the storage
// origin presigned URLs use, while API paths keep their JSON errors.
func TestWebAppMounted(t *testing.T) {
	e := mustEnv(t)
	u, err := e.Objects.PresignGet(context.Background(), "videos/x/poster.jpg", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	origin := pu.Scheme + "://" + pu.Host

	for _, p := range []string{"/", "/signin", "/videos/" + newVideoID(), "/webhooks", "/ops"} {
		resp, body := e.do(t, http.MethodGet, p, "", nil, nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
			!strings.Contains(string(body), `src="/assets/app.js"`) {
			t.Errorf("GET %s: %d %q, want index.html", p, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "media-src 'self' blob: "+origin) || !strings.Contains(csp, "img-src 'self' data: blob: "+origin) {
			t.Errorf("GET %s: CSP %q does not allow media from the storage origin %s", p, csp, origin)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", p)
		}
	}
	resp, body := e.do(t, http.MethodGet, "/assets/app.js", "", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") || len(body) == 0 {
		t.Errorf("GET /assets/app.js: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp, _ := e.do(t, http.MethodGet, "/no-such-page", "", nil, nil); resp.StatusCode != http.StatusNotFound ||
		resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("GET /no-such-page: %d %q, want the app's not-found page", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	// API paths keep their JSON answers.
	for _, p := range []string{"/v1/nope", "/v1", "/v1/videos/" + newVideoID() + "/nope", "/healthz/x", "/openapi.yaml/x"} {
		resp, body := e.do(t, http.MethodGet, p, aliceToken, nil, nil)
		mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)
	}
	resp, body = e.do(t, http.MethodPost, "/videos/x", aliceToken, nil, nil)
	mustErrorCode(t, resp, body, http.StatusMethodNotAllowed, codeMethodNotAllowed)
	if allow := resp.Header.Get("Allow"); allow != "GET, HEAD" {
		t.Errorf("POST /videos/x: Allow %q", allow)
	}
}

package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestHandlerServesPages(t *testing.T) {
	h := Handler(WithMediaOrigins("http://127.0.0.1:9000"))
	index, err := fs.ReadFile(Files(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		path   string
		status int
	}{
		"root":           {"/", 200},
		"signin":         {"/signin", 200},
		"webhooks":       {"/webhooks", 200},
		"ops":            {"/ops", 200},
		"video":          {"/videos/0190f3c2-aaaa-7bbb-8ccc-0123456789ab", 200},
		"video slash":    {"/videos/abc/", 200},
		"unknown page":   {"/nope", 404},
		"nested unknown": {"/videos/abc/def", 404},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			resp, body := get(t, h, http.MethodGet, tc.path, nil)
			if resp.StatusCode != tc.status {
				t.Errorf("GET %s: %d, want %d", tc.path, resp.StatusCode, tc.status)
			}
			if body != string(index) {
				t.Errorf("GET %s: body is not index.html", tc.path)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("GET %s: Content-Type %q", tc.path, ct)
			}
			mustSecurityHeaders(t, resp, "http://127.0.0.1:9000")
		})
	}
}

func mustSecurityHeaders(t *testing.T, resp *http.Response, media string) {
	t.Helper()
	if v := resp.Header.Get("X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("X-Content-Type-Options %q", v)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		f := strings.Fields(d)
		if len(f) > 0 {
			directives[f[0]] = strings.Join(f[1:], " ")
		}
	}
	want := map[string]string{
		"default-src":     "'none'",
		"script-src":      "'self'",
		"style-src":       "'self'",
		"connect-src":     "'self'",
		"frame-ancestors": "'none'",
	}
	for k, v := range want {
		if directives[k] != v {
			t.Errorf("CSP %s = %q, want %q (policy %q)", k, directives[k], v, csp)
		}
	}
	for _, k := range []string{"img-src", "media-src"} {
		if !strings.Contains(directives[k], "'self'") || (media != "" && !strings.Contains(directives[k], media)) {
			t.Errorf("CSP %s = %q, want 'self' and %q", k, directives[k], media)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
}

func TestHandlerServesAssets(t *testing.T) {
	h := Handler()
	tests := map[string]string{
		"/assets/app.js":           "text/javascript; charset=utf-8",
		"/assets/pages/library.js": "text/javascript; charset=utf-8",
		"/assets/app.css":          "text/css; charset=utf-8",
		"/assets/icon.svg":         "image/svg+xml",
	}
	for p, ct := range tests {
		resp, body := get(t, h, http.MethodGet, p, nil)
		if resp.StatusCode != 200 || body == "" {
			t.Errorf("GET %s: %d, %d bytes", p, resp.StatusCode, len(body))
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != ct {
			t.Errorf("GET %s: Content-Type %q, want %q", p, got, ct)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q", p, cc)
		}
		mustSecurityHeaders(t, resp, "")
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", p)
			continue
		}
		if resp, _ := get(t, h, http.MethodGet, p, map[string]string{"If-None-Match": etag}); resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", p, resp.StatusCode)
		}
	}
	if resp, body := get(t, h, http.MethodGet, "/assets/missing.js", nil); resp.StatusCode != 404 || strings.Contains(body, "<html") {
		t.Errorf("missing asset: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, h, http.MethodPost, "/", nil); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if resp, body := get(t, h, http.MethodHead, "/", nil); resp.StatusCode != 200 || body != "" {
		t.Errorf("HEAD /: %d, %d bytes", resp.StatusCode, len(body))
	}
}

// TestEmbeddedReferencesExist checks that every file index.html links
// and every module an app module imports is embedded, and that nothing
// is loaded from another origin or inline.
func TestEmbeddedReferencesExist(t *testing.T) {
	files := Files()
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	html := string(index)
	refs := regexp.MustCompile(`<(\w+)[^>]*\s(?:src|href)="([^"]+)"`).FindAllStringSubmatch(html, -1)
	n := 0
	for _, m := range refs {
		tag, ref := m[1], m[2]
		if tag == "a" {
			// Links go to a page of the app or an anchor.
			if !strings.HasPrefix(ref, "#") && !pageRoute.MatchString(ref) {
				t.Errorf("index.html links %q: not a page of the app", ref)
			}
			continue
		}
		if !strings.HasPrefix(ref, "/assets/") {
			t.Errorf("index.html references %q: not an embedded asset", ref)
			continue
		}
		n++
		if _, err := fs.Stat(files, strings.TrimPrefix(ref, "/")); err != nil {
			t.Errorf("index.html references %q: %v", ref, err)
		}
	}
	if n < 2 {
		t.Fatalf("index.html references %d assets; want the script and the stylesheet at least", n)
	}
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(html) || strings.Contains(html, "<style") || strings.Contains(html, " style=") {
		t.Error("index.html has inline script or style (the CSP refuses them)")
	}
	imports := regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'`)
	err = fs.WalkDir(files, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".js" {
			return err
		}
		src, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		for _, m := range imports.FindAllStringSubmatch(string(src), -1) {
			spec := m[1] + m[2]
			if !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
				t.Errorf("%s imports %q: only relative imports of embedded modules", p, spec)
				continue
			}
			target := path.Join(path.Dir(p), spec)
			if _, err := fs.Stat(files, target); err != nil {
				t.Errorf("%s imports %q: %v", p, spec, err)
			}
		}
		if regexp.MustCompile(`(?:fetch|import|new URL)\(\s*['"\x60]https?://|url\(\s*['"]?https?://|src\s*=\s*['"\x60]https?://`).Match(src) {
			t.Errorf("%s mentions an absolute URL (nothing is loaded from another origin)", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestServes(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/signin": true, "/ops": true, "/webhooks": true, "/videos/2b7e1516-28ae-4d2a-a6d2-abf7158809cf": true,
		"/assets/app.js": true, "/assets/nope.js": false, "/etc": false, "/v1/videos": false,
	} {
		if got := Serves(p); got != want {
			t.Errorf("Serves(%q) = %v, want %v", p, got, want)
		}
	}
}

package browser

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// recordT is a T that records failures instead of ending the test, to
// check that the harness reports what it should.
type recordT struct {
	*testing.T
	errs []string
}

func (r *recordT) Errorf(format string, args ...any) {
	r.errs = append(r.errs, format)
	r.T.Logf("(expected) "+format, args...)
}

// TestHarness checks the harness on pages served here: it waits for
// body[data-ready=true], sees a console error and an uncaught exception,
// finds an unlabelled input and an image without alt with axe-core,
// emulates prefers-color-scheme and a 360 px viewport, and takes a PNG.
func TestHarness(t *testing.T) {
	pages := map[string]string{
		"/good": `<!doctype html><html lang="en"><head><meta name="viewport" content="width=device-width, initial-scale=1"><title>good</title>
<style>body{background:#fff;color:#000} @media (prefers-color-scheme: dark){body{background:#000;color:#fff}}</style></head>
<body data-page="library"><main><h1>Hello</h1><label for="q">Search</label><input id="q" name="q"></main>
<script src="/ready.js"></script></body></html>`,
		"/bad": `<!doctype html><html lang="en"><head><title>bad</title></head>
<body><main><input name="q"><img src="/x.png"></main><script src="/bad.js"></script></body></html>`,
		"/ready.js": `setTimeout(() => { document.body.dataset.ready = "true"; }, 50);`,
		"/bad.js":   `console.error("broken on purpose"); setTimeout(() => { throw new Error("thrown on purpose"); }, 0); document.body.dataset.ready = "true";`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(r.URL.Path, ".js") {
			w.Header().Set("Content-Type", "text/javascript")
		} else {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		}
		w.Write([]byte(body))
	}))
	defer srv.Close()
	b, err := Start(context.Background(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	good := b.NewTab(t, srv.URL)
	defer good.Close()
	good.Go("/good")
	good.WaitReady("library")
	if vs := good.Axe(); len(vs) != 0 {
		t.Errorf("axe on a clean page: %v", vs)
	}
	good.ColorScheme("dark")
	if bg := Eval[string](good, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(0, 0, 0)" {
		t.Errorf("dark scheme background = %s", bg)
	}
	good.Viewport(360, 740)
	if w := Eval[int](good, `window.innerWidth`); w != 360 {
		t.Errorf("innerWidth = %d, want 360", w)
	}
	path := t.TempDir() + "/good.png"
	good.Screenshot(path)
	good.CheckConsole()

	bad := b.NewTab(t, srv.URL)
	defer bad.Close()
	bad.Go("/bad")
	bad.WaitJS("the exception", `true`, DefaultWait)
	ids := map[string]bool{}
	for _, v := range bad.Axe() {
		ids[v.ID] = true
	}
	if !ids["label"] || !ids["image-alt"] {
		t.Errorf("axe on the bad page found %v, want label and image-alt", ids)
	}
	// The console messages arrive asynchronously.
	bad.WaitJS("a tick", `new Promise(r => setTimeout(() => r(true), 200))`, DefaultWait)
	rt := &recordT{T: t}
	bad.t = rt
	bad.CheckConsole()
	errs := strings.Join(bad.ConsoleErrors(), "\n")
	if len(rt.errs) != 1 || !strings.Contains(errs, "broken on purpose") || !strings.Contains(errs, "thrown on purpose") {
		t.Errorf("console errors = %q (reported %d), want the console.error and the exception", errs, len(rt.errs))
	}
	bad.IgnoreConsole("on purpose")
	if errs := bad.ConsoleErrors(); len(errs) != 0 {
		t.Errorf("ignored errors still reported: %v", errs)
	}
}

package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// T is what the helpers need of a test: *testing.T has it, and the
// screenshots command supplies its own (it exits on Fatalf).
type T interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// DefaultWait bounds each wait of a Tab (a page to be ready, a condition
// to hold). Default: 60s, generous for a shared 2-core machine; a test's
// own waits for the pipeline pass longer ones.
const DefaultWait = 60 * time.Second

// Tab is one tab in its own browser context (cookies, sessionStorage and
// localStorage of its own) on the web app at Base. It records console
// errors and uncaught exceptions from its creation on (CheckConsole).
type Tab struct {
	t      T
	Ctx    context.Context
	cancel context.CancelFunc
	Base   string // e.g. http://127.0.0.1:8080, without a trailing slash

	mu      sync.Mutex
	console []string
	ignore  []string
}

// NewTab opens a tab in a new browser context of b on the app at base.
// Close it with Close (tests: t.Cleanup(tab.Close)).
func (b *Browser) NewTab(t T, base string) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	tab := &Tab{t: t, Ctx: ctx, cancel: cancel, Base: strings.TrimSuffix(base, "/")}
	messages := chromedp.Console(ctx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("browser: open a tab: %v", err)
	}
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// A failed request (Source "network", e.g. the 404 of a
			// video that is not the user's) is the app's business to
			// show; console errors, CSP violations ("security") and
			// uncaught exceptions are defects.
			if (m.Type == chromedp.ConsoleError && m.Source != "network") || m.IsException() {
				line := m.String()
				if m.URL != "" {
					line += fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
				}
				tab.mu.Lock()
				tab.console = append(tab.console, line)
				tab.mu.Unlock()
			}
		}
	}()
	return tab
}

// Close closes the tab and its browser context.
func (tab *Tab) Close() { tab.cancel() }

// IgnoreConsole makes CheckConsole pass over console errors that contain
// substr (for an error a test causes on purpose).
func (tab *Tab) IgnoreConsole(substr string) {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	tab.ignore = append(tab.ignore, substr)
}

// ConsoleErrors are the console errors and uncaught exceptions seen so far,
// less the ignored ones.
func (tab *Tab) ConsoleErrors() []string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	var out []string
next:
	for _, l := range tab.console {
		for _, s := range tab.ignore {
			if strings.Contains(l, s) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

// CheckConsole fails the test, listing them, when the tab has seen console
// errors or uncaught exceptions.
func (tab *Tab) CheckConsole() {
	tab.t.Helper()
	if errs := tab.ConsoleErrors(); len(errs) > 0 {
		tab.t.Errorf("browser console errors on %s:\n  %s", tab.Base, strings.Join(errs, "\n  "))
	}
}

// Do runs chromedp actions in the tab; an error fails the test with what.
func (tab *Tab) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, DefaultWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tab.t.Fatalf("browser: %s: %v\n%s", what, err, tab.describe())
	}
}

// Eval evaluates a JavaScript expression in the tab (awaiting a promise)
// and decodes its value into T.
func Eval[V any](tab *Tab, expr string) V {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, DefaultWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[V](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tab.t.Fatalf("browser: evaluate %s: %v\n%s", expr, err, tab.describe())
	}
	return v
}

// Go navigates to path (e.g. "/videos/ID") and waits until the app has
// rendered it (WaitReady).
func (tab *Tab) Go(path string) {
	tab.t.Helper()
	tab.Do("navigate to "+path, chromedp.Navigate(tab.Base+path))
	tab.WaitReady("")
}

// WaitReady waits until body[data-ready=true] and, when page is not "",
// body[data-page=page].
func (tab *Tab) WaitReady(page string) {
	tab.t.Helper()
	cond := `document.body && document.body.dataset.ready === "true"`
	what := "body[data-ready=true]"
	if page != "" {
		cond += fmt.Sprintf(` && document.body.dataset.page === %q`, page)
		what += fmt.Sprintf("[data-page=%s]", page)
	}
	tab.WaitJS(what, cond, DefaultWait)
}

// WaitJS polls the JavaScript condition cond (every 100ms) until it is
// truthy; after timeout the test fails with what and the page's state. A
// navigation during the wait (the page's context goes away) does not end
// it: the condition is polled again in the new document.
func (tab *Tab) WaitJS(what, cond string, timeout time.Duration) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, timeout)
	defer cancel()
	for {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+cond+")", chromedp.WithPollingInterval(100*time.Millisecond)))
		if err == nil {
			return
		}
		if ctx.Err() != nil || !strings.Contains(err.Error(), "navigated or closed") && !strings.Contains(err.Error(), "context was destroyed") {
			tab.t.Fatalf("browser: waiting %v for %s: %v\n%s", timeout, what, err, tab.describe())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Submit submits the form of the field sel as a user does (requestSubmit:
// the app's submit handler runs).
func (tab *Tab) Submit(sel string) {
	tab.t.Helper()
	tab.Eval(fmt.Sprintf(`(() => { const el = document.querySelector(%q); (el.form ?? el).requestSubmit(); })()`, sel))
}

// Exists reports whether a CSS selector matches an element now.
func (tab *Tab) Exists(sel string) bool {
	tab.t.Helper()
	return Eval[bool](tab, fmt.Sprintf(`!!document.querySelector(%q)`, sel))
}

// Visible reports whether the first element matching sel exists and is
// rendered (not hidden, not display:none, has a box).
func (tab *Tab) Visible(sel string) bool {
	tab.t.Helper()
	return Eval[bool](tab, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && !e.closest("[hidden]") && e.getClientRects().length > 0; })()`, sel))
}

// Text is the trimmed textContent of the first element matching sel ("" if
// none).
func (tab *Tab) Text(sel string) string {
	tab.t.Helper()
	return Eval[string](tab, fmt.Sprintf(`(document.querySelector(%q)?.textContent ?? "").trim()`, sel))
}

// Click clicks the first element matching sel once it is visible.
func (tab *Tab) Click(sel string) {
	tab.t.Helper()
	tab.Do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// Type replaces the value of the field sel by typing text into it.
func (tab *Tab) Type(sel, text string) {
	tab.t.Helper()
	tab.Do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	tab.Eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = ""; e.dispatchEvent(new Event("input", {bubbles: true})); })()`, sel))
	tab.Do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text, chromedp.NodeVisible))
}

// describe is the page's location, data-page/data-ready and the start of
// its text, for failure messages.
func (tab *Tab) describe() string {
	ctx, cancel := context.WithTimeout(tab.Ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " page=" + document.body?.dataset.page + " ready=" + document.body?.dataset.ready + "\n" + (document.body?.innerText ?? "").slice(0, 1500)`))
	if err != nil {
		return "(page state unavailable: " + err.Error() + ")"
	}
	errs := tab.ConsoleErrors()
	if len(errs) > 0 {
		s += "\nconsole errors:\n  " + strings.Join(errs, "\n  ")
	}
	return "page: " + s
}

// SignIn signs in with token through form#signin and waits for the
// library.
func (tab *Tab) SignIn(token string) {
	tab.t.Helper()
	tab.Go("/signin")
	if Eval[string](tab, `document.body.dataset.page`) != "signin" {
		tab.t.Fatalf("browser: /signin shows page %q, want signin", Eval[string](tab, `document.body.dataset.page`))
	}
	tab.Type(`form#signin input[name=token]`, token)
	tab.Submit(`form#signin input[name=token]`)
	tab.WaitReady("library")
}

// Viewport sets the tab's viewport to width × height CSS pixels (mobile
// emulation, touch off, below 600 px wide).
func (tab *Tab) Viewport(width, height int64) {
	tab.t.Helper()
	var opts []chromedp.EmulateViewportOption
	if width < 600 {
		opts = append(opts, chromedp.EmulateMobile)
	}
	tab.Do(fmt.Sprintf("viewport %dx%d", width, height), chromedp.EmulateViewport(width, height, opts...))
}

// ColorScheme emulates prefers-color-scheme: "light" or "dark".
func (tab *Tab) ColorScheme(scheme string) {
	tab.t.Helper()
	_, err := chromedp.Call(tab.Ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	})
	if err != nil {
		tab.t.Fatalf("browser: emulate prefers-color-scheme %s: %v", scheme, err)
	}
}

// Screenshot writes a PNG of the whole page (beyond the viewport) to path.
func (tab *Tab) Screenshot(path string) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, DefaultWait)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tab.t.Fatalf("browser: screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tab.t.Fatalf("browser: write %s: %v", path, err)
	}
}

// Attr is attribute name of the first element matching sel ("" if none).
func (tab *Tab) Attr(sel, name string) string {
	tab.t.Helper()
	return Eval[string](tab, fmt.Sprintf(`document.querySelector(%q)?.getAttribute(%q) ?? ""`, sel, name))
}

// JSON is v as a JavaScript literal (for building expressions).
func JSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Eval evaluates a JavaScript expression for its effect.
func (tab *Tab) Eval(expr string) {
	tab.t.Helper()
	tab.Do("evaluate "+expr, chromedp.Evaluate[chromedp.Void](expr, chromedp.EvalAwaitPromise))
}

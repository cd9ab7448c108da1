// Command vidpipe-screenshots starts the dev stack, uploads a few
// generated clips with titles, and writes PNG screenshots of each page of
// the web app (signin, library, video, webhooks, ops, the library at
// 360 px, the video page in dark) to a folder, docs/screenshots by
// default. `make screenshots` runs it from the repository root.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/dev/browser"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "vidpipe-screenshots:", err)
		os.Exit(1)
	}
}

// failed is what cmdT.Fatalf panics with; run recovers it.
type failed struct{ msg string }

// cmdT is the browser.T of the command: Fatalf ends the run, Errorf is
// remembered, Logf prints.
type cmdT struct {
	out  io.Writer
	errs []string
}

func (c *cmdT) Helper()                         {}
func (c *cmdT) Logf(format string, args ...any) { fmt.Fprintf(c.out, format+"\n", args...) }
func (c *cmdT) Errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}
func (c *cmdT) Fatalf(format string, args ...any) { panic(failed{fmt.Sprintf(format, args...)}) }

func run(ctx context.Context, args []string, stdout io.Writer) (err error) {
	fs := flag.NewFlagSet("vidpipe-screenshots", flag.ContinueOnError)
	outDir := fs.String("out", "docs/screenshots", "folder the PNGs are written to (created)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	if _, err := browser.ChromiumPath(); err != nil {
		return err
	}
	var stackLog bytes.Buffer
	fmt.Fprintln(stdout, "starting the dev stack (builds the services on first use)…")
	stack, err := browser.StartStack(ctx, &stackLog)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, stackLog.String())
	}
	defer func() {
		if serr := stack.Stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	b, err := browser.Start(ctx, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	t := &cmdT{out: stdout}
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(failed)
			if !ok {
				panic(r)
			}
			err = errors.New(f.msg)
		}
		if err == nil && len(t.errs) > 0 {
			err = errors.New(strings.Join(t.errs, "\n"))
		}
	}()
	shoot(t, stack, b, *outDir)
	return nil
}

// shoot uploads the clips and takes the screenshots.
func shoot(t *cmdT, stack *browser.Stack, b *browser.Browser, outDir string) {
	base := stack.Endpoints.APIURL
	alice := browser.API{Base: base, Token: "dev-alice"}
	clips := []struct{ file, title, tags string }{
		{"harbour.mp4", "Harbour at noon", "harbour,sea"},
		{"lighthouse.mp4", "Lighthouse at dusk", "coast,evening"},
		{"market.mp4", "Morning market", "city,food"},
	}
	var ids []string
	for _, c := range clips {
		path := browser.Clip(t, stack.Dir(), c.file, 640, 360, 6)
		ids = append(ids, alice.Upload(t, path, c.title, c.tags))
	}
	// A file cut short after its first 64 KiB: it passes the upload's
	// checks and fails in transcode, so the library shows a failed card
	// and the ops page a dead letter with its reason.
	full, err := os.ReadFile(browser.Clip(t, stack.Dir(), "truncated.mp4", 640, 360, 6))
	if err != nil {
		t.Fatalf("read the clip: %v", err)
	}
	cut := filepath.Join(stack.Dir(), "holiday.mp4")
	if err := os.WriteFile(cut, full[:min(len(full), 64<<10)], 0o644); err != nil {
		t.Fatalf("write the truncated clip: %v", err)
	}
	failedID := alice.Upload(t, cut, "Holiday (cut short)", "family")
	for _, id := range ids {
		alice.WaitStatus(t, id, "ready", 5*time.Minute)
	}
	alice.WaitStatus(t, failedID, "failed", 5*time.Minute)
	code, body := alice.Do(t, "POST", "/v1/webhooks", strings.NewReader(`{"url":"http://127.0.0.1:9999/hooks","event_types":["*"]}`), "application/json")
	t.Logf("webhook: %d %s", code, body)
	png := func(tab *browser.Tab, name string) {
		p := filepath.Join(outDir, name)
		tab.Screenshot(p)
		t.Logf("wrote %s", p)
	}

	signin := b.NewTab(t, base)
	defer signin.Close()
	signin.Viewport(1280, 800)
	signin.Go("/signin")
	png(signin, "signin.png")

	tab := b.NewTab(t, base)
	defer tab.Close()
	tab.Viewport(1280, 800)
	tab.SignIn("dev-alice")
	tab.WaitJS("the posters", `[...document.querySelectorAll("img.card-poster")].every(i => i.complete)`, browser.DefaultWait)
	png(tab, "library.png")
	video := func(name string) {
		tab.Go("/videos/" + ids[0])
		tab.WaitReady("video")
		// A frame 2 s in. Where the browser does not play the HLS it
		// answers "maybe" for, the MP4 rendition (the last quality).
		tab.Eval(`(async () => {
			const v = document.querySelector("video#player"); if (!v) return;
			v.muted = true;
			const loaded = () => new Promise(r => { if (v.readyState >= 2) r(true); else {
				v.addEventListener("loadeddata", () => r(true), {once: true});
				v.addEventListener("error", () => r(false), {once: true}); setTimeout(() => r(false), 10000); } });
			if (!(await loaded())) {
				const q = document.querySelector("select#quality");
				if (q) { q.selectedIndex = q.options.length - 1; q.dispatchEvent(new Event("change", {bubbles: true})); }
				if (!(await loaded())) return;
			}
			v.currentTime = 2;
			await new Promise(r => { v.addEventListener("seeked", r, {once: true}); setTimeout(r, 5000); });
		})()`)
		png(tab, name)
	}
	video("video.png")
	tab.Go("/webhooks")
	png(tab, "webhooks.png")
	tab.Viewport(360, 740)
	tab.Go("/")
	tab.WaitJS("the posters", `[...document.querySelectorAll("img.card-poster")].every(i => i.complete)`, browser.DefaultWait)
	png(tab, "library-mobile.png")
	tab.Viewport(1280, 800)
	tab.ColorScheme("dark")
	video("video-dark.png")

	admin := b.NewTab(t, base)
	defer admin.Close()
	admin.Viewport(1280, 800)
	admin.SignIn("dev-admin")
	admin.Go("/ops")
	png(admin, "ops.png")
	for _, tb := range []*browser.Tab{signin, tab, admin} {
		tb.CheckConsole()
	}
}

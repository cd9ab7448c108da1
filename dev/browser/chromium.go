package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/chromedp/chromedp"
)

// DefaultChromium is the browser the tests run: Debian's chromium package,
// installed by make deps. VIDPIPE_CHROMIUM overrides it.
const DefaultChromium = "/usr/bin/chromium"

// ErrMissingTool is wrapped by the errors of a missing browser or axe-core.
var ErrMissingTool = errors.New("run make deps")

// ChromiumPath is the browser binary: $VIDPIPE_CHROMIUM, else
// DefaultChromium. It fails (wrapping ErrMissingTool) when the file is not
// an executable.
func ChromiumPath() (string, error) {
	p := os.Getenv("VIDPIPE_CHROMIUM")
	if p == "" {
		p = DefaultChromium
	}
	if _, err := exec.LookPath(p); err != nil {
		return "", fmt.Errorf("browser: chromium not found at %s (%v): %w", p, err, ErrMissingTool)
	}
	return p, nil
}

// Browser is one headless Chromium process. Its tabs (NewTab) are
// independent browser contexts, so two users signed in in two tabs share
// nothing.
type Browser struct {
	ctx     context.Context // a chromedp context that has started the browser
	cancel  context.CancelFunc
	profile string
}

// Start starts Chromium headless with a temporary profile (user-data-dir),
// no sandbox (the tests run as root), no GPU, no background networking,
// component updates, sync or QUIC, and no first-run UI. chromedp talks to
// it over a pipe, so it listens on no port. logf, when not nil, receives
// the browser's own error messages. Close stops it and removes the
// profile.
func Start(ctx context.Context, logf func(string, ...any)) (*Browser, error) {
	path, err := ChromiumPath()
	if err != nil {
		return nil, err
	}
	profile, err := os.MkdirTemp("", "vidpipe-chromium-")
	if err != nil {
		return nil, fmt.Errorf("browser: profile dir: %w", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		// Media plays in a test without a user gesture.
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	var ctxOpts []chromedp.ContextOption
	if logf != nil {
		ctxOpts = append(ctxOpts, chromedp.WithErrorf(logf))
	}
	bctx, cancelCtx := chromedp.NewContext(allocCtx, ctxOpts...)
	b := &Browser{ctx: bctx, profile: profile, cancel: func() { cancelCtx(); cancelAlloc() }}
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		b.Close()
		return nil, fmt.Errorf("browser: start %s: %w", path, err)
	}
	return b, nil
}

// Close stops the browser and removes its profile.
func (b *Browser) Close() {
	b.cancel()
	os.RemoveAll(b.profile)
}

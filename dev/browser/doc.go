// Package browser drives the web app of upload-api in a real headless
// Chromium (Debian's chromium, /usr/bin/chromium) with chromedp, for the
// browser tests of this module and for `make screenshots`.
//
// It holds:
//   - the browser (Start): one Chromium process, headless, talking to the
//     test over a pipe (no debugging port is opened at all), with a
//     temporary profile removed on Close;
//   - tabs (Browser.NewTab): one isolated browser context each (its own
//     cookies, sessionStorage and localStorage), collecting console errors
//     and uncaught exceptions, with helpers to wait for
//     body[data-ready=true], emulate a viewport and prefers-color-scheme,
//     run axe-core and take screenshots;
//   - the dev stack (StartStack): the real broker (kfake), MinIO,
//     PostgreSQL, upload-api and the worker binaries of dev/devstack, and a
//     small API client with generated clips (ffmpeg lavfi testsrc2 + sine).
//
// The tools come from `make deps` (dev/scripts/deps.sh): the chromium and
// fonts packages, and axe-core from this folder's package-lock.json (npm ci
// into dev/browser/node_modules). A missing tool is an error that says to
// run make deps; nothing is skipped.
package browser

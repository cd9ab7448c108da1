// Package web is the vidpipe web app: plain HTML, CSS and JavaScript ES
// modules (no framework, no build step, nothing from a CDN) compiled into
// the upload-api binary with go:embed and served on the API's own origin
// by [Handler].
//
// The app is a single page: every page route (/, /signin, /videos/{id},
// /webhooks, /ops) answers index.html and the History API router in
// assets/router.js renders the page. It talks to the API with the bearer
// token the user signs in with (kept in sessionStorage, per tab).
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Files is the embedded app: index.html at the root, the rest under
// assets/.
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // "static" is embedded above: cannot happen
	}
	return sub
}

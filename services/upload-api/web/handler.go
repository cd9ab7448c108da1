package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
)

// Option configures [Handler].
type Option func(*settings)

type settings struct {
	mediaOrigins []string
}

// WithMediaOrigins allows images and media from these origins
// ("scheme://host[:port]") in the Content-Security-Policy: the storage
// origin the presigned URLs of renditions, posters, sprites and HLS
// segments point at. Default: none (only the app's own origin).
func WithMediaOrigins(origins ...string) Option {
	return func(s *settings) {
		for _, o := range origins {
			if o = strings.TrimSuffix(strings.TrimSpace(o), "/"); o != "" {
				s.mediaOrigins = append(s.mediaOrigins, o)
			}
		}
	}
}

// pageRoute matches the paths that render a page of the app.
var pageRoute = regexp.MustCompile(`^/(|signin|webhooks|ops|videos/[A-Za-z0-9_-]{1,128})/?$`)

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the app for GET and HEAD:
//   - the page routes (/, /signin, /webhooks, /ops, /videos/{id}) answer
//     index.html, 200;
//   - /assets/... the embedded files with their content type, an ETag
//     and "Cache-Control: no-cache" (revalidated on every use, so a new
//     binary's assets are picked up at once; unchanged ones answer 304);
//   - any other path answers index.html with 404: the app shows its
//     "not found" page. A missing asset is a plain 404.
//
// Every answer carries a strict Content-Security-Policy (scripts,
// styles, fonts and connections only from the app's own origin, no
// inline script or style; images and media also from the origins of
// [WithMediaOrigins]), X-Content-Type-Options: nosniff, no framing and
// no referrer. Other methods answer 405. API paths are not this
// handler's: mount it below them (upload-api's routes.go keeps /v1/...
// answering JSON errors).
func Handler(opts ...Option) http.Handler {
	var s settings
	for _, o := range opts {
		o(&s)
	}
	files := Files()
	assets := map[string]asset{}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		assets["/"+p] = asset{body: b, contentType: contentType(p), etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic(err) // reading the embedded files cannot fail
	}
	index := assets["/index.html"]
	csp := policy(s.mediaOrigins)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := r.URL.Path
		if strings.HasPrefix(p, "/assets/") {
			a, ok := assets[p]
			if !ok {
				http.Error(w, "no such asset", http.StatusNotFound)
				return
			}
			serve(w, r, a, http.StatusOK)
			return
		}
		status := http.StatusOK
		if !pageRoute.MatchString(p) {
			status = http.StatusNotFound
		}
		serve(w, r, index, status)
	})
}

// Serves reports whether p is one of the app's own paths: a page route
// or an embedded asset. Other paths answer the "not found" page to GET and
// are no route at all to other methods.
func Serves(p string) bool {
	if strings.HasPrefix(p, "/assets/") {
		_, err := fs.Stat(Files(), strings.TrimPrefix(p, "/"))
		return err == nil
	}
	return pageRoute.MatchString(p)
}

// serve writes a with status; a 200 whose ETag the client has answers 304.
func serve(w http.ResponseWriter, r *http.Request, a asset, status int) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	if status == http.StatusOK {
		h.Set("ETag", a.etag)
		// ServeContent answers If-None-Match (304) and ranges.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
		return
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(a.body)
	}
}

// contentType is the type of an embedded file by extension (not
// sniffed; nosniff is set).
func contentType(p string) string {
	switch ext := path.Ext(p); ext {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json", ".webmanifest":
		return "application/json"
	default:
		if t := mime.TypeByExtension(ext); t != "" {
			return t
		}
		return "application/octet-stream"
	}
}

// policy is the Content-Security-Policy of every answer.
func policy(media []string) string {
	extra := ""
	if len(media) > 0 {
		extra = " " + strings.Join(media, " ")
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data: blob:" + extra,
		"media-src 'self' blob:" + extra,
		"connect-src 'self'",
		"font-src 'self'",
		"manifest-src 'self'",
		"form-action 'self'",
		"base-uri 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

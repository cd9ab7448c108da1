package server

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAuthRejectsSameLengthGuesses tries, for every configured token,
// every guess of the same length that differs in one byte (first, middle
// or last position, any byte value): none is accepted, none names a user.
func TestAuthRejectsSameLengthGuesses(t *testing.T) {
	tokens := map[string]string{"dev-alice": "alice", "dev-bob": "bob", "0123456789abcdef0123456789abcdef": "carol"}
	a := NewAuth(tokens)
	for tok, user := range tokens {
		t.Run(user, func(t *testing.T) {
			if got, ok := a.User(tok); !ok || got != user {
				t.Fatalf("the token itself: %q, %v", got, ok)
			}
			for _, pos := range []int{0, len(tok) / 2, len(tok) - 1} {
				for c := range 256 {
					if byte(c) == tok[pos] {
						continue
					}
					guess := []byte(tok)
					guess[pos] = byte(c)
					if got, ok := a.User(string(guess)); ok || got != "" {
						t.Fatalf("guess %q accepted as %q", guess, got)
					}
				}
			}
		})
	}
}

// TestSecretComparisonsAreConstantTime reads the functions that compare
// secrets (bearer tokens, playlist signatures) and fails if one compares
// with == or != (other than against a literal or nil) or with a
// short-circuiting helper (bytes.Equal, strings.EqualFold, ...), or no
// longer calls the constant-time primitive.
func TestSecretComparisonsAreConstantTime(t *testing.T) {
	tests := map[string]struct {
		file, fn  string
		primitive string // pkg.Func that must be called
	}{
		"bearer tokens":       {"auth.go", "User", "subtle.ConstantTimeCompare"},
		"playlist signatures": {"hls.go", "verifyHLS", "hmac.Equal"},
	}
	banned := map[string]bool{
		"bytes.Equal": true, "bytes.Compare": true, "strings.EqualFold": true, "strings.Compare": true,
		"reflect.DeepEqual": true, "slices.Equal": true, "slices.Compare": true,
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, tc.file, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			var fn *ast.FuncDecl
			for _, d := range f.Decls {
				if d, ok := d.(*ast.FuncDecl); ok && d.Name.Name == tc.fn {
					fn = d
				}
			}
			if fn == nil {
				t.Fatalf("%s has no function %s", tc.file, tc.fn)
			}
			constant := func(e ast.Expr) bool {
				switch e := e.(type) {
				case *ast.BasicLit:
					return true
				case *ast.Ident:
					return e.Name == "nil"
				}
				return false
			}
			usesPrimitive := false
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.BinaryExpr:
					if (n.Op == token.EQL || n.Op == token.NEQ) && !constant(n.X) && !constant(n.Y) {
						t.Errorf("%s: %s compares two values with %s", fset.Position(n.Pos()), tc.fn, n.Op)
					}
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
						if pkg, ok := sel.X.(*ast.Ident); ok {
							call := pkg.Name + "." + sel.Sel.Name
							if banned[call] {
								t.Errorf("%s: %s compares with %s, which is not constant-time", fset.Position(n.Pos()), tc.fn, call)
							}
							usesPrimitive = usesPrimitive || call == tc.primitive
						}
					}
				}
				return true
			})
			if !usesPrimitive {
				t.Errorf("%s no longer calls %s", tc.fn, tc.primitive)
			}
		})
	}
}

// TestPresignedURLsExpire takes a ready video with URLs valid for one
// second and checks, once that second is well past, that storage refuses
// the presigned object URLs and the API refuses the signed playlist URL.
// (That they work before expiry is TestGetVideoReady's job.)
func TestPresignedURLsExpire(t *testing.T) {
	e := mustEnv(t, withOptions(func(o *Options) { o.PresignExpiry = time.Second }))
	f := e.mustReady(t, e.mustUploadedEvent(t, aliceToken, "Short-lived"))
	resp, body := e.do(t, http.MethodGet, "/v1/videos/"+f.id, aliceToken, nil, nil)
	var v videoView
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &v) != nil || v.HLS == nil || len(v.Renditions) == 0 || v.URLsExpireAt == nil {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}
	urls := map[string]string{"rendition": v.Renditions[0].URL, "poster": v.Thumbnails.Poster.URL}
	latest := *v.URLsExpireAt
	for name, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if q.Get("X-Amz-Expires") != "1" {
			t.Fatalf("%s URL valid for %qs, want 1", name, q.Get("X-Amz-Expires"))
		}
		signed, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
		if err != nil {
			t.Fatalf("%s URL date %q: %v", name, q.Get("X-Amz-Date"), err)
		}
		if exp := signed.Add(time.Second); exp.After(latest) {
			latest = exp
		}
	}
	// Wait until every URL is past its expiry by a clear margin (clock
	// granularity is one second on both sides).
	time.Sleep(time.Until(latest.Add(2 * time.Second)))

	for name, raw := range urls {
		code, b := getURL(t, raw)
		if code != http.StatusForbidden || !strings.Contains(strings.ToLower(string(b)), "expired") {
			t.Errorf("%s URL after expiry: %d %s, want 403 (expired)", name, code, b)
		}
	}
	code, b := getURL(t, e.URL+strings.TrimPrefix(v.HLS.MasterURL, e.Opts.PublicURL))
	if code != http.StatusForbidden {
		t.Errorf("signed playlist URL after expiry: %d %s, want 403", code, b)
	}
	// The expiry the API states is the one in the signed playlist URL.
	mu, _ := url.Parse(v.HLS.MasterURL)
	if exp, _ := strconv.ParseInt(mu.Query().Get("exp"), 10, 64); exp != v.URLsExpireAt.Unix() {
		t.Errorf("playlist URL expires at %d, urls_expire_at says %d", exp, v.URLsExpireAt.Unix())
	}
}

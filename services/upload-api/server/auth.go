package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Auth maps bearer tokens to users. Lookups compare the presented token
// against every configured one in constant time, so neither the result
// nor the time taken tells how close a guess was or which token matched.
type Auth struct {
	entries []authEntry
	// failures limits failed authentications per client address.
	failures *failLimiter
	// admins are the users allowed on /v1/admin/... (WithAdmins).
	admins map[string]bool
}

type authEntry struct {
	hash [sha256.Size]byte
	user string
}

// NewAuth returns an Auth for tokens (token → user).
func NewAuth(tokens map[string]string) *Auth {
	a := &Auth{entries: make([]authEntry, 0, len(tokens)), failures: newFailLimiter(AuthFailBurst, AuthFailRefill)}
	for t, u := range tokens {
		a.entries = append(a.entries, authEntry{hash: sha256.Sum256([]byte(t)), user: u})
	}
	// A stable order keeps the work per lookup independent of map order.
	sort.Slice(a.entries, func(i, j int) bool { return a.entries[i].user < a.entries[j].user })
	return a
}

// LimitFailures sets the failed-authentication limit per client address:
// burst failures, one refilled every refill (defaults: AuthFailBurst,
// AuthFailRefill). Values ≤ 0 keep the default. It returns a.
func (a *Auth) LimitFailures(burst int, refill time.Duration) *Auth {
	if burst <= 0 {
		burst = AuthFailBurst
	}
	if refill <= 0 {
		refill = AuthFailRefill
	}
	a.failures = newFailLimiter(burst, refill)
	return a
}

// User returns the user owning token, or false. Every configured token is
// compared (hashes of equal length, crypto/subtle), whatever matches.
func (a *Auth) User(token string) (string, bool) {
	h := sha256.Sum256([]byte(token))
	found := 0
	user := ""
	for i := range a.entries {
		eq := subtle.ConstantTimeCompare(h[:], a.entries[i].hash[:])
		if eq == 1 {
			user = a.entries[i].user
		}
		found |= eq
	}
	return user, found == 1 && token != ""
}

type ownerKey struct{}

// ownerFrom returns the authenticated user of the request.
func ownerFrom(ctx context.Context) string {
	s, _ := ctx.Value(ownerKey{}).(string)
	return s
}

// withOwner returns ctx carrying the authenticated user.
func withOwner(ctx context.Context, owner string) context.Context {
	return context.WithValue(ctx, ownerKey{}, owner)
}

// bearerToken extracts the token of an "Authorization: Bearer <token>" header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// requireAuth lets requests with a known bearer token through, with the
// user in the context; others get 401 with a WWW-Authenticate challenge.
// Tokens are never logged.
func requireAuth(auth *Auth, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r)
		if !ok {
			writeError(w, r, log, errorf(http.StatusUnauthorized, codeUnauthorized, "missing bearer token").
				WithHeader("WWW-Authenticate", `Bearer realm="vidpipe"`))
			return
		}
		user, ok := auth.User(token)
		if !ok {
			writeError(w, r, log, errorf(http.StatusUnauthorized, codeUnauthorized, "invalid bearer token").
				WithHeader("WWW-Authenticate", `Bearer realm="vidpipe", error="invalid_token"`))
			return
		}
		next.ServeHTTP(w, r.WithContext(withOwner(r.Context(), user)))
	})
}

package server

import (
	"log/slog"
	"net/http"
)

// WithAdmins makes users (names as the tokens map them) administrators:
// they may use /v1/admin/... and GET /v1/me says "admin": true for them.
// Default: nobody. It returns a.
func (a *Auth) WithAdmins(users []string) *Auth {
	a.admins = make(map[string]bool, len(users))
	for _, u := range users {
		a.admins[u] = true
	}
	return a
}

// Admin reports whether user is an administrator (WithAdmins).
func (a *Auth) Admin(user string) bool { return a != nil && user != "" && a.admins[user] }

// requireAdmin lets requests of administrators through (after
// requireAuth); others get 403 forbidden with the reason.
func requireAdmin(auth *Auth, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !auth.Admin(ownerFrom(r.Context())) {
			writeError(w, r, log, errorf(http.StatusForbidden, codeForbidden,
				"this endpoint is for administrators only (api.admins)"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// meResponse is the body of GET /v1/me.
type meResponse struct {
	// User is the caller's user name (the one its token maps to).
	User string `json:"user"`
	// Admin is true for the users of api.admins.
	Admin bool `json:"admin"`
}

// handleMe serves GET /v1/me: who the bearer token belongs to and whether
// they are an administrator.
func handleMe(auth *Auth) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := ownerFrom(r.Context())
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, meResponse{User: user, Admin: auth.Admin(user)})
	})
}

// codeForbidden answers an authenticated caller who may not use a route
// (403).
const codeForbidden = "forbidden"

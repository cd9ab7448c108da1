package server

import (
	_ "embed"
	"net/http"
)

// openAPI describes every route of the API (OpenAPI 3).
//
//go:embed openapi.yaml
var openAPI []byte

// handleOpenAPI serves GET /openapi.yaml.
func handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		_, _ = w.Write(openAPI)
	})
}

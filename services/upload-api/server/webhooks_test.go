package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/services/webhooks/endpoints"
)

// TestWebhooksMountedBehindAuth: /v1/webhooks is served on the API
// listener behind its bearer auth, answers errors in the API's format,
// refuses internal addresses (webhooks.allow_private off) and unknown
// event types, and keeps each user's endpoints to that user.
func TestWebhooksMountedBehindAuth(t *testing.T) {
	e := mustEnv(t)
	post := func(token, body string) (*http.Response, []byte) {
		return e.do(t, http.MethodPost, "/v1/webhooks", token, strings.NewReader(body), map[string]string{"Content-Type": "application/json"})
	}
	resp, body := post("", `{"url":"https://93.184.215.14/hook","event_types":["*"]}`)
	mustErrorCode(t, resp, body, http.StatusUnauthorized, codeUnauthorized)
	if resp.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}

	for name, tc := range map[string]struct {
		body, code string
	}{
		"unknown type":      {`{"url":"https://93.184.215.14/hook","event_types":["video.exploded"]}`, codeInvalidField},
		"no types":          {`{"url":"https://93.184.215.14/hook","event_types":[]}`, codeInvalidField},
		"star not alone":    {`{"url":"https://93.184.215.14/hook","event_types":["*","video.ready"]}`, codeInvalidField},
		"http":              {`{"url":"http://93.184.215.14/hook","event_types":["*"]}`, codeInvalidField},
		"loopback literal":  {`{"url":"https://127.0.0.1/hook","event_types":["*"]}`, codeInvalidField},
		"metadata":          {`{"url":"https://169.254.169.254/latest","event_types":["*"]}`, codeInvalidField},
		"mapped v6 private": {`{"url":"https://[::ffff:10.0.0.1]/hook","event_types":["*"]}`, codeInvalidField},
		"name to loopback":  {`{"url":"https://localhost:8443/hook","event_types":["*"]}`, codeInvalidField},
		"unknown field":     {`{"url":"https://93.184.215.14/hook","event_types":["*"],"secret":"x"}`, codeUnknownField},
		"not json":          {`{`, codeBadRequest},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := post(aliceToken, tc.body)
			mustErrorCode(t, resp, body, http.StatusBadRequest, tc.code)
		})
	}

	resp, body = post(aliceToken, `{"url":"https://93.184.215.14/hook","event_types":["video.ready","video.failed"],"description":"ops"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	var ep struct {
		ID, URL, Secret string
		EventTypes      []string `json:"event_types"`
		Enabled         bool
	}
	if err := json.Unmarshal(body, &ep); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ep.Secret, "whsec_") || !ep.Enabled || len(ep.EventTypes) != 2 || resp.Header.Get("Location") != "/v1/webhooks/"+ep.ID {
		t.Fatalf("created = %s (Location %q)", body, resp.Header.Get("Location"))
	}

	// Another user sees nothing of it: 404 like a missing one.
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/v1/webhooks/" + ep.ID},
		{http.MethodDelete, "/v1/webhooks/" + ep.ID},
		{http.MethodPost, "/v1/webhooks/" + ep.ID + "/rotate-secret"},
		{http.MethodPost, "/v1/webhooks/" + ep.ID + "/enable"},
		{http.MethodGet, "/v1/webhooks/" + ep.ID + "/deliveries"},
	} {
		resp, body := e.do(t, c.method, c.path, bobToken, nil, nil)
		mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)
	}
	resp, body = e.do(t, http.MethodPost, "/v1/webhooks/"+ep.ID+"/replay", bobToken, strings.NewReader(`{"since":"2026-01-01T00:00:00Z"}`), nil)
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bob replaying alice's endpoint: %d %s", resp.StatusCode, body)
	}
	if _, body := e.do(t, http.MethodGet, "/v1/webhooks", bobToken, nil, nil); strings.Contains(string(body), ep.ID) {
		t.Errorf("bob's list shows alice's endpoint: %s", body)
	}

	// The list and the endpoint never show the secret.
	for _, path := range []string{"/v1/webhooks", "/v1/webhooks/" + ep.ID} {
		resp, body := e.do(t, http.MethodGet, path, aliceToken, nil, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), ep.ID) || strings.Contains(string(body), "whsec_") {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
	resp, body = e.do(t, http.MethodPost, "/v1/webhooks/"+ep.ID+"/rotate-secret", aliceToken, nil, nil)
	var rotated struct{ Secret string }
	_ = json.Unmarshal(body, &rotated)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.Secret == ep.Secret {
		t.Errorf("rotate-secret: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(t, http.MethodPut, "/v1/webhooks/"+ep.ID, aliceToken, nil, nil)
	mustErrorCode(t, resp, body, http.StatusMethodNotAllowed, codeMethodNotAllowed)
	if resp, _ := e.do(t, http.MethodDelete, "/v1/webhooks/"+ep.ID, aliceToken, nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Errorf("delete: %d", resp.StatusCode)
	}
	resp, body = e.do(t, http.MethodGet, "/v1/webhooks/"+ep.ID, aliceToken, nil, nil)
	mustErrorCode(t, resp, body, http.StatusNotFound, codeNotFound)
}

// TestOpenAPIWebhookEnums: openapi.yaml lists exactly the webhook event
// types the API accepts (and "*"), and the delivery statuses of the log.
func TestOpenAPIWebhookEnums(t *testing.T) {
	if got, want := openAPIEnum(t, "components.schemas.WebhookEventType.enum"), append(slices.Clone(endpoints.EventTypes), endpoints.TypeAll); !slices.Equal(got, want) {
		t.Errorf("openapi.yaml WebhookEventType enum = %v, want %v (endpoints.EventTypes)", got, want)
	}
	want := []string{endpoints.StatusPending, endpoints.StatusDelivered, endpoints.StatusExhausted, endpoints.StatusDeadLettered}
	if got := openAPIEnum(t, "components.schemas.WebhookDelivery.properties.status.enum"); !slices.Equal(got, want) {
		t.Errorf("openapi.yaml WebhookDelivery.status enum = %v, want %v", got, want)
	}
}

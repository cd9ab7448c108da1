package devstack

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDevEnvIsSourceable(t *testing.T) {
	ep := testEndpoints
	ep.APIURL = "http://127.0.0.1:8080"
	ep.SecretKey = "it's secret" // a quote must survive the shell
	path, err := writeDevEnv(t.TempDir(), ep)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "dev.env" {
		t.Errorf("wrote %s, want dev.env", path)
	}
	vars := EnvVars(ep)
	var script strings.Builder
	script.WriteString(". " + path + "\n")
	for _, kv := range vars {
		script.WriteString(`printf '%s\n' "` + kv[0] + `=$` + kv[0] + `"` + "\n")
	}
	out, err := exec.Command("sh", "-c", script.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("sourcing dev.env: %v\n%s", err, out)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	for i, kv := range vars {
		if want := kv[0] + "=" + kv[1]; i >= len(got) || got[i] != want {
			t.Errorf("after sourcing: line %d = %q, want %q", i, at(got, i), want)
		}
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

func TestEnvVarsNameEveryEndpoint(t *testing.T) {
	ep := testEndpoints
	ep.APIURL = "http://127.0.0.1:8080"
	ep.APIOpsURL = "http://127.0.0.1:8084"
	got := map[string]string{}
	for _, kv := range EnvVars(ep) {
		got[kv[0]] = kv[1]
	}
	want := map[string]string{
		"VIDPIPE_API_URL":       "http://127.0.0.1:8080",
		"VIDPIPE_API_OPS_URL":   "http://127.0.0.1:8084",
		"VIDPIPE_KAFKA_BROKERS": "127.0.0.1:9092",
		"VIDPIPE_S3_ENDPOINT":   "127.0.0.1:9000",
		"VIDPIPE_S3_BUCKET":     "vidpipe",
		"VIDPIPE_S3_ACCESS_KEY": "minioadmin",
		"VIDPIPE_S3_SECRET_KEY": "minioadmin",
		"AWS_ACCESS_KEY_ID":     "minioadmin",
		"AWS_SECRET_ACCESS_KEY": "minioadmin",
		"AWS_ENDPOINT_URL":      "http://127.0.0.1:9000",
		"VIDPIPE_POSTGRES_URL":  "postgres://vidpipe@127.0.0.1:5432/vidpipe?sslmode=disable",
		"DATABASE_URL":          "postgres://vidpipe@127.0.0.1:5432/vidpipe?sslmode=disable",
		"VIDPIPE_TOKEN":         "dev-alice",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestNextSteps(t *testing.T) {
	ep := testEndpoints
	ep.APIURL = "http://127.0.0.1:8080"
	ep.APIOpsURL = "http://127.0.0.1:8084"
	text := NextSteps(ep, ".vidpipe/dev.env")
	for _, want := range []string{
		"open http://127.0.0.1:8080/ and sign in with dev-alice",
		"curl -H 'Authorization: Bearer dev-alice' -F file=@video.mp4 -F title='My video' http://127.0.0.1:8080/v1/videos\n",
		`kcat -b 127.0.0.1:9092 -C -t video.uploaded -f '%t %k %h %s\n'`,
		"vidpipectl watch",
		"curl -H 'Authorization: Bearer dev-alice' http://127.0.0.1:8080/v1/videos/VIDEO_ID",
		"curl -N -H 'Authorization: Bearer dev-alice' http://127.0.0.1:8080/v1/videos/VIDEO_ID/events",
		"curl http://127.0.0.1:8084/readyz",
		`-d '{"url":"http://127.0.0.1:9999/","event_types":["*"]}' http://127.0.0.1:8080/v1/webhooks`,
		"go run ./services/webhooks/cmd/webhooks listen --addr 127.0.0.1:9999 --secret whsec_",
		".vidpipe/dev.env",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("next steps lack %q:\n%s", want, text)
		}
	}
}

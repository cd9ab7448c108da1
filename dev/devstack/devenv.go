package devstack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vidpipe/vidpipe/contract"
)

// DevEnvFile is the name of the file, in the stack's directory, that
// exports the endpoints for a user's shell.
const DevEnvFile = "dev.env"

// EnvVars are the shell variables dev.env exports, in file order:
// the API URL, its operations URL (/readyz, /metrics) and token, Kafka, S3 (also as AWS_* for the AWS CLI and
// SDKs) and PostgreSQL (also as DATABASE_URL, which psql takes as its
// argument).
func EnvVars(ep Endpoints) [][2]string {
	return [][2]string{
		{"VIDPIPE_API_URL", ep.APIURL},
		{"VIDPIPE_API_OPS_URL", ep.APIOpsURL},
		{"VIDPIPE_TOKEN", DevToken},
		{"VIDPIPE_KAFKA_BROKERS", ep.Brokers},
		{"VIDPIPE_S3_ENDPOINT", ep.S3Endpoint},
		{"VIDPIPE_S3_BUCKET", ep.Bucket},
		{"VIDPIPE_S3_ACCESS_KEY", ep.AccessKey},
		{"VIDPIPE_S3_SECRET_KEY", ep.SecretKey},
		{"VIDPIPE_S3_REGION", ep.Region},
		{"AWS_ACCESS_KEY_ID", ep.AccessKey},
		{"AWS_SECRET_ACCESS_KEY", ep.SecretKey},
		{"AWS_REGION", ep.Region},
		{"AWS_ENDPOINT_URL", "http://" + ep.S3Endpoint},
		{"VIDPIPE_POSTGRES_URL", ep.PostgresURL},
		{"DATABASE_URL", ep.PostgresURL},
	}
}

// DevEnv is the text of the dev.env at path: a comment, then one
// `export NAME='value'` line per variable of EnvVars.
func DevEnv(ep Endpoints, path string) string {
	var b strings.Builder
	b.WriteString("# vidpipe dev stack endpoints, written by `vidpipe-dev` (make run).\n")
	b.WriteString("# Load them into a shell with: . " + shellQuote(path) + "\n")
	for _, kv := range EnvVars(ep) {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	return b.String()
}

// shellQuote quotes s for a POSIX shell: in single quotes, with each
// single quote of s closing the quotes, escaped, then reopening them.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeDevEnv writes dir/dev.env atomically (a reader never sees half a
// file).
func writeDevEnv(dir string, ep Endpoints) (string, error) {
	path := filepath.Join(dir, DevEnvFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(DevEnv(ep, path)), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// WebhookReceiverURL is where the printed webhook example's receiver
// (webhooks listen) listens.
const WebhookReceiverURL = "http://127.0.0.1:9999/"

// NextSteps is what a user does next, one command per line, with the
// stack's real addresses: open the web app and sign in, upload a video with curl, watch a topic with
// kcat (or vidpipectl watch for every topic), read a video's status,
// register a webhook and receive it with webhooks listen.
// envPath is the dev.env to mention.
func NextSteps(ep Endpoints, envPath string) string {
	auth := shellQuote("Authorization: Bearer " + DevToken)
	var b strings.Builder
	fmt.Fprintf(&b, "\nvidpipe is running. Endpoints: %s (source it for kcat, curl, psql, aws). Next:\n", envPath)
	fmt.Fprintf(&b, "  web app: open %s/ and sign in with %s   (upload, watch progress live, play, edit)\n", ep.APIURL, DevToken)
	fmt.Fprintf(&b, "  upload:  curl -H %s -F file=@video.mp4 -F title='My video' %s/v1/videos\n", auth, ep.APIURL)
	fmt.Fprintf(&b, "  watch:   kcat -b %s -C -t %s -f '%%t %%k %%h %%s\\n'   (every topic: go run ./platform/cmd/vidpipectl watch --brokers %s)\n",
		ep.Brokers, contract.DefaultPipeline().Entry.Topic, ep.Brokers)
	fmt.Fprintf(&b, "  status:  curl -H %s %s/v1/videos/VIDEO_ID   (VIDEO_ID: the \"id\" the upload answered)\n", auth, ep.APIURL)
	fmt.Fprintf(&b, "  follow:  curl -N -H %s %s/v1/videos/VIDEO_ID/events   (live: chunk progress, playable with hls.master_url after a second or two, then ready)\n", auth, ep.APIURL)
	if ep.APIOpsURL != "" {
		fmt.Fprintf(&b, "  ops:     curl %s/readyz   (and %s/metrics; not on the API port)\n", ep.APIOpsURL, ep.APIOpsURL)
	}
	fmt.Fprintf(&b, "  webhook: curl -H %s -H 'Content-Type: application/json' -d '{\"url\":\"%s\",\"event_types\":[\"*\"]}' %s/v1/webhooks   (answers the secret)\n",
		auth, WebhookReceiverURL, ep.APIURL)
	fmt.Fprintf(&b, "           go run ./services/webhooks/cmd/webhooks listen --addr %s --secret whsec_...   (verifies and prints each delivery)\n",
		strings.TrimSuffix(strings.TrimPrefix(WebhookReceiverURL, "http://"), "/"))
	b.WriteString("\n")
	return b.String()
}

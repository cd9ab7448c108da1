package config_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/platform/config"
)

const secret = "s3cr3t-value"

func TestRedacted(t *testing.T) {
	t.Parallel()
	c, err := load(t, nil, map[string]string{
		"VIDPIPE_S3_ACCESS_KEY": "AKIA-visible",
		"VIDPIPE_S3_SECRET_KEY": secret,
		"VIDPIPE_POSTGRES_URL":  "postgres://u:" + secret + "@db/vidpipe",
	}, "")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	got := config.Redacted(&c)

	tests := map[string]any{
		"s3.secret_key":      config.RedactedValue,
		"postgres.url":       config.RedactedValue,
		"extra.token":        "", // empty secrets stay visible as empty
		"s3.access_key":      "AKIA-visible",
		"stage.max_attempts": 5,
		"stage.backoff_max":  "30s",
		"kafka.brokers":      []string{"127.0.0.1:9092"},
	}
	for key, want := range tests {
		t.Run(key, func(t *testing.T) {
			if fmt.Sprint(got[key]) != fmt.Sprint(want) {
				t.Errorf("Redacted[%s] = %#v, want %#v", key, got[key], want)
			}
		})
	}
	if len(got) != len(config.Keys(&c)) {
		t.Errorf("Redacted has %d keys, want one per key (%d)", len(got), len(config.Keys(&c)))
	}
	if s := fmt.Sprint(got); strings.Contains(s, secret) {
		t.Errorf("Redacted shows the secret: %s", s)
	}
}

// TestSectionsNeverPrintSecrets covers the ways a section may reach a log:
// fmt verbs on the section or the whole config, and slog attributes.
func TestSectionsNeverPrintSecrets(t *testing.T) {
	t.Parallel()
	c := testConfig{
		S3:       config.S3{Endpoint: "minio:9000", AccessKey: "AKIA", SecretKey: secret},
		Postgres: config.Postgres{URL: "postgres://u:" + secret + "@db/x", MaxConns: 2},
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("config", "s3", c.S3, "postgres", c.Postgres, "redacted", config.Redacted(c))
	var text bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("config", "s3", c.S3, "pg", &c.Postgres)

	tests := map[string]string{
		"%v section":   fmt.Sprintf("%v", c.S3),
		"%+v config":   fmt.Sprintf("%+v", c),
		"%s pointer":   fmt.Sprintf("%s", &c.Postgres),
		"slog json":    buf.String(),
		"slog text":    text.String(),
		"String S3":    c.S3.String(),
		"String pgsql": c.Postgres.String(),
	}
	for name, out := range tests {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(out, secret) {
				t.Errorf("output shows the secret: %s", out)
			}
			if !strings.Contains(out, config.RedactedValue) {
				t.Errorf("output does not show %s: %s", config.RedactedValue, out)
			}
		})
	}
	if !strings.Contains(buf.String(), `"endpoint":"minio:9000"`) {
		t.Errorf("slog json does not show the non-secret endpoint: %s", buf.String())
	}
}

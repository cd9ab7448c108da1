package main

import (
	"encoding/json"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/platform/config"
)

// runPrinting runs vidpipectl with args and env, standard output captured
// (config.Load prints there). It swaps os.Stdout: not for parallel tests.
func runPrinting(t *testing.T, args []string, env map[string]string) (error, []byte) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	runErr := run(t.Context(), args, func(k string) string { return env[k] }, io.Discard, io.Discard)
	os.Stdout = stdout
	w.Close()
	printed, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return runErr, printed
}

// vidpipectl --config-reference lists the VIDPIPE_* settings it reads, with
// the defaults its flags fall back to; --config-check checks them.
func TestConfigReference(t *testing.T) {
	err, printed := runPrinting(t, []string{"--config-reference"}, nil)
	if err != nil {
		t.Fatalf("vidpipectl --config-reference: %v", err)
	}
	var ref config.Reference
	if err := json.Unmarshal(printed, &ref); err != nil {
		t.Fatalf("vidpipectl --config-reference printed invalid JSON: %v\n%s", err, printed)
	}
	defaults := map[string]string{}
	for _, k := range ref.Keys {
		defaults[k.Name] = k.Default
	}
	for key, want := range map[string]string{
		"kafka.brokers": "127.0.0.1:9092", "kafka.partitions": "12", "kafka.replication_factor": "1", "kafka.min_insync_replicas": "0",
		"kafka.tls.enabled": "false", "kafka.sasl.mechanism": "", "s3.bucket": "vidpipe",
	} {
		if got, ok := defaults[key]; !ok || got != want {
			t.Errorf("reference: %s default %q (listed: %v), want %q", key, got, ok, want)
		}
	}
	for _, key := range []string{"kafka.client_id", "log.level", "stage.max_attempts"} {
		if _, ok := defaults[key]; ok {
			t.Errorf("reference lists %s, which vidpipectl does not read", key)
		}
	}
	// The flags fall back to the same defaults.
	fs, brokers := flagSet("x", func(string) string { return "" })
	if err := fs.Parse(nil); err != nil || !slices.Equal(*brokers, []string{defaults["kafka.brokers"]}) {
		t.Errorf("--brokers defaults to %v (%v), the reference says %s", *brokers, err, defaults["kafka.brokers"])
	}

	err, printed = runPrinting(t, []string{"--config-check"}, map[string]string{"VIDPIPE_KAFKA_BROKERS": "k:9092",
		"VIDPIPE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "VIDPIPE_KAFKA_SASL_USERNAME": "u", "VIDPIPE_KAFKA_SASL_PASSWORD": "pw"})
	var c config.Checked
	if err != nil || json.Unmarshal(printed, &c) != nil {
		t.Fatalf("vidpipectl --config-check = %v, printed %s", err, printed)
	}
	if c.Values["kafka.brokers"] != "k:9092" || c.Values["kafka.sasl.password"] != config.RedactedValue {
		t.Errorf("checked values %v, want the environment's brokers and the password redacted", c.Values)
	}
	err, _ = runPrinting(t, []string{"--config-check"}, map[string]string{"VIDPIPE_KAFKA_PARTITIONS": "six"})
	if err == nil || !strings.Contains(err.Error(), "kafka.partitions") {
		t.Errorf("vidpipectl --config-check with a bad partition count = %v, want an error naming kafka.partitions", err)
	}
}

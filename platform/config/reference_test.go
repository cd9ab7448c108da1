package config_test

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/platform/config"
)

// loadPrinting runs config.Load("svc", args, env) on a testConfig with
// standard output captured, and returns Load's error and what it printed.
// It swaps os.Stdout: callers must not run in parallel.
func loadPrinting(t *testing.T, args []string, env map[string]string) (error, []byte) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	var c testConfig
	loadErr := config.Load("svc", args, func(k string) string { return env[k] }, &c)
	os.Stdout = stdout
	w.Close()
	printed, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return loadErr, printed
}

// --config-reference prints every key (Keys, with its type) as JSON and
// reads no source: neither a broken environment nor a missing file stops
// it. The error makes a main exit 0 as for -h.
func TestConfigReference(t *testing.T) {
	loadErr, printed := loadPrinting(t, []string{"--config-reference", "--config", "/nonexistent/vidpipe.yaml", "--extra.ratio=x"},
		map[string]string{"VIDPIPE_STAGE_MAX_ATTEMPTS": "many"})
	if !errors.Is(loadErr, config.ErrReferencePrinted) || !errors.Is(loadErr, config.ErrHelp) || errors.Is(loadErr, config.ErrConfigChecked) {
		t.Fatalf("Load(--config-reference) = %v, want ErrReferencePrinted and ErrHelp (not ErrConfigChecked)", loadErr)
	}
	var pe *config.PrintedError
	if !errors.As(loadErr, &pe) || string(pe.Output) != string(printed) || pe.Flag != config.ReferenceFlag {
		t.Fatalf("PrintedError %+v does not hold what was printed:\n%s", pe, printed)
	}
	var ref config.Reference
	if err := json.Unmarshal(printed, &ref); err != nil {
		t.Fatalf("--config-reference printed invalid JSON: %v\n%s", err, printed)
	}
	if ref.Service != "svc" || !slices.Equal(ref.Keys, config.Keys(&testConfig{})) {
		t.Errorf("reference %+v, want service svc and config.Keys", ref)
	}
	types := map[string]string{}
	for _, k := range ref.Keys {
		types[k.Name] = k.Type
	}
	for key, want := range map[string]string{
		"kafka.brokers": "list of string", "stage.max_attempts": "int", "stage.shutdown_grace": "duration",
		"s3.use_ssl": "bool", "extra.labels": "map of string to string", "extra.ports": "list of int",
		"extra.ratio": "float", "extra.token": "string",
	} {
		if types[key] != want {
			t.Errorf("type of %s = %q, want %q", key, types[key], want)
		}
	}
	for _, field := range []string{`"name": "stage.max_attempts"`, `"env": "VIDPIPE_STAGE_MAX_ATTEMPTS"`, `"flag": "--stage.max_attempts"`, `"secret": true`, `"default": "80,443"`} {
		if !strings.Contains(string(printed), field) {
			t.Errorf("reference lacks %s", field)
		}
	}
}

// --config-check loads every source and validates, then prints the values
// in environment syntax, secrets redacted; an invalid configuration is
// Load's usual error, and nothing is printed.
func TestConfigCheck(t *testing.T) {
	env := map[string]string{
		"VIDPIPE_STAGE_SHUTDOWN_GRACE": "0", "VIDPIPE_KAFKA_BROKERS": "a:1, b:2", "VIDPIPE_EXTRA_TOKEN": "s3cret",
		"VIDPIPE_EXTRA_LABELS": "z=1,a=2", "VIDPIPE_STAGE_ATTEMPT_TIMEOUT": "90s",
	}
	loadErr, printed := loadPrinting(t, []string{"--config-check", "--extra.ratio=0.25"}, env)
	if !errors.Is(loadErr, config.ErrConfigChecked) || !errors.Is(loadErr, config.ErrHelp) || errors.Is(loadErr, config.ErrReferencePrinted) {
		t.Fatalf("Load(--config-check) = %v, want ErrConfigChecked and ErrHelp", loadErr)
	}
	var pe *config.PrintedError
	if !errors.As(loadErr, &pe) || string(pe.Output) != string(printed) || pe.Flag != config.CheckFlag {
		t.Fatalf("PrintedError %+v does not hold what was printed:\n%s", pe, printed)
	}
	var c config.Checked
	if err := json.Unmarshal(printed, &c); err != nil {
		t.Fatalf("--config-check printed invalid JSON: %v\n%s", err, printed)
	}
	if c.Service != "svc" || len(c.Values) != len(config.Keys(&testConfig{})) {
		t.Errorf("checked service %q with %d values, want svc and every key", c.Service, len(c.Values))
	}
	for key, want := range map[string]string{
		"stage.shutdown_grace": "0s", "stage.attempt_timeout": "1m30s", "kafka.brokers": "a:1,b:2",
		"extra.token": config.RedactedValue, "extra.labels": "a=2,z=1", "extra.ratio": "0.25", "extra.ports": "80,443",
		"kafka.client_id": "svc", "s3.secret_key": "", "extra.nested.depth": "2",
	} {
		if got := c.Values[key]; got != want {
			t.Errorf("checked %s = %q, want %q", key, got, want)
		}
	}

	loadErr, printed = loadPrinting(t, []string{"--config-check"}, map[string]string{"VIDPIPE_STAGE_MAX_ATTEMPTS": "0"})
	if loadErr == nil || errors.Is(loadErr, config.ErrHelp) || !strings.Contains(loadErr.Error(), "stage.max_attempts") || len(printed) != 0 {
		t.Errorf("--config-check of an invalid configuration = %v, printed %q; want the validation error and nothing printed", loadErr, printed)
	}
}

package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/platform/config"
)

func TestEnvName(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"stage.max_attempts":       "VIDPIPE_STAGE_MAX_ATTEMPTS",
		"kafka.brokers":            "VIDPIPE_KAFKA_BROKERS",
		"extra.nested.depth":       "VIDPIPE_EXTRA_NESTED_DEPTH",
		"upload.max-size":          "VIDPIPE_UPLOAD_MAX_SIZE",
		"s3.presign_expiry":        "VIDPIPE_S3_PRESIGN_EXPIRY",
		"postgres.url":             "VIDPIPE_POSTGRES_URL",
		"stage.http_addr":          "VIDPIPE_STAGE_HTTP_ADDR",
		"log.level":                "VIDPIPE_LOG_LEVEL",
		"kafka.replication_factor": "VIDPIPE_KAFKA_REPLICATION_FACTOR",
	}
	for key, want := range tests {
		t.Run(key, func(t *testing.T) {
			if got := config.EnvName(key); got != want {
				t.Errorf("EnvName(%q) = %q, want %q", key, got, want)
			}
		})
	}
}

func TestKeysOfSection(t *testing.T) {
	t.Parallel()
	got := config.Keys(config.Log{})
	want := []config.Key{
		{Name: "level", Env: "VIDPIPE_LEVEL", Flag: "--level", Type: "string", Default: "info", Description: "log level: debug, info, warn, error"},
		{Name: "format", Env: "VIDPIPE_FORMAT", Flag: "--format", Type: "string", Default: "text", Description: "log format: text or json"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Keys(Log{}) =\n%+v\nwant\n%+v", got, want)
	}
}

// TestKeysListsEveryKey walks testConfig independently (every non-struct
// field is a key) and checks Keys lists each one with its env var and flag.
func TestKeysListsEveryKey(t *testing.T) {
	t.Parallel()
	var want []string
	var collect func(t reflect.Type, prefix string)
	collect = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			key := prefix + f.Tag.Get("mapstructure")
			if f.Type.Kind() == reflect.Struct {
				collect(f.Type, key+".")
			} else {
				want = append(want, key)
			}
		}
	}
	collect(reflect.TypeOf(testConfig{}), "")

	keys := config.Keys(&testConfig{})
	var got []string
	byName := map[string]config.Key{}
	for _, k := range keys {
		got = append(got, k.Name)
		byName[k.Name] = k
		if k.Env != config.EnvName(k.Name) || !strings.HasPrefix(k.Env, "VIDPIPE_") {
			t.Errorf("%s: Env = %q, want %q", k.Name, k.Env, config.EnvName(k.Name))
		}
		if k.Flag != "--"+k.Name {
			t.Errorf("%s: Flag = %q, want --%s", k.Name, k.Flag, k.Name)
		}
		if k.Description == "" {
			t.Errorf("%s: no description", k.Name)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Keys names =\n%q\nwant\n%q", got, want)
	}

	spot := map[string]config.Key{
		"stage.max_attempts": {Name: "stage.max_attempts", Env: "VIDPIPE_STAGE_MAX_ATTEMPTS", Flag: "--stage.max_attempts", Type: "int", Default: "5",
			Description: "handler attempts per record before dead-lettering"},
		"s3.secret_key": {Name: "s3.secret_key", Env: "VIDPIPE_S3_SECRET_KEY", Flag: "--s3.secret_key", Type: "string", Default: "",
			Description: "S3 secret key", Secret: true},
		"postgres.url": {Name: "postgres.url", Env: "VIDPIPE_POSTGRES_URL", Flag: "--postgres.url", Type: "string",
			Default: "postgres://vidpipe@127.0.0.1:5432/vidpipe?sslmode=disable", Description: "PostgreSQL connection URL", Secret: true},
		"extra.nested.depth": {Name: "extra.nested.depth", Env: "VIDPIPE_EXTRA_NESTED_DEPTH", Flag: "--extra.nested.depth", Type: "int", Default: "2",
			Description: "nesting depth, at most 10"},
	}
	for name, want := range spot {
		if got := byName[name]; got != want {
			t.Errorf("key %s = %+v, want %+v", name, got, want)
		}
	}
	var secrets []string
	for _, k := range keys {
		if k.Secret {
			secrets = append(secrets, k.Name)
		}
	}
	if want := []string{"kafka.sasl.password", "s3.secret_key", "postgres.url", "extra.token"}; !reflect.DeepEqual(secrets, want) {
		t.Errorf("secret keys = %q, want %q", secrets, want)
	}
}

func TestKeysPanicsOnNonStruct(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("Keys(42) did not panic")
		}
	}()
	config.Keys(42)
}

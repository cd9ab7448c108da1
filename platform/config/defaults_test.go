package config

import (
	"strings"
	"testing"
	"time"
)

type longStage struct {
	Stage Stage `mapstructure:"stage"`
}

func (longStage) Defaults() map[string]string {
	return map[string]string{"stage.attempt_timeout": "2h", "stage.shutdown_grace": "1m"}
}

type badDefaults struct {
	Stage Stage `mapstructure:"stage"`
}

func (badDefaults) Defaults() map[string]string { return map[string]string{"stage.nope": "1"} }

func TestServiceDefaults(t *testing.T) {
	tests := map[string]struct {
		env  map[string]string
		args []string
		want time.Duration
	}{
		"service default replaces the tag": {want: 2 * time.Hour},
		"env still wins":                   {env: map[string]string{"VIDPIPE_STAGE_ATTEMPT_TIMEOUT": "5m"}, want: 5 * time.Minute},
		"flag still wins":                  {args: []string{"--stage.attempt_timeout=7m"}, want: 7 * time.Minute},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var c longStage
			if err := Load("svc", tc.args, func(k string) string { return tc.env[k] }, &c); err != nil {
				t.Fatal(err)
			}
			if c.Stage.AttemptTimeout != tc.want || c.Stage.MaxAttempts != 5 {
				t.Fatalf("attempt_timeout = %v (max_attempts %d), want %v", c.Stage.AttemptTimeout, c.Stage.MaxAttempts, tc.want)
			}
		})
	}
	for _, k := range Keys(longStage{}) {
		if k.Name == "stage.attempt_timeout" && k.Default != "2h" {
			t.Errorf("Keys reports default %q, want 2h", k.Default)
		}
	}
	var b badDefaults
	if err := Load("svc", nil, nil, &b); err == nil || !strings.Contains(err.Error(), "stage.nope") {
		t.Fatalf("unknown default key: err = %v", err)
	}
}

func TestLoadDefaults(t *testing.T) {
	var c longStage
	if err := LoadDefaults(&c); err != nil {
		t.Fatal(err)
	}
	if c.Stage.AttemptTimeout != 2*time.Hour || c.Stage.ShutdownGrace != time.Minute || c.Stage.MaxAttempts != 5 {
		t.Errorf("LoadDefaults with a Defaulter = %+v, want attempt_timeout 2h, shutdown_grace 1m, max_attempts 5", c.Stage)
	}
	var loaded longStage
	if err := Load("svc", nil, nil, &loaded); err != nil {
		t.Fatal(err)
	}
	if c.Stage != loaded.Stage {
		t.Errorf("LoadDefaults = %+v, Load with no sources = %+v", c.Stage, loaded.Stage)
	}
	if err := LoadDefaults(&badDefaults{}); err == nil || !strings.Contains(err.Error(), "stage.nope") {
		t.Errorf("unknown default key: err = %v", err)
	}
	if err := LoadDefaults(Stage{}); err == nil {
		t.Error("LoadDefaults into a struct value succeeded")
	}
}

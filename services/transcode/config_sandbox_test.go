package transcode

import (
	"errors"
	"testing"

	"github.com/vidpipe/vidpipe/platform/config"
)

func TestConfigSandbox(t *testing.T) {
	t.Chdir(t.TempDir())
	var cfg Config
	if err := config.Load("transcode", nil, nil, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Transcode.Sandbox != "auto" || cfg.Transcode.SandboxMaxMemory != 16<<30 {
		t.Errorf("defaults: sandbox=%q sandbox_max_memory=%d", cfg.Transcode.Sandbox, cfg.Transcode.SandboxMaxMemory)
	}
	env := map[string]string{"VIDPIPE_TRANSCODE_SANDBOX": "required"}
	if err := config.Load("transcode", []string{"--transcode.sandbox_max_memory=0"}, func(k string) string { return env[k] }, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Transcode.Sandbox != "required" || cfg.Transcode.SandboxMaxMemory != 0 {
		t.Errorf("set: sandbox=%q sandbox_max_memory=%d", cfg.Transcode.Sandbox, cfg.Transcode.SandboxMaxMemory)
	}
	for key, mutate := range map[string]func(*Settings){
		"sandbox":            func(s *Settings) { s.Sandbox = "on" },
		"sandbox_max_memory": func(s *Settings) { s.SandboxMaxMemory = 1 << 20 },
	} {
		s := DefaultSettings()
		mutate(&s)
		var fe *config.FieldError
		if err := s.Validate(); !errors.As(err, &fe) || fe.Key != key {
			t.Errorf("Validate = %v, want a FieldError for %q", err, key)
		}
	}
}

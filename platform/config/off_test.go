package config_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/platform/config"
)

func TestZeroLoadsAsOff(t *testing.T) {
	t.Parallel()
	c, err := load(t, []string{"--stage.shutdown_grace=0", "--stage.batch_timeout=0s", "--stage.commit_interval=0", "--stage.stuck_timeout=0"}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	for key, got := range map[string]time.Duration{
		"shutdown_grace": c.Stage.ShutdownGrace, "batch_timeout": c.Stage.BatchTimeout,
		"commit_interval": c.Stage.CommitInterval, "stuck_timeout": c.Stage.StuckTimeout,
	} {
		if got != config.Off {
			t.Errorf("stage.%s=0 loaded as %v, want Off", key, got)
		}
	}
	if err := c.Stage.Validate(); err != nil {
		t.Errorf("a loaded Stage with Off fails Validate: %v", err)
	}
	if got := config.Redacted(c)["stage.commit_interval"]; got != "0s" {
		t.Errorf("Redacted shows Off as %v, want 0s", got)
	}
	// A zero that is not tagged zero:"off" stays 0 (and is refused).
	if _, err := load(t, []string{"--stage.abandon_grace=0"}, nil, ""); err == nil {
		t.Error("stage.abandon_grace=0 accepted")
	}
}

func TestWithDefaults(t *testing.T) {
	t.Parallel()
	if got, want := (config.Stage{}).WithDefaults(), config.DefaultStage(); got != want {
		t.Errorf("zero Stage with defaults = %+v, want %+v", got, want)
	}
	set := config.Stage{MaxAttempts: 2, CommitInterval: config.Off, HTTPAddr: "127.0.0.1:0"}.WithDefaults()
	if set.MaxAttempts != 2 || set.CommitInterval != config.Off || set.HTTPAddr != "127.0.0.1:0" {
		t.Errorf("WithDefaults replaced set fields: %+v", set)
	}
	if set.BatchTimeout != 5*time.Millisecond || set.ShutdownGrace != 30*time.Second {
		t.Errorf("WithDefaults left zero fields: %+v", set)
	}
	k := config.Kafka{TLS: config.KafkaTLS{CAFile: "ca.pem"}}.WithDefaults()
	want := config.Kafka{Brokers: []string{"127.0.0.1:9092"}, Partitions: 12, ReplicationFactor: 1, TLS: config.KafkaTLS{CAFile: "ca.pem"}}
	if !reflect.DeepEqual(k, want) {
		t.Errorf("Kafka with defaults = %+v, want %+v", k, want)
	}
}

package indexer

import (
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/platform/config"
)

func TestConfigLoad(t *testing.T) {
	tests := map[string]struct {
		args    []string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		"defaults": {
			check: func(t *testing.T, c Config) {
				if !c.Indexer.Migrate || c.Indexer.MigrateWait != 2*time.Minute {
					t.Errorf("indexer = %+v, want migrate=true migrate_wait=2m", c.Indexer)
				}
				if c.Kafka.ClientID != "indexer" {
					t.Errorf("client id = %q, want indexer", c.Kafka.ClientID)
				}
			},
		},
		"env and flags": {
			args: []string{"--indexer.migrate=false"},
			env:  map[string]string{"VIDPIPE_INDEXER_MIGRATE_WAIT": "10s"},
			check: func(t *testing.T, c Config) {
				if c.Indexer.Migrate || c.Indexer.MigrateWait != 10*time.Second {
					t.Errorf("indexer = %+v", c.Indexer)
				}
			},
		},
		"negative wait":                 {args: []string{"--indexer.migrate_wait=-1s"}, wantErr: "indexer.migrate_wait"},
		"more members than connections": {args: []string{"--stage.concurrency=4", "--postgres.max_conns=2"}, wantErr: "stage.concurrency"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var c Config
			err := config.Load("indexer", tc.args, func(k string) string { return tc.env[k] }, &c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

package config_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/platform/config"
)

func TestNewLogger(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		log       config.Log
		wantDebug bool
		wantInfo  bool
		json      bool
	}{
		"info text":     {log: config.Log{Level: "info", Format: "text"}, wantInfo: true},
		"debug json":    {log: config.Log{Level: "debug", Format: "json"}, wantDebug: true, wantInfo: true, json: true},
		"error json":    {log: config.Log{Level: "ERROR", Format: "JSON"}, json: true},
		"unknown level": {log: config.Log{Level: "", Format: ""}, wantInfo: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log := config.NewLogger(tt.log, &buf, "transcode")
			log.Debug("debug-msg")
			log.Info("info-msg", "video_id", "v1")
			out := buf.String()
			if got := strings.Contains(out, "debug-msg"); got != tt.wantDebug {
				t.Errorf("debug logged = %v, want %v:\n%s", got, tt.wantDebug, out)
			}
			if got := strings.Contains(out, "info-msg"); got != tt.wantInfo {
				t.Errorf("info logged = %v, want %v:\n%s", got, tt.wantInfo, out)
			}
			if !tt.wantInfo {
				return
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			line := lines[len(lines)-1]
			if tt.json {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("json record %q: %v", line, err)
				}
				if rec["service"] != "transcode" || rec["video_id"] != "v1" || rec["msg"] != "info-msg" {
					t.Errorf("json record %v lacks service=transcode, video_id=v1 or msg", rec)
				}
			} else if !strings.Contains(line, "service=transcode") || !strings.Contains(line, "video_id=v1") || !strings.HasPrefix(line, "time=") {
				t.Errorf("text record %q lacks service=transcode or video_id=v1", line)
			}
		})
	}
}

package transcode

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
)

func TestConfigDefaultsMatchDefaultSettings(t *testing.T) {
	t.Chdir(t.TempDir()) // no vidpipe.yaml
	var cfg Config
	if err := config.Load("transcode", nil, nil, &cfg); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(cfg.Transcode, DefaultSettings()) {
		t.Fatalf("loaded defaults\n%+v\nDefaultSettings\n%+v", cfg.Transcode, DefaultSettings())
	}
	if cfg.Transcode.Ladder != ladder.DefaultSpec {
		t.Errorf("default ladder %q, want ladder.DefaultSpec", cfg.Transcode.Ladder)
	}
	if cfg.Kafka.ClientID != "transcode" {
		t.Errorf("client id %q", cfg.Kafka.ClientID)
	}
}

func TestConfigFromEnvAndFlags(t *testing.T) {
	t.Chdir(t.TempDir())
	env := map[string]string{
		"VIDPIPE_TRANSCODE_LADDER":               "low:240:300k:64k,high:720:2M:128k",
		"VIDPIPE_TRANSCODE_MAX_DURATION":         "30m",
		"VIDPIPE_TRANSCODE_THREADS":              "2",
		"VIDPIPE_TRANSCODE_LOUDNESS_TARGET_LUFS": "-16",
	}
	var cfg Config
	err := config.Load("transcode", []string{"--transcode.preset=fast", "--transcode.gop_seconds=4", "--transcode.loudness.true_peak_dbtp=-2"}, func(k string) string { return env[k] }, &cfg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	s := cfg.Transcode
	if s.Ladder != env["VIDPIPE_TRANSCODE_LADDER"] || s.MaxDuration != 30*time.Minute || s.Threads != 2 || s.Preset != "fast" || s.GOPSeconds != 4 {
		t.Fatalf("settings %+v", s)
	}
	if l := s.Loudness; l.TargetLUFS != -16 || l.TruePeakDBTP != -2 || l.RangeLU != 11 || !l.Measure {
		t.Fatalf("loudness settings %+v, want target -16, true peak -2 and the other defaults", l)
	}
}

func TestConfigLoadRejectsBadSettings(t *testing.T) {
	t.Chdir(t.TempDir())
	var cfg Config
	err := config.Load("transcode", []string{"--transcode.preset=turbo", "--transcode.ladder=720p"}, nil, &cfg)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"transcode.preset", "transcode.ladder"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestSettingsValidate(t *testing.T) {
	tests := map[string]struct {
		mutate func(*Settings)
		key    string // "" = valid
	}{
		"defaults":              {mutate: func(*Settings) {}},
		"threads auto":          {mutate: func(s *Settings) { s.Threads = 0 }},
		"existing temp dir":     {mutate: func(s *Settings) { s.TempDir = "/" }},
		"bad ladder":            {mutate: func(s *Settings) { s.Ladder = "720p:721:2M:128k" }, key: "ladder"},
		"empty ladder":          {mutate: func(s *Settings) { s.Ladder = "" }, key: "ladder"},
		"zero duration":         {mutate: func(s *Settings) { s.MaxDuration = 0 }, key: "max_duration"},
		"duration over a week":  {mutate: func(s *Settings) { s.MaxDuration = 8 * 24 * time.Hour }, key: "max_duration"},
		"tiny pixel limit":      {mutate: func(s *Settings) { s.MaxPixels = 10 }, key: "max_pixels"},
		"pixel limit over 16K²": {mutate: func(s *Settings) { s.MaxPixels = 16385 * 16384 }, key: "max_pixels"},
		"zero file size":        {mutate: func(s *Settings) { s.MaxFileSize = 0 }, key: "max_file_size"},
		"negative threads":      {mutate: func(s *Settings) { s.Threads = -1 }, key: "threads"},
		"unknown preset":        {mutate: func(s *Settings) { s.Preset = "turbo" }, key: "preset"},
		"hevc preset slow":      {mutate: func(s *Settings) { s.HEVCPreset = "slow" }},
		"unknown hevc preset":   {mutate: func(s *Settings) { s.HEVCPreset = "turbo" }, key: "hevc_preset"},
		"av1 preset 0":          {mutate: func(s *Settings) { s.AV1Preset = 0 }, key: "av1_preset"},
		"av1 preset 14":         {mutate: func(s *Settings) { s.AV1Preset = 14 }, key: "av1_preset"},
		"codec ladder":          {mutate: func(s *Settings) { s.Ladder = "360p:360:800k:96k,720p:720:2M:128k,720p-hevc:720:1.5M:128k:hevc" }},
		"av1 rung":              {mutate: func(s *Settings) { s.Ladder = "360p:360:800k:96k,720p-av1:720:1.5M:128k:av1" }},
		"ladder without h264":   {mutate: func(s *Settings) { s.Ladder = "360p:360:800k:96k:hevc" }, key: "ladder"},
		"zero gop":              {mutate: func(s *Settings) { s.GOPSeconds = 0 }, key: "gop_seconds"},
		"huge gop":              {mutate: func(s *Settings) { s.GOPSeconds = 11 }, key: "gop_seconds"},
		"missing temp dir":      {mutate: func(s *Settings) { s.TempDir = "/no/such/dir" }, key: "temp_dir"},
		"no ffmpeg":             {mutate: func(s *Settings) { s.FFmpeg = "" }, key: "ffmpeg"},
		"no ffprobe":            {mutate: func(s *Settings) { s.FFprobe = "" }, key: "ffprobe"},
		"zero progress":         {mutate: func(s *Settings) { s.ProgressInterval = 0 }, key: "progress_interval"},
		"zero uploads":          {mutate: func(s *Settings) { s.UploadConcurrency = 0 }, key: "upload_concurrency"},
		"chunked past 24 h":     {mutate: func(s *Settings) { s.MaxDuration = 25 * time.Hour }, key: "max_duration"},
		"one pass past 24 h":    {mutate: func(s *Settings) { s.MaxDuration, s.ChunkSeconds = 48*time.Hour, 0 }},
		"negative chunk":        {mutate: func(s *Settings) { s.ChunkSeconds = -1 }, key: "chunk_seconds"},
		"negative first chunk":  {mutate: func(s *Settings) { s.FirstChunkSeconds = -1 }, key: "first_chunk_seconds"},
		"negative min duration": {mutate: func(s *Settings) { s.ChunkMinDuration = -time.Second }, key: "chunk_min_duration"},
		"loudness target -16":   {mutate: func(s *Settings) { s.Loudness.TargetLUFS = -16 }},
		"loudness target -4":    {mutate: func(s *Settings) { s.Loudness.TargetLUFS = -4 }, key: "loudness.target_lufs"},
		"loudness target -71":   {mutate: func(s *Settings) { s.Loudness.TargetLUFS = -71 }, key: "loudness.target_lufs"},
		"loudness peak +1":      {mutate: func(s *Settings) { s.Loudness.TruePeakDBTP = 1 }, key: "loudness.true_peak_dbtp"},
		"loudness peak -10":     {mutate: func(s *Settings) { s.Loudness.TruePeakDBTP = -10 }, key: "loudness.true_peak_dbtp"},
		"loudness range 0":      {mutate: func(s *Settings) { s.Loudness.RangeLU = 0 }, key: "loudness.range_lu"},
		"loudness range 51":     {mutate: func(s *Settings) { s.Loudness.RangeLU = 51 }, key: "loudness.range_lu"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := DefaultSettings()
			tc.mutate(&s)
			err := s.Validate()
			if tc.key == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var fe *config.FieldError
			if !errors.As(err, &fe) || fe.Key != tc.key {
				t.Fatalf("Validate = %v, want a FieldError for %q", err, tc.key)
			}
		})
	}
}

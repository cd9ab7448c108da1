package thumbnail

import (
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/platform/config"
)

func TestConfigDefaultsMatchDefaultSettings(t *testing.T) {
	var c Config
	if err := config.Load("thumbnail", nil, nil, &c); err != nil {
		t.Fatal(err)
	}
	if c.Thumbnail != DefaultSettings() {
		t.Errorf("loaded defaults %+v\n != DefaultSettings %+v", c.Thumbnail, DefaultSettings())
	}
	if err := DefaultSettings().Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	tests := map[string]struct {
		args    []string
		env     map[string]string
		wantErr string
	}{
		"flags and env are accepted": {args: []string{"--thumbnail.thumb_width=480", "--thumbnail.sprite=false"},
			env: map[string]string{"VIDPIPE_THUMBNAIL_SEEK_FRACTION": "0.5"}},
		"seek fraction of 1":      {args: []string{"--thumbnail.seek_fraction=1"}, wantErr: "thumbnail.seek_fraction"},
		"tiny thumbnail":          {args: []string{"--thumbnail.thumb_width=8"}, wantErr: "thumbnail.thumb_width"},
		"more columns than tiles": {args: []string{"--thumbnail.sprite_tiles=4", "--thumbnail.sprite_columns=5"}, wantErr: "thumbnail.sprite_columns"},
		"scan frames zero":        {args: []string{"--thumbnail.scan_frames=0"}, wantErr: "thumbnail.scan_frames"},
		"max pixels zero":         {args: []string{"--thumbnail.max_pixels=0"}, wantErr: "thumbnail.max_pixels"},
		"sandbox set":             {args: []string{"--thumbnail.sandbox_max_memory=0"}, env: map[string]string{"VIDPIPE_THUMBNAIL_SANDBOX": "required"}},
		"unknown sandbox mode":    {args: []string{"--thumbnail.sandbox=on"}, wantErr: "thumbnail.sandbox"},
		"tiny sandbox memory":     {args: []string{"--thumbnail.sandbox_max_memory=1048576"}, wantErr: "thumbnail.sandbox_max_memory"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var c Config
			err := config.Load("thumbnail", tc.args, func(k string) string { return tc.env[k] }, &c)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
			}
		})
	}
}

package probe

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	limits := Limits{MaxDuration: 2 * time.Hour, MaxPixels: 3840 * 2160, MaxFileSize: 1 << 30, MaxDimension: 16384}
	video := func(w, h int) *Video {
		return &Video{Index: 0, Codec: "h264", Width: w, Height: h, DisplayWidth: w, DisplayHeight: h, Duration: 10}
	}
	good := func() *Result {
		return &Result{FormatName: "mov,mp4,m4a,3gp,3g2,mj2", Duration: 10, Size: 1 << 20, Video: video(1920, 1080),
			Audio: &Audio{Index: 1, Codec: "aac"}, Streams: 2}
	}
	tests := map[string]struct {
		mutate  func(r *Result)
		limits  *Limits // nil: the defaults above
		wantErr string  // "" = accepted
	}{
		"good mp4":             {mutate: func(r *Result) {}},
		"good without audio":   {mutate: func(r *Result) { r.Audio = nil }},
		"matroska":             {mutate: func(r *Result) { r.FormatName = "matroska,webm" }},
		"mpegts":               {mutate: func(r *Result) { r.FormatName = "mpegts" }},
		"exactly 4K":           {mutate: func(r *Result) { r.Video = video(3840, 2160) }},
		"exactly max duration": {mutate: func(r *Result) { r.Duration = 7200; r.Video.Duration = 7200 }},
		"no limits":            {mutate: func(r *Result) { r.Video = video(8000, 8000); r.Duration = 1e6 }, limits: &Limits{}},

		"hls playlist":       {mutate: func(r *Result) { r.FormatName = "hls" }, wantErr: `container format "hls" is not allowed`},
		"concat list":        {mutate: func(r *Result) { r.FormatName = "concat" }, wantErr: `"concat" is not allowed`},
		"image sequence":     {mutate: func(r *Result) { r.FormatName = "image2" }, wantErr: `"image2" is not allowed`},
		"png pipe":           {mutate: func(r *Result) { r.FormatName = "png_pipe" }, wantErr: "not allowed"},
		"part of a name":     {mutate: func(r *Result) { r.FormatName = "mov" }, wantErr: `"mov" is not allowed`},
		"nothing recognised": {mutate: func(r *Result) { r.FormatName = "" }, wantErr: "not a media file"},
		"audio only":         {mutate: func(r *Result) { r.Video = nil }},
		"audio only mp3":     {mutate: func(r *Result) { r.Video, r.FormatName = nil, "mp3" }},
		"audio only flac":    {mutate: func(r *Result) { r.Video, r.FormatName = nil, "flac" }},
		"audio only wav":     {mutate: func(r *Result) { r.Video, r.FormatName = nil, "wav" }},
		"audio only too long": {mutate: func(r *Result) { r.Video, r.Duration = nil, 3*3600 },
			wantErr: "duration 3h0m0s exceeds the limit of 2h0m0s"},
		"audio stream longer than container": {mutate: func(r *Result) { r.Video, r.Audio.Duration = nil, 9*3600 },
			wantErr: "duration 9h0m0s exceeds"},
		"audio only no duration": {mutate: func(r *Result) { r.Video, r.Duration, r.Audio.Duration = nil, 0, 0 }, wantErr: "zero or unknown duration"},
		"audio only too big":     {mutate: func(r *Result) { r.Video, r.Size = nil, 2<<30 }, wantErr: "file size 2147483648 bytes exceeds"},
		"no streams":             {mutate: func(r *Result) { r.Video, r.Audio, r.Streams = nil, nil, 0 }, wantErr: "no video or audio stream (the file has 0 streams)"},
		"zero duration":          {mutate: func(r *Result) { r.Duration, r.Video.Duration = 0, 0 }, wantErr: "zero or unknown duration"},
		"too long": {mutate: func(r *Result) { r.Duration = 3 * 3600 },
			wantErr: "duration 3h0m0s exceeds the limit of 2h0m0s"},
		"stream longer than container": {mutate: func(r *Result) { r.Video.Duration = 9 * 3600 },
			wantErr: "duration 9h0m0s exceeds"},
		"too many pixels": {mutate: func(r *Result) { r.Video = video(4096, 2160) },
			wantErr: "video 4096x2160 (8847360 pixels) exceeds the limit of 8294400 pixels"},
		"absurd declared size": {mutate: func(r *Result) { r.Video = video(30000, 30000) }, wantErr: "exceeds the limit of 8294400 pixels"},
		"unknown dimensions":   {mutate: func(r *Result) { r.Video = video(0, 0) }, wantErr: "unknown dimensions"},
		"too wide": {mutate: func(r *Result) { r.Video = video(20000, 16) }, limits: &Limits{MaxDimension: 16384},
			wantErr: "exceeds the limit of 16384 pixels per side"},
		"file too big": {mutate: func(r *Result) { r.Size = 2 << 30 }, wantErr: "file size 2147483648 bytes exceeds the limit of 1073741824 bytes"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := good()
			tc.mutate(r)
			l := limits
			if tc.limits != nil {
				l = *tc.limits
			}
			err := r.Check(l)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Check error = %v, want one containing %q", err, tc.wantErr)
			}
			if !errors.Is(err, ErrRejected) {
				t.Errorf("error %v does not match ErrRejected", err)
			}
		})
	}
}

func TestFormatWhitelistCoversAllowedFormats(t *testing.T) {
	wl := map[string]bool{}
	for _, n := range strings.Split(FormatWhitelist, ",") {
		wl[n] = true
	}
	seen := map[string]bool{}
	for _, f := range AllowedFormats {
		for _, n := range strings.Split(f, ",") {
			if !wl[n] {
				t.Errorf("demuxer name %q of allowed format %q is not in FormatWhitelist", n, f)
			}
			seen[n] = true
		}
	}
	for n := range wl {
		if !seen[n] {
			t.Errorf("FormatWhitelist has %q, which no allowed format uses", n)
		}
	}
	for _, banned := range []string{"hls", "concat", "image2", "lavfi", "tty", "data"} {
		if wl[banned] {
			t.Errorf("FormatWhitelist must not contain %q", banned)
		}
	}
}

package ffmpeg

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/services/transcode/ladder"
	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

func source(audio bool, fps string, fpsValue float64) *probe.Result {
	r := &probe.Result{
		FormatName: "mov,mp4,m4a,3gp,3g2,mj2", Duration: 10,
		Video: &probe.Video{Index: 0, Codec: "h264", Width: 1920, Height: 1080, DisplayWidth: 1920, DisplayHeight: 1080,
			FrameRate: fps, FPS: fpsValue},
	}
	if audio {
		r.Audio = &probe.Audio{Index: 1, Codec: "aac"}
	}
	return r
}

// after returns the argument following the first occurrence of flag at or after from.
func after(args []string, flag string) string {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

func count(args []string, s string) int {
	n := 0
	for _, a := range args {
		if a == s {
			n++
		}
	}
	return n
}

func TestArgs(t *testing.T) {
	full := ladder.MustParse(ladder.DefaultSpec).Select(1920, 1080)
	tests := map[string]struct {
		job   Job
		check func(t *testing.T, args []string)
	}{
		"four rungs with audio": {
			job: Job{Input: "source", Source: source(true, "30/1", 30), Renditions: full},
			check: func(t *testing.T, args []string) {
				// A cascade: 1080p from the source, each smaller rung from the next larger.
				wantGraph := "[0:0]fps=30/1,scale=w=1920:h=1080,setsar=1,format=yuv420p,split=2[v3][c1]" +
					";[c1]scale=w=1280:h=720,setsar=1,format=yuv420p,split=2[v2][c2]" +
					";[c2]scale=w=854:h=480,setsar=1,format=yuv420p,split=2[v1][c3]" +
					";[c3]scale=w=640:h=360,setsar=1,format=yuv420p[v0]"
				if got := after(args, "-filter_complex"); got != wantGraph {
					t.Errorf("filter graph\n got %s\nwant %s", got, wantGraph)
				}
				if n := count(args, "tee"); n != 1 {
					t.Errorf("%d tee outputs, want 1 (every encode in one output)", n)
				}
				// Video streams 0..3 (one per rung), then one AAC encode per
				// distinct bitrate: 96k, 128k (shared by 480p and 720p), 160k.
				if n := count(args, "0:1"); n != 3 {
					t.Errorf("audio mapped %d times, want once per distinct bitrate (3)", n)
				}
				for i := range 4 {
					if got := after(args, fmt.Sprintf("-c:v:%d", i)); got != "libx264" {
						t.Errorf("-c:v:%d %q, want libx264 (each rung's stream its encoder)", i, got)
					}
				}
				if n := count(args, "libx264"); n != 4 || count(args, "-c:v") != 0 {
					t.Errorf("libx264 given %d times, want once per video stream", n)
				}
				if n := count(args, "-i"); n != 1 {
					t.Errorf("%d inputs, want 1 (one decode)", n)
				}
				// Fixed 2 s GOP at 30 fps, no scene cuts, forced keyframes every 2 s.
				for i := range 4 {
					v := fmt.Sprintf(":v:%d", i)
					if after(args, "-g"+v) != "60" || after(args, "-keyint_min"+v) != "60" || after(args, "-sc_threshold"+v) != "0" {
						t.Errorf("GOP args: -g %s -keyint_min %s -sc_threshold %s", after(args, "-g"+v), after(args, "-keyint_min"+v), after(args, "-sc_threshold"+v))
					}
					if got := after(args, "-force_key_frames"+v); got != "expr:gte(t,n_forced*2)" {
						t.Errorf("-force_key_frames%s %s", v, got)
					}
					if slices.Contains(args, "-mbtree"+v) {
						t.Errorf("-mbtree%s in the single pass", v)
					}
				}
				for flag, want := range map[string]string{
					"-b:v:0": "800000", "-b:v:1": "1400000", "-b:v:2": "2800000", "-b:v:3": "5000000",
					"-b:a:0": "96000", "-b:a:1": "128000", "-b:a:2": "160000", "-b:a:3": "",
					"-b:v": "", "-b:a": "",
				} {
					if got := after(args, flag); got != want {
						t.Errorf("%s %q, want %q", flag, got, want)
					}
				}
				slaves := strings.Split(args[len(args)-1], "|")
				if len(slaves) != 11 {
					t.Fatalf("%d tee slaves, want 11 (MP4 + fragmented video per rung, fragmented audio per bitrate): %q", len(slaves), slaves)
				}
				frag := func(name, sel string) string {
					return "[f=mp4:select=" + sel + ":movflags=+frag_keyframe+empty_moov+default_base_moof:video_track_timescale=90000:fflags=+bitexact]hls/" + name + "/fragmented.mp4"
				}
				audio := func(group, sel string) string {
					return "[f=mp4:select=" + sel + ":movflags=+empty_moov+default_base_moof:frag_duration=2000000:fflags=+bitexact]hls/audio/" + group + "/fragmented.mp4"
				}
				want := []string{
					"[f=mp4:movflags=+faststart:select=0,4]mp4/360p.mp4", frag("360p", "0"),
					"[f=mp4:movflags=+faststart:select=1,5]mp4/480p.mp4", frag("480p", "1"),
					"[f=mp4:movflags=+faststart:select=2,5]mp4/720p.mp4", frag("720p", "2"),
					"[f=mp4:movflags=+faststart:select=3,6]mp4/1080p.mp4", frag("1080p", "3"),
					audio("96k", "4"), audio("128k", "5"), audio("160k", "6"),
				}
				for i := range want {
					if slaves[i] != want[i] {
						t.Errorf("tee slave %d\n got %s\nwant %s", i, slaves[i], want[i])
					}
				}
				// A VBV cap would make frame-threaded x264 output differ run to run.
				for _, vbv := range []string{"-maxrate", "-bufsize"} {
					if slices.Contains(args, vbv) {
						t.Errorf("args contain %s: output would not be repeatable", vbv)
					}
				}
				if slices.Contains(args, "-threads") {
					t.Errorf("-threads given with Threads 0 (auto)")
				}
			},
		},
		"no audio maps no audio": {
			job: Job{Input: "source", Source: source(false, "25/1", 25), Renditions: full[:1]},
			check: func(t *testing.T, args []string) {
				for _, a := range []string{"0:1", "-c:a", "aac", "-b:a", "-b:a:0"} {
					if slices.Contains(args, a) {
						t.Errorf("args contain %q without an audio stream: %q", a, args)
					}
				}
				if last := args[len(args)-1]; !strings.HasPrefix(last, "[f=mp4:movflags=+faststart:select=0]mp4/360p.mp4|[f=mp4:select=0:") || strings.Count(last, "|") != 1 {
					t.Errorf("tee target %s, want slaves selecting the video stream only", last)
				}
				if got := after(args, "-filter_complex"); got != "[0:0]fps=25/1,scale=w=640:h=360,setsar=1,format=yuv420p[v0]" {
					t.Errorf("filter graph %s", got)
				}
				if after(args, "-g:v:0") != "50" {
					t.Errorf("-g %s, want 50 at 25 fps", after(args, "-g:v:0"))
				}
			},
		},
		"hardening": {
			job: Job{Input: "source", Source: source(true, "30/1", 30), Renditions: full[:2],
				Encoding: Encoding{MaxPixels: 8294400, Threads: 2, Preset: "ultrafast", GOPSeconds: 4,
					Decoders: []string{"h264", "aac", "aac_fixed"}, MaxSeconds: 11.5}},
			check: func(t *testing.T, args []string) {
				in := slices.Index(args, "-i")
				before := args[:in]
				// The output's timeline is capped: -t after the input, before the tee target.
				if got := after(args[in:], "-t"); got != "11.500" {
					t.Errorf("output -t %q, want 11.500", got)
				}
				if slices.Contains(before, "-t") {
					t.Errorf("-t among the input options")
				}
				for _, pair := range [][2]string{
					{"-protocol_whitelist", "file"},
					{"-format_whitelist", probe.FormatWhitelist},
					{"-probesize", probe.ProbeSize},
					{"-analyzeduration", probe.AnalyzeDuration},
					{"-codec_whitelist", "h264,aac,aac_fixed"},
					{"-max_pixels", "8294400"},
					{"-f", "mov"},
					{"-threads", "2"},
				} {
					if after(before, pair[0]) != pair[1] {
						t.Errorf("input options %q lack %s %s", before, pair[0], pair[1])
					}
				}
				if args[in+1] != "file:source" {
					t.Errorf("input %q, want file:source", args[in+1])
				}
				for _, flag := range []string{"-nostdin", "-hide_banner"} {
					if !slices.Contains(before, flag) {
						t.Errorf("no %s", flag)
					}
				}
				if count(args, "-map_metadata") != 1 || after(args, "-map_metadata") != "-1" || after(args, "-map_chapters") != "-1" {
					t.Errorf("-map_metadata -1 and -map_chapters -1 must be on the output")
				}
				if after(args, "-progress") != "pipe:1" {
					t.Errorf("-progress %s", after(args, "-progress"))
				}
				if after(args, "-preset:v:0") != "ultrafast" || after(args, "-filter_complex_threads") != "2" {
					t.Errorf("preset/threads not applied")
				}
				if count(args, "-threads") != 2 {
					t.Errorf("-threads given %d times, want input + the output's encoders", count(args, "-threads"))
				}
				if after(args, "-g:v:1") != "120" || after(args, "-force_key_frames:v:1") != "expr:gte(t,n_forced*4)" {
					t.Errorf("4 s GOP: -g %s, %s", after(args, "-g:v:1"), after(args, "-force_key_frames:v:1"))
				}
			},
		},
		"interlaced is deinterlaced first": {
			job: Job{Input: "source", Source: func() *probe.Result {
				s := source(true, "25/1", 25)
				s.Video.Interlaced = true
				return s
			}(), Renditions: full[:1]},
			check: func(t *testing.T, args []string) {
				if got := after(args, "-filter_complex"); !strings.HasPrefix(got, "[0:0]yadif=deint=interlaced,fps=25/1,") {
					t.Errorf("filter graph %s", got)
				}
			},
		},
		"high frame rate is capped at 60": {
			job: Job{Input: "source", Source: source(true, "120/1", 120), Renditions: full[:1]},
			check: func(t *testing.T, args []string) {
				if got := after(args, "-filter_complex"); !strings.Contains(got, "fps=60,") || after(args, "-g:v:0") != "120" {
					t.Errorf("filter graph %s, -g %s", got, after(args, "-g:v:0"))
				}
			},
		},
		"unknown frame rate means 30": {
			job: Job{Input: "source", Source: source(true, "", 0), Renditions: full[:1]},
			check: func(t *testing.T, args []string) {
				if got := after(args, "-filter_complex"); !strings.Contains(got, "fps=30,") {
					t.Errorf("filter graph %s", got)
				}
			},
		},
		"NTSC rate rounds the GOP up": {
			job: Job{Input: "source", Source: source(true, "30000/1001", 29.97), Renditions: full[:1]},
			check: func(t *testing.T, args []string) {
				if after(args, "-g:v:0") != "60" {
					t.Errorf("-g %s, want 60", after(args, "-g:v:0"))
				}
			},
		},
		"stream indexes come from the probe": {
			job: Job{Input: "source", Source: func() *probe.Result {
				s := source(true, "30/1", 30)
				s.Video.Index, s.Audio.Index = 2, 5
				s.FormatName = "matroska,webm"
				return s
			}(), Renditions: full[:1]},
			check: func(t *testing.T, args []string) {
				if got := after(args, "-filter_complex"); !strings.HasPrefix(got, "[0:2]") || !slices.Contains(args, "0:5") {
					t.Errorf("graph %s, args %q", got, args)
				}
				if after(args, "-f") != "matroska" {
					t.Errorf("-f %s, want matroska", after(args, "-f"))
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			args, err := tc.job.Args()
			if err != nil {
				t.Fatalf("Args: %v", err)
			}
			tc.check(t, args)
		})
	}
}

func TestArgsErrors(t *testing.T) {
	if _, err := (Job{Source: &probe.Result{}}).Args(); err == nil {
		t.Error("no video stream: no error")
	}
	if _, err := (Job{Source: source(true, "30/1", 30)}).Args(); err == nil {
		t.Error("no renditions: no error")
	}
}

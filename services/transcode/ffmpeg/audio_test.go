package ffmpeg

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/services/transcode/hls"
	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

func TestAudioGroup(t *testing.T) {
	for b, want := range map[int64]string{128000: "128k", 96000: "96k", 64499: "64k", 64500: "65k", 1_000_000: "1000k"} {
		if got := AudioGroup(b); got != want {
			t.Errorf("AudioGroup(%d) = %s, want %s", b, got, want)
		}
	}
	if got := AudioDir(128000); got != "hls/audio/128k" {
		t.Errorf("AudioDir = %s", got)
	}
}

func TestAudioArgs(t *testing.T) {
	src := source(true, "30/1", 30)
	src.Audio.Index = 2
	args, err := AudioJob{Input: "src.mp4", Source: src, Bitrates: []int64{96000, 128000},
		Encoding: Encoding{GOPSeconds: 4, Threads: 2, Decoders: []string{"h264", "aac"}}, MaxSeconds: 12.5}.Args()
	if err != nil {
		t.Fatal(err)
	}
	in := slices.Index(args, "-i")
	if args[in+1] != "file:src.mp4" || count(args, "-i") != 1 {
		t.Errorf("inputs %q", args[in:])
	}
	for _, pair := range [][2]string{{"-protocol_whitelist", "file"}, {"-format_whitelist", probe.FormatWhitelist},
		{"-codec_whitelist", "h264,aac"}, {"-f", "mov"}, {"-threads", "2"}} {
		if after(args[:in], pair[0]) != pair[1] {
			t.Errorf("input options %q lack %s %s", args[:in], pair[0], pair[1])
		}
	}
	// One output per bitrate, each the single pass's AAC encode into its own fragmented MP4.
	outs := outputs(t, append([]string{"-filter_complex", ""}, args[in+2:]...))
	if len(outs) != 2 {
		t.Fatalf("%d outputs, want 2: %q", len(outs), outs)
	}
	for i, b := range []int64{96000, 128000} {
		out := outs[i]
		for flag, want := range map[string]string{
			"-map": "0:2", "-c:a": "aac", "-ac": "2", "-ar": "48000", "-b:a": map[int]string{0: "96000", 1: "128000"}[i],
			"-t": "12.500", "-f": "mp4", "-frag_duration": "4000000", "-movflags": "+empty_moov+default_base_moof",
			"-fflags": "+bitexact", "-map_metadata": "-1", "-map_chapters": "-1",
		} {
			if got := after(out, flag); got != want {
				t.Errorf("output %d: %s %q, want %q", i, flag, got, want)
			}
		}
		if !slices.Contains(out, "-vn") || out[len(out)-1] != AudioDir(b)+"/fragmented.mp4" {
			t.Errorf("output %d: %q", i, out)
		}
	}
	// No cap without MaxSeconds.
	args, err = AudioJob{Input: "s", Source: src, Bitrates: []int64{96000}}.Args()
	if err != nil || slices.Contains(args, "-t") || after(args, "-frag_duration") != "2000000" {
		t.Errorf("default job: %v %q", err, args)
	}
}

func TestAudioArgsErrors(t *testing.T) {
	src := source(true, "30", 30)
	for name, j := range map[string]AudioJob{
		"no audio":         {Source: source(false, "30", 30), Bitrates: []int64{96000}},
		"no source":        {Bitrates: []int64{96000}},
		"no bitrates":      {Source: src},
		"same group twice": {Source: src, Bitrates: []int64{128000, 128400}},
		"zero bitrate":     {Source: src, Bitrates: []int64{0}},
		"negative cap":     {Source: src, Bitrates: []int64{96000}, MaxSeconds: -1},
	} {
		if _, err := j.Args(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// The audio job's fragmented MP4s are cut while ffmpeg writes them (as
// the audio worker does) into whole segments covering the source's audio,
// presented from 0 after the priming.
func TestAudioJobCutWhileWriting(t *testing.T) {
	dir := t.TempDir()
	MustFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10:duration=5",
		"-f", "lavfi", "-i", "sine=frequency=300:duration=5", "-c:v", "libx264", "-preset", "ultrafast",
		"-c:a", "aac", "-f", "mp4", filepath.Join(dir, "source"))
	src, err := probe.Prober{Path: harness.MustTool(t, "ffprobe")}.Probe(context.Background(), filepath.Join(dir, "source"))
	if err != nil {
		t.Fatal(err)
	}
	bitrates := []int64{64000, 96000}
	for _, b := range bitrates {
		mkdirs(t, filepath.Join(dir, AudioDir(b)))
	}
	job := AudioJob{Input: "source", Source: src, Bitrates: bitrates, Encoding: Encoding{GOPSeconds: 2}}
	args, err := job.Args()
	if err != nil {
		t.Fatal(err)
	}
	cutters := []*TrackCutter{job.Cutter(dir, bitrates[0]), job.Cutter(dir, bitrates[1])}
	ran := make(chan error, 1)
	go func() { ran <- (Runner{Path: harness.MustTool(t, "ffmpeg")}).Run(context.Background(), dir, args, 5) }()
	for done := false; !done; {
		select {
		case err := <-ran:
			if err != nil {
				t.Fatal(err)
			}
			done = true
		case <-time.After(20 * time.Millisecond):
		}
		for _, c := range cutters {
			if _, err := c.Poll(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, b := range bitrates {
		if err := cutters[i].Finish(); err != nil {
			t.Fatal(err)
		}
		playlist := filepath.Join(dir, AudioDir(b), PlaylistName)
		text, err := os.ReadFile(playlist)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(text), "#EXT-X-MAP:URI=\"init.mp4\"") || !strings.HasSuffix(string(text), "#EXT-X-ENDLIST\n") {
			t.Errorf("%s:\n%s", playlist, text)
		}
		segs, err := hls.ReadMediaPlaylist(playlist)
		if err != nil {
			t.Fatal(err)
		}
		total := 0.0
		for _, s := range segs {
			total += s.Duration
		}
		if len(segs) != 3 || total < 5 || total > 5+2048.0/48000 {
			t.Errorf("%s: %d segments, %.6f s: want 3 covering the 5 s (+ priming and padding)", AudioGroup(b), len(segs), total)
		}
		files, _ := os.ReadDir(filepath.Join(dir, AudioDir(b)))
		if len(files) != len(segs)+2 {
			var names []string
			for _, f := range files {
				names = append(names, f.Name())
			}
			t.Errorf("%s holds %q, want the init, the playlist and its %d segments (ffmpeg's file removed)", AudioDir(b), names, len(segs))
		}
		first := probePackets(t, "concat:"+filepath.Join(dir, AudioDir(b), InitName)+"|"+filepath.Join(dir, AudioDir(b), segs[0].URI), "a:0")
		if got := first.seconds(first.Packets[0].PTS); math.Abs(got+1024.0/48000) > 1e-6 {
			t.Errorf("%s: first PTS %.6f, want -1024 samples (the priming before 0)", AudioGroup(b), got)
		}
	}
}

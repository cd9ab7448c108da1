package ffmpeg

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestAssembleArgs(t *testing.T) {
	args := AssembleArgs([]string{"hls/360p/init.mp4", "hls/360p/seg_00000.m4s"},
		[]string{"hls/audio/96k/init.mp4", "hls/audio/96k/seg_00000.m4s"}, "mp4/360p.mp4")
	if n := count(args, "-i"); n != 2 {
		t.Fatalf("%d inputs, want video and audio: %q", n, args)
	}
	i := slices.Index(args, "-i")
	if args[i+1] != "concat:hls/360p/init.mp4|hls/360p/seg_00000.m4s" ||
		args[slices.Index(args[i+1:], "-i")+i+2] != "concat:hls/audio/96k/init.mp4|hls/audio/96k/seg_00000.m4s" {
		t.Errorf("inputs %q", args)
	}
	if count(args, "mov") != 4 || after(args, "-protocol_whitelist") != "file,concat" {
		t.Errorf("inputs must be fragmented MP4 read through concat: only: %q", args)
	}
	for flag, want := range map[string]string{
		"-c": "copy", "-movflags": "+faststart", "-map_metadata": "-1",
		"-map_chapters": "-1", "-f": "mov",
	} {
		if got := after(args, flag); got != want {
			t.Errorf("%s %q, want %q", flag, got, want)
		}
	}
	if !slices.Contains(args, "-copyts") || slices.Index(args, "-copyts") > i {
		t.Errorf("-copyts missing or after the inputs: %q", args)
	}
	if !slices.Contains(args, "0:v:0") || !slices.Contains(args, "1:a:0") || args[len(args)-1] != "mp4/360p.mp4" ||
		args[len(args)-2] != "mp4" {
		t.Errorf("maps/output: %q", args)
	}

	if slices.Contains(args, "-output_ts_offset") || slices.Contains(args, "-bsf:a") {
		t.Errorf("timestamps shifted or audio filtered: %q", args)
	}
	video := AssembleArgs([]string{"init.mp4", "a.m4s"}, nil, "out.mp4")
	if count(video, "-i") != 1 || slices.Contains(video, "1:a:0") {
		t.Errorf("video only: %q", video)
	}
}

func TestAssembleListArgs(t *testing.T) {
	args := AssembleListArgs("v.txt", "a.txt", "out.mp4")
	if i := slices.Index(args, "-i"); args[i+1] != "concatf:v.txt" || after(args, "-protocol_whitelist") != "file,concatf" {
		t.Errorf("%q", args)
	}
	if count(args, "-i") != 2 || !slices.Contains(args, "concatf:a.txt") {
		t.Errorf("%q", args)
	}
	if video := AssembleListArgs("v.txt", "", "out.mp4"); count(video, "-i") != 1 || slices.Contains(video, "-bsf:a") {
		t.Errorf("video only: %q", video)
	}
	list := filepath.Join(t.TempDir(), "list.txt")
	if err := WriteConcatList(list, []string{"/w/a.m4s", "b.m4s"}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(list); string(data) != "/w/a.m4s\nb.m4s\n" {
		t.Errorf("list %q", data)
	}
	if err := WriteConcatList(list, []string{"a\nb.m4s"}); err == nil {
		t.Error("a line break in a path: no error")
	}
}

package cmaf_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/vidpipe/vidpipe/services/transcode/cmaf"
)

func run(tb testing.TB, dir, name string, args ...string) string {
	tb.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s %v: %v\n%s", name, args, err, errb.String())
	}
	return out.String()
}

// encode writes frames [start, start+frames) of a 30 fps testsrc2 as a
// fragmented MP4 with a keyframe every 2 s from its first frame, as the
// transcode chunks do.
func encode(tb testing.TB, dir, out string, start, frames int) {
	tb.Helper()
	run(tb, dir, "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=s=160x90:r=30:d=10",
		"-vf", fmt.Sprintf("trim=start_frame=%d,setpts=PTS-STARTPTS+%d/30/TB", start, start),
		"-c:v", "libx264", "-preset", "ultrafast", "-bf", "3", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
		"-force_key_frames", "expr:gte(t,n_forced*2)", "-frames:v", strconv.Itoa(frames),
		"-map_metadata", "-1", "-fflags", "+bitexact", "-video_track_timescale", "90000",
		"-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", out)
}

func split(tb testing.TB, file string, s *cmaf.Splitter) []cmaf.Segment {
	tb.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	// Fed in pieces, as a growing file is.
	var segs []cmaf.Segment
	for len(b) > 0 {
		n := min(len(b), 777)
		s.Write(b[:n])
		b = b[n:]
		got, err := s.Segments()
		if err != nil {
			tb.Fatal(err)
		}
		segs = append(segs, got...)
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	return segs
}

// TestChunksOnOneTimeline cuts two chunks (frames 0-119 and 120-269 of a
// 30 fps video) and checks that init + every segment plays as one video:
// the same frames as the single encode's, at the right times, and that
// each segment's tfdt is the previous one's plus its duration.
func TestChunksOnOneTimeline(t *testing.T) {
	dir := t.TempDir()
	encode(t, dir, "c0.mp4", 0, 120)
	encode(t, dir, "c1.mp4", 120, 150)
	ts, ft, err := cmaf.VideoTimescale(30, 1)
	if err != nil || ts != 90000 || ft != 3000 {
		t.Fatalf("VideoTimescale(30, 1) = %d, %d, %v", ts, ft, err)
	}
	s0 := &cmaf.Splitter{Kind: cmaf.Video, FrameTicks: ft}
	segs := split(t, filepath.Join(dir, "c0.mp4"), s0)
	s1 := &cmaf.Splitter{Kind: cmaf.Video, FrameTicks: ft, Start: 120 * uint64(ft), Sequence: uint32(len(segs))}
	segs = append(segs, split(t, filepath.Join(dir, "c1.mp4"), s1)...)
	if !bytes.Equal(s0.Init(), s1.Init()) {
		t.Fatal("the two chunks' init segments differ")
	}
	if c, err := cmaf.Codec(s0.Init()); err != nil || !strings.HasPrefix(c, "avc1.") || len(c) != len("avc1.64000c") {
		t.Errorf("Codec = %q, %v; want avc1.PPCCLL", c, err)
	}
	if len(segs) != 5 { // 2+2 s, then 2+2+1 s
		t.Fatalf("%d segments, want 5", len(segs))
	}
	var next uint64
	var all bytes.Buffer
	all.Write(s0.Init())
	for i, sg := range segs {
		if sg.Start != next {
			t.Errorf("segment %d starts at %d, want %d", i, sg.Start, next)
		}
		next = sg.Start + sg.Duration
		f, err := mp4.DecodeFile(bytes.NewReader(sg.Data))
		if err != nil {
			t.Fatal(err)
		}
		frag := f.Segments[0].Fragments[0]
		if got := frag.Moof.Traf.Tfdt.BaseMediaDecodeTime(); got != sg.Start {
			t.Errorf("segment %d tfdt %d, want %d", i, got, sg.Start)
		}
		if got := frag.Moof.Mfhd.SequenceNumber; got != uint32(i+1) {
			t.Errorf("segment %d sequence number %d", i, got)
		}
		all.Write(sg.Data)
	}
	if next != 270*3000 {
		t.Errorf("timeline ends at %d, want %d", next, 270*3000)
	}
	if err := os.WriteFile(filepath.Join(dir, "all.mp4"), all.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// Presentation times: frame n at n/30 s, from 0, no edit list needed.
	pts := strings.Fields(run(t, dir, "ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=pts",
		"-of", "default=nw=1:nk=1", "all.mp4"))
	if len(pts) != 270 {
		t.Fatalf("%d frames, want 270", len(pts))
	}
	for n, p := range pts {
		if p != strconv.Itoa(n*3000) {
			t.Log(run(t, dir, "ffprobe", "-v", "error", "-show_entries", "packet=pts,dts,flags", "-read_intervals", "%+#8", "-of", "compact", "all.mp4"))
			t.Fatalf("frame %d at pts %s, want %d", n, p, n*3000)
		}
	}
	// Every frame decodes (B-frames with negative composition offsets).
	dec := run(t, dir, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", "all.mp4", "-map", "0:v", "-f", "framemd5", "-")
	n := 0
	for _, l := range strings.Split(dec, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			n++
		}
	}
	if n != 270 {
		t.Fatalf("%d frames decoded, want 270", n)
	}
}

// TestAudioPriming: the audio init skips the AAC priming, so the first
// source sample plays at 0.
func TestAudioPriming(t *testing.T) {
	dir := t.TempDir()
	run(t, dir, "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=f=440:d=5",
		"-c:a", "aac", "-ac", "2", "-ar", "48000", "-b:a", "96k", "-map_metadata", "-1", "-fflags", "+bitexact",
		"-frag_duration", "2000000", "-movflags", "+empty_moov+default_base_moof", "-f", "mp4", "a.mp4")
	s := &cmaf.Splitter{Kind: cmaf.Audio}
	segs := split(t, filepath.Join(dir, "a.mp4"), s)
	if c, err := cmaf.Codec(s.Init()); err != nil || c != "mp4a.40.2" {
		t.Errorf("Codec = %q, %v; want mp4a.40.2", c, err)
	}
	if s.Timescale() != 48000 || len(segs) != 3 {
		t.Fatalf("timescale %d, %d segments; want 48000, 3", s.Timescale(), len(segs))
	}
	var all bytes.Buffer
	all.Write(s.Init())
	var next uint64
	for i, sg := range segs {
		if sg.Start != next || (i < len(segs)-1 && sg.Duration%1024 != 0) {
			t.Errorf("segment %d: start %d duration %d", i, sg.Start, sg.Duration)
		}
		next += sg.Duration
		all.Write(sg.Data)
	}
	if err := os.WriteFile(filepath.Join(dir, "all.mp4"), all.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got := strings.TrimSpace(run(t, dir, "ffprobe", "-v", "error", "-show_entries", "stream=start_time,duration",
		"-of", "default=nw=1", "all.mp4"))
	// The priming packet is presented before 0, source sample 0 at 0 (as
	// in ffmpeg's own MP4s, whose edit list does the same).
	if !strings.Contains(got, "start_time=-0.021333") || !strings.Contains(got, "duration=5.0") {
		t.Fatalf("audio stream %q, want start_time -0.021333 (1024 samples of priming before 0)", got)
	}
}

// A file cut short (ffmpeg killed) or out of order is an error, not fewer
// segments.
func TestSplitterRefusesBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	encode(t, dir, "c.mp4", 0, 90)
	b, err := os.ReadFile(filepath.Join(dir, "c.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	short := &cmaf.Splitter{Kind: cmaf.Video}
	short.Write(b[:len(b)-10])
	if _, err := short.Segments(); err != nil {
		t.Fatal(err)
	}
	if err := short.Close(); err == nil || !strings.Contains(err.Error(), "ends inside a box") {
		t.Errorf("truncated file: Close() = %v", err)
	}
	early := &cmaf.Splitter{Kind: cmaf.Video}
	early.Write([]byte{0, 0, 0, 8, 'm', 'o', 'o', 'f'})
	if _, err := early.Segments(); err == nil || !strings.Contains(err.Error(), "moof before moov") {
		t.Errorf("moof first: %v", err)
	}
	empty := &cmaf.Splitter{Kind: cmaf.Video}
	if err := empty.Close(); err == nil {
		t.Error("no init: Close() = nil")
	}
	// Every sample is one frame long when FrameTicks says so, whatever
	// ffmpeg wrote: 90 frames of 3000 ticks.
	s := &cmaf.Splitter{Kind: cmaf.Video, FrameTicks: 3000}
	s.Write(b)
	segs, err := s.Segments()
	if err != nil || s.Close() != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, sg := range segs {
		total += sg.Duration
	}
	if len(segs) != 2 || total != 90*3000 {
		t.Errorf("%d segments lasting %d ticks, want 2 lasting %d", len(segs), total, 90*3000)
	}
}

func TestVideoTimescale(t *testing.T) {
	for _, tc := range []struct {
		num, den  int64
		ts, ticks uint32
		wantErr   bool
	}{
		{30, 1, 90000, 3000, false},
		{30000, 1001, 90000, 3003, false},
		{24000, 1001, 96000, 4004, false},
		{25, 1, 90000, 3600, false},
		{60, 1, 90000, 1500, false},
		{0, 1, 0, 0, true},
	} {
		ts, ticks, err := cmaf.VideoTimescale(tc.num, tc.den)
		if ts != tc.ts || ticks != tc.ticks || (err != nil) != tc.wantErr {
			t.Errorf("VideoTimescale(%d, %d) = %d, %d, %v", tc.num, tc.den, ts, ticks, err)
		}
	}
}

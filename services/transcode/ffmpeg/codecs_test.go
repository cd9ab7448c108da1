package ffmpeg

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/services/transcode/cmaf"
	"github.com/vidpipe/vidpipe/services/transcode/hls"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

// codecSource writes a 6 s 640x360 30 fps testsrc2 with temporal noise
// (so the encoders have detail to spend bits on) and probes it.
func codecSource(t *testing.T, dir string) (string, *probe.Result) {
	t.Helper()
	source := filepath.Join(dir, "source.mp4")
	MustFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=6", "-vf", "noise=alls=6:allf=t",
		"-c:v", "libx264", "-preset", "ultrafast", "-qp", "12", "-g", "45", "-pix_fmt", "yuv420p", "-f", "mp4", source)
	src, err := probe.Prober{Path: harness.MustTool(t, "ffprobe")}.Probe(context.Background(), source)
	if err != nil {
		t.Fatal(err)
	}
	return source, src
}

// videoStream is what ffprobe says of a file's first video stream.
type videoStream struct {
	Codec   string `json:"codec_name"`
	Tag     string `json:"codec_tag_string"`
	Profile string `json:"profile"`
	Level   int    `json:"level"`
	PixFmt  string `json:"pix_fmt"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
}

func probeVideo(tb testing.TB, url string) videoStream {
	tb.Helper()
	out, err := exec.Command(harness.MustTool(tb, "ffprobe"), "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,codec_tag_string,profile,level,pix_fmt,width,height", "-of", "json", url).Output()
	if err != nil {
		tb.Fatalf("ffprobe %s: %v", url, err)
	}
	var raw struct{ Streams []videoStream }
	if err := json.Unmarshal(out, &raw); err != nil || len(raw.Streams) != 1 {
		tb.Fatalf("ffprobe %s: %v: %s", url, err, out)
	}
	return raw.Streams[0]
}

// keyTimes are the presentation times (s) of the keyframes of the first
// video stream of url, relative to its first frame.
func keyTimes(tb testing.TB, url string) (keys []float64, frames int) {
	tb.Helper()
	s := probePackets(tb, url, "v:0")
	first := s.Packets[0].PTS
	for _, p := range s.Packets {
		first = min(first, p.PTS)
	}
	for _, p := range s.Packets {
		if p.Key {
			keys = append(keys, math.Round(s.seconds(p.PTS-first)*1000)/1000)
		}
	}
	slices.Sort(keys)
	return keys, len(s.Packets)
}

// checkTimeline checks that the video of the assembled MP4 and of its
// CMAF track (segs: the init segment, then the media segments, relative to
// dir) is presented from 0, one frame at fps after another: the cut kept
// the encoder's composition offsets (B-frames, x265's reordering).
func checkTimeline(t *testing.T, what, mp4, dir string, segs []string, fps float64) {
	t.Helper()
	for _, tc := range []struct{ what, url string }{
		{"MP4", mp4},
		{"CMAF", "concat:" + strings.Join(prefixed(dir, segs), "|")},
	} {
		s := probePackets(t, tc.url, "v:0")
		step := float64(s.TBDen) / (fps * float64(s.TBNum))
		if first := checkContinuous(t, what+" "+tc.what+" video", s, step); first != 0 {
			t.Errorf("%s: %s video starts at PTS %d (%.6f s), want 0", what, tc.what, first, s.seconds(first))
		}
	}
}

var (
	hvc1RE = regexp.MustCompile(`^hvc1\.1\.6\.L([0-9]+)\.[0-9A-F]{1,2}(\.[0-9A-F]{1,2})*$`)
	av01RE = regexp.MustCompile(`^av01\.0\.([0-9]{2})M\.08$`)
)

// checkCodecString checks an RFC 6381 string against what ffprobe says
// of the stream: the codec, the profile and the level.
func checkCodecString(t *testing.T, what, codec string, v videoStream) {
	t.Helper()
	switch v.Codec {
	case "h264":
		if want := fmt.Sprintf("avc1.6400%02x", v.Level); codec != want {
			t.Errorf("%s: codec %q, want %q (High, level %d)", what, codec, want, v.Level)
		}
	case "hevc":
		m := hvc1RE.FindStringSubmatch(codec)
		if m == nil || m[1] != strconv.Itoa(v.Level) || v.Profile != "Main" {
			t.Errorf("%s: codec %q, want hvc1.1.6.L%d.<constraints> (ffprobe: %s level %d)", what, codec, v.Level, v.Profile, v.Level)
		}
	case "av1":
		// ffprobe reports no AV1 level; the level index of a 360p 30 fps
		// stream is 4 (level 3.0) or below.
		m := av01RE.FindStringSubmatch(codec)
		if m == nil || v.Profile != "Main" {
			t.Errorf("%s: codec %q, want av01.0.<level>M.08 (ffprobe: %s)", what, codec, v.Profile)
		} else if lvl, _ := strconv.Atoi(m[1]); lvl > 4 {
			t.Errorf("%s: codec %q: level index %d, want ≤ 4 for 360p30", what, codec, lvl)
		}
	default:
		t.Errorf("%s: unexpected codec %s", what, v.Codec)
	}
}

// The single pass encodes H.264 and HEVC rungs from one decode into the
// MP4s and the fragmented MP4s that Job.Cut cuts into CMAF tracks: every
// rung has the same keyframes (one every GOPSeconds) and frames, every
// segment starts with a keyframe and the segments last as long in every
// rung, the HEVC MP4 and init segment are tagged hvc1, Main, 8-bit 4:2:0,
// and the RFC 6381 string read from the MP4's hvcC is the one read from
// init.mp4.
func TestSinglePassHEVCRungs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	source, src := codecSource(t, dir)
	rends := ladder.MustParse("180p:180:300k:64k,360p:360:800k:96k,360p-hevc:360:500k:96k:hevc").Select(640, 360)
	out := filepath.Join(dir, "out")
	job := Job{Input: source, Source: src, Renditions: rends, Encoding: Encoding{Preset: "veryfast", GOPSeconds: 2, Threads: 2}}
	if err := MakeDirs(out, job.OutputDirs()); err != nil {
		t.Fatal(err)
	}
	args, err := job.Args()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(after(args, "-filter_complex"), "split=3[v1][v2][c1]") {
		t.Errorf("graph %s: want the two 360p rungs to share one scale", after(args, "-filter_complex"))
	}
	if err := (Runner{Path: harness.MustTool(t, "ffmpeg")}).Run(ctx, out, args, 0); err != nil {
		t.Fatal(err)
	}
	cut, err := job.Cut(out)
	if err != nil {
		t.Fatal(err)
	}
	wantKeys := []float64{0, 2, 4}
	var durations []string
	for _, r := range rends {
		mp4 := filepath.Join(out, MP4Path(r.Name))
		v := probeVideo(t, mp4)
		wantCodec := map[ladder.Codec]string{ladder.H264: "h264", ladder.HEVC: "hevc"}[r.Codec]
		if v.Codec != wantCodec || v.PixFmt != "yuv420p" || v.Width != r.Width || v.Height != r.Height {
			t.Errorf("%s: %+v, want %s yuv420p %dx%d", r.Name, v, wantCodec, r.Width, r.Height)
		}
		if r.Codec == ladder.HEVC && (v.Tag != "hvc1" || v.Profile != "Main") {
			t.Errorf("%s: tag %q profile %q, want hvc1 Main", r.Name, v.Tag, v.Profile)
		}
		keys, frames := keyTimes(t, mp4)
		if !slices.Equal(keys, wantKeys) || frames != 180 {
			t.Errorf("%s: keyframes at %v, %d frames; want %v, 180", r.Name, keys, frames, wantKeys)
		}
		fromMP4, err := hls.VideoCodec(mp4)
		if err != nil {
			t.Fatal(err)
		}
		segs, err := hls.ReadMediaPlaylist(filepath.Join(out, PlaylistPath(r.Name)))
		if err != nil {
			t.Fatal(err)
		}
		init := filepath.Join(out, RungDir(r.Name), InitName)
		fromInit, err := hls.VideoCodec(init)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s (ffprobe %s %s level %d), %d segments", r.Name, fromMP4, v.Codec, v.Profile, v.Level, len(segs))
		if fromMP4 != fromInit {
			t.Errorf("%s: codec %q from the MP4, %q from %s", r.Name, fromMP4, fromInit, InitName)
		}
		// What the master playlist's CODECS and the MPD's codecs are made of.
		if c, err := cmaf.Codec(cut[r.Name].Init()); err != nil || c != fromInit {
			t.Errorf("%s: cmaf.Codec %q, %v; want %q", r.Name, c, err, fromInit)
		}
		checkCodecString(t, r.Name, fromMP4, v)
		if len(segs) != 3 {
			t.Errorf("%s: %d segments, want 3", r.Name, len(segs))
		}
		var d []string
		segFrames := 0
		for _, s := range segs {
			d = append(d, strconv.FormatFloat(s.Duration, 'f', 6, 64))
			// A segment decodes after the init segment: its sample entry
			// (hvcC, avcC) carries the parameter sets.
			seg := "concat:" + init + "|" + filepath.Join(out, RungDir(r.Name), s.URI)
			p := probePackets(t, seg, "v:0")
			segFrames += len(p.Packets)
			if !p.Packets[0].Key {
				t.Errorf("%s: %s does not start with a keyframe", r.Name, s.URI)
			}
			if sv := probeVideo(t, seg); sv != v {
				t.Errorf("%s: %s after %s: %+v, want the MP4's %+v", r.Name, s.URI, InitName, sv, v)
			}
		}
		if segFrames != 180 {
			t.Errorf("%s: %d frames in the segments, want 180", r.Name, segFrames)
		}
		durations = append(durations, strings.Join(d, ","))
	}
	for _, d := range durations[1:] {
		if d != durations[0] {
			t.Errorf("segment durations differ between rungs: %q", durations)
		}
	}
}

// Chunks of the segment pipeline encode H.264, HEVC and AV1 rungs of the
// same spans: each chunk's encode of every rung has exactly Span.Frames
// frames and a keyframe at each of its segments' starts, the segments have
// the same durations in every rung and codec, and the RFC 6381 strings
// read from the init segments are those of the streams.
func TestChunkCodecRungs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	source, src := codecSource(t, dir)
	rends := ladder.MustParse("180p:180:300k:64k,360p:360:800k:96k,360p-hevc:360:500k:96k:hevc,360p-av1:360:400k:96k:av1").Select(640, 360)
	enc := Encoding{Preset: "veryfast", GOPSeconds: 2, Threads: 2}
	job := Job{Input: source, Source: src, Renditions: rends, Encoding: enc}
	rate, _ := job.FrameRate()
	spans, err := Spans(rate, src.Video.Duration, enc.GOPSeconds, 1, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 3 || spans[1].Segments != 2 {
		t.Fatalf("spans %+v, want 1 s, 4 s (2 segments), 1 s", spans)
	}
	runner := Runner{Path: harness.MustTool(t, "ffmpeg")}
	for _, span := range spans[:2] {
		out := filepath.Join(dir, fmt.Sprintf("chunk%d", span.Index))
		for _, r := range rends {
			mkdirs(t, filepath.Join(out, RungDir(r.Name)))
		}
		cj := ChunkJob{Input: source, Source: src, Renditions: rends, Encoding: enc, Span: span}
		args, err := cj.Args()
		if err != nil {
			t.Fatal(err)
		}
		if err := runner.Run(ctx, out, args, 0); err != nil {
			t.Fatalf("chunk %d: %v", span.Index, err)
		}
		cut, err := cj.Cut(out)
		if err != nil {
			t.Fatalf("chunk %d: %v", span.Index, err)
		}
		var durations []string
		for _, r := range rends {
			rungDir := filepath.Join(out, RungDir(r.Name))
			segs, err := hls.ReadMediaPlaylist(filepath.Join(rungDir, PlaylistName))
			if err != nil {
				t.Fatal(err)
			}
			total := 0.0
			for _, s := range segs {
				total += s.Duration
			}
			if len(segs) != span.Segments || math.Abs(total-span.Duration) > 1e-3 {
				t.Errorf("chunk %d %s: %d segments of %v s in all, want %d of %v s", span.Index, r.Name, len(segs), total, span.Segments, span.Duration)
			}
			var d []string
			frames := 0
			init := filepath.Join(rungDir, InitName)
			for k, s := range segs {
				if want := fmt.Sprintf("seg_%05d.m4s", span.FirstSegment+k); s.URI != want {
					t.Errorf("chunk %d %s: segment %d is %s, want %s", span.Index, r.Name, k, s.URI, want)
				}
				d = append(d, strconv.FormatFloat(s.Duration, 'f', 6, 64))
				keys, n := keyTimes(t, "concat:"+init+"|"+filepath.Join(rungDir, s.URI))
				frames += n
				if len(keys) == 0 || keys[0] != 0 || len(keys) != 1 {
					t.Errorf("chunk %d %s %s: keyframes at %v, want exactly one, at its start", span.Index, r.Name, s.URI, keys)
				}
			}
			durations = append(durations, strings.Join(d, ","))
			if frames != span.Frames {
				t.Errorf("chunk %d %s: %d frames, want the span's %d", span.Index, r.Name, frames, span.Frames)
			}
			v := probeVideo(t, "concat:"+init+"|"+filepath.Join(rungDir, segs[0].URI))
			codec, err := hls.VideoCodec(init)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("chunk %d %s: %s, segments %v", span.Index, r.Name, codec, d)
			checkCodecString(t, r.Name, codec, v)
			if c, err := cmaf.Codec(cut[r.Name].Init()); err != nil || c != codec {
				t.Errorf("chunk %d %s: cmaf.Codec %q, %v; want %q", span.Index, r.Name, c, err, codec)
			}
			if want := map[ladder.Codec]string{ladder.H264: "h264", ladder.HEVC: "hevc", ladder.AV1: "av1"}[r.Codec]; v.Codec != want || v.PixFmt != "yuv420p" {
				t.Errorf("chunk %d %s: %+v, want %s yuv420p", span.Index, r.Name, v, want)
			}
			if r.Codec == ladder.HEVC && v.Tag != "hvc1" {
				t.Errorf("chunk %d %s: sample entry %q, want hvc1", span.Index, r.Name, v.Tag)
			}
		}
		for _, d := range durations[1:] {
			if d != durations[0] {
				t.Errorf("chunk %d: segment durations differ between rungs: %q", span.Index, durations)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "chunk1", RungDir("360p-av1"), "seg_00002.m4s")); err != nil {
		t.Errorf("chunk 1 of the AV1 rung: %v", err)
	}
}

// TestChunkedEqualsSinglePassHEVC is TestChunkedEqualsSinglePass's quality
// check for libx265 rungs: 13 s cut in 1 s + 4 s chunks, each chunk encoded
// with cutree off (x265's MB-tree), assembled to an MP4 (tagged hvc1), is
// at least as good as the single pass (no more than 0.3 dB PSNR or 0.005
// SSIM below), at most 15 % larger, and as long, frame for frame. The
// figures with and without cutree are in videoEncoderArgs' doc.
func TestChunkedEqualsSinglePassHEVC(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	source := filepath.Join(dir, "source.mp4")
	MustFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=13",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "48", "-pix_fmt", "yuv420p", "-f", "mp4", source)
	src, err := probe.Prober{Path: harness.MustTool(t, "ffprobe")}.Probe(ctx, source)
	if err != nil {
		t.Fatal(err)
	}
	rends := []ladder.Rendition{
		{Name: "180p-hevc", Width: 320, Height: 180, VideoBitrate: 200_000, AudioBitrate: 64_000, Codec: ladder.HEVC},
		{Name: "360p-hevc", Width: 640, Height: 360, VideoBitrate: 500_000, AudioBitrate: 96_000, Codec: ladder.HEVC},
	}
	enc := Encoding{GOPSeconds: 2, Threads: 2}
	runner := Runner{Path: harness.MustTool(t, "ffmpeg")}
	run := func(wd string, args []string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if err := runner.Run(ctx, wd, args, 0); err != nil {
			t.Fatalf("ffmpeg %q: %v", args, err)
		}
	}
	single, chunked := filepath.Join(dir, "single"), filepath.Join(dir, "chunked")
	job := Job{Input: source, Source: src, Renditions: rends, Encoding: enc}
	if err := MakeDirs(single, job.OutputDirs()); err != nil {
		t.Fatal(err)
	}
	args, err := job.Args()
	run(single, args, err)
	if _, err := job.Cut(single); err != nil {
		t.Fatal(err)
	}

	mkdirs(t, filepath.Join(chunked, MP4Dir))
	for _, r := range rends {
		mkdirs(t, filepath.Join(chunked, RungDir(r.Name)))
	}
	rate, _ := job.FrameRate()
	spans, err := Spans(rate, src.Video.Duration, enc.GOPSeconds, 1, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Each rung's CMAF track: the init segment, then every chunk's media segments.
	segs := map[string][]string{}
	for _, r := range rends {
		segs[r.Name] = []string{RungDir(r.Name) + "/" + InitName}
	}
	inits := map[string][]byte{}
	for k, span := range spans {
		cj := ChunkJob{Input: source, Source: src, Renditions: rends, Encoding: enc, Span: span}
		args, err := cj.Args()
		run(chunked, args, err)
		cut, err := cj.Cut(chunked)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rends {
			if k == 0 {
				inits[r.Name] = cut[r.Name].Init()
			} else if !bytes.Equal(cut[r.Name].Init(), inits[r.Name]) {
				t.Errorf("%s: chunk %d's init segment differs from chunk 0's", r.Name, k)
			}
			for _, s := range cut[r.Name].Segments() {
				segs[r.Name] = append(segs[r.Name], RungDir(r.Name)+"/"+s.URI)
			}
		}
	}
	for _, r := range rends {
		args := AssembleArgs(segs[r.Name], nil, MP4Path(r.Name))
		run(chunked, slices.Insert(args, len(args)-1, MP4TagArgs(r.Codec)...), nil)
		singleMP4, chunkedMP4 := filepath.Join(single, MP4Path(r.Name)), filepath.Join(chunked, MP4Path(r.Name))
		sp, ss := quality(t, singleMP4, source, r.Width, r.Height)
		cp, cs := quality(t, chunkedMP4, source, r.Width, r.Height)
		sf, _ := countFrames(t, singleMP4)
		cf, _ := countFrames(t, chunkedMP4)
		sfi, _ := os.Stat(singleMP4)
		cfi, _ := os.Stat(chunkedMP4)
		t.Logf("%s: PSNR single %.3f dB, chunked %.3f dB (%+.3f); SSIM single %.5f, chunked %.5f (%+.5f); bytes single %d, chunked %d; frames %d, %d",
			r.Name, sp, cp, cp-sp, ss, cs, cs-ss, sfi.Size(), cfi.Size(), sf, cf)
		if cp < sp-0.3 || cs < ss-0.005 {
			t.Errorf("%s: chunked PSNR %.3f SSIM %.5f, single pass PSNR %.3f SSIM %.5f: want no more than 0.3 dB and 0.005 below", r.Name, cp, cs, sp, ss)
		}
		if float64(cfi.Size()) > 1.15*float64(sfi.Size()) {
			t.Errorf("%s: chunked %d bytes, single pass %d: want at most 15 %% more", r.Name, cfi.Size(), sfi.Size())
		}
		if sf != 390 || cf != sf {
			t.Errorf("%s: frames single %d, chunked %d; want 390", r.Name, sf, cf)
		}
		if v := probeVideo(t, chunkedMP4); v.Tag != "hvc1" {
			t.Errorf("%s: assembled MP4 tagged %q, want hvc1", r.Name, v.Tag)
		}
		checkTimeline(t, r.Name, chunkedMP4, chunked, segs[r.Name], 30)
	}
}

func TestEncoderArgs(t *testing.T) {
	for _, tc := range []struct {
		codec ladder.Codec
		want  []string // flag, value pairs that must be there
	}{
		{ladder.H264, []string{"-c:v", "libx264", "-preset:v", "veryfast", "-g:v", "60", "-force_key_frames:v", "expr:gte(t,n_forced*2)", "-b:v", "800000"}},
		{ladder.HEVC, []string{"-c:v", "libx265", "-tag:v", "hvc1", "-preset:v", "veryfast", "-profile:v", "main", "-forced-idr:v", "1",
			"-x265-params:v", "keyint=60:min-keyint=60:scenecut=0:open-gop=0:frame-threads=1:log-level=error", "-b:v", "800000"}},
		{ladder.AV1, []string{"-c:v", "libsvtav1", "-preset:v", "10", "-g:v", "60", "-svtav1-params:v", "keyint=60:irefresh-type=2:scd=0:lp=1", "-b:v", "800000"}},
	} {
		args, err := EncoderArgs(ladder.Rendition{Name: "r", Width: 640, Height: 360, VideoBitrate: 800_000, Codec: tc.codec}, Encoding{}, 30)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(tc.want); i += 2 {
			if got := after(args, tc.want[i]); got != tc.want[i+1] {
				t.Errorf("%s: %s %q, want %q (args %q)", tc.codec, tc.want[i], got, tc.want[i+1], args)
			}
		}
		if slices.Contains(args, "-mbtree:v") || strings.Contains(strings.Join(args, " "), "cutree=0") {
			t.Errorf("%s: chunk-only options in the single pass's: %q", tc.codec, args)
		}
	}
	if _, err := EncoderArgs(ladder.Rendition{Codec: "vp9", VideoBitrate: 1}, Encoding{}, 30); err == nil {
		t.Error("unknown codec: no error")
	}
	if _, err := EncoderArgs(ladder.Rendition{VideoBitrate: 1}, Encoding{}, 0); err == nil {
		t.Error("zero frame rate: no error")
	}
}

// TestChunkedEqualsSinglePassAV1 measures what cutting costs libsvtav1
// rungs: 13 s cut in 1 s + 4 s chunks (ChunkJob, cut into one CMAF track,
// assembled from init + segments) against one encode of the whole
// (EncoderArgs) at the same bitrate; the chunked result is no more than
// 0.5 dB PSNR or 0.005 SSIM below, at most 15 % larger, and has every
// frame.
func TestChunkedEqualsSinglePassAV1(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	source := filepath.Join(dir, "source.mp4")
	MustFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=13",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "48", "-pix_fmt", "yuv420p", "-f", "mp4", source)
	src, err := probe.Prober{Path: harness.MustTool(t, "ffprobe")}.Probe(ctx, source)
	if err != nil {
		t.Fatal(err)
	}
	r := ladder.Rendition{Name: "360p-av1", Width: 640, Height: 360, VideoBitrate: 400_000, AudioBitrate: 96_000, Codec: ladder.AV1}
	enc := Encoding{GOPSeconds: 2, Threads: 2}
	runner := Runner{Path: harness.MustTool(t, "ffmpeg")}
	run := func(args []string) {
		t.Helper()
		if err := runner.Run(ctx, dir, args, 0); err != nil {
			t.Fatalf("ffmpeg %q: %v", args, err)
		}
	}
	ea, err := EncoderArgs(r, enc, 30)
	if err != nil {
		t.Fatal(err)
	}
	single := filepath.Join(dir, "single.mp4")
	run(append(append([]string{"-hide_banner", "-loglevel", "error", "-y", "-i", source, "-an", "-vf", "scale=w=640:h=360,setsar=1,format=yuv420p"}, ea...), single))

	job := Job{Input: source, Source: src, Renditions: []ladder.Rendition{r}, Encoding: enc}
	rate, _ := job.FrameRate()
	spans, err := Spans(rate, src.Video.Duration, enc.GOPSeconds, 1, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	mkdirs(t, filepath.Join(dir, RungDir(r.Name)))
	segs := []string{RungDir(r.Name) + "/" + InitName} // the CMAF track: the init segment, then every chunk's media segments
	var init []byte
	for _, span := range spans {
		cj := ChunkJob{Input: source, Source: src, Renditions: job.Renditions, Encoding: enc, Span: span}
		args, err := cj.Args()
		if err != nil {
			t.Fatal(err)
		}
		run(args)
		cut, err := cj.Cut(dir)
		if err != nil {
			t.Fatal(err)
		}
		if span.Index == 0 {
			init = cut[r.Name].Init()
		} else if !bytes.Equal(cut[r.Name].Init(), init) {
			t.Errorf("chunk %d's init segment differs from chunk 0's", span.Index)
		}
		if err := span.CheckSegments(cut[r.Name].Playlist(), span.Index == len(spans)-1); err != nil {
			t.Errorf("chunk %d: %v", span.Index, err)
		}
		for _, s := range cut[r.Name].Segments() {
			segs = append(segs, RungDir(r.Name)+"/"+s.URI)
		}
	}
	chunked := filepath.Join(dir, "chunked.mp4")
	run(AssembleArgs(segs, nil, chunked))

	sp, ss := quality(t, single, source, r.Width, r.Height)
	cp, cs := quality(t, chunked, source, r.Width, r.Height)
	sf, _ := countFrames(t, single)
	cf, _ := countFrames(t, chunked)
	sfi, _ := os.Stat(single)
	cfi, _ := os.Stat(chunked)
	t.Logf("%s: PSNR single %.3f dB, chunked %.3f dB (%+.3f); SSIM single %.5f, chunked %.5f (%+.5f); bytes single %d, chunked %d; frames %d, %d",
		r.Name, sp, cp, cp-sp, ss, cs, cs-ss, sfi.Size(), cfi.Size(), sf, cf)
	if cp < sp-0.5 || cs < ss-0.005 {
		t.Errorf("chunked PSNR %.3f SSIM %.5f, single PSNR %.3f SSIM %.5f: want no more than 0.5 dB and 0.005 below", cp, cs, sp, ss)
	}
	if float64(cfi.Size()) > 1.15*float64(sfi.Size()) {
		t.Errorf("chunked %d bytes, single %d: want at most 15 %% more", cfi.Size(), sfi.Size())
	}
	if sf != 390 || cf != 390 {
		t.Errorf("frames single %d, chunked %d; want 390", sf, cf)
	}
	checkTimeline(t, r.Name, chunked, dir, segs, 30)
}

// Each rung's stream of the single pass gets its codec's encoder and
// options under its own stream specifier.
func TestArgsCodecsPerStream(t *testing.T) {
	rends := ladder.MustParse("360p:360:800k:96k,720p:720:2800k:128k,720p-hevc:720:2M:128k:hevc,720p-av1:720:1.6M:128k:av1").Select(1280, 720)
	args, err := Job{Input: "s", Source: source(true, "30/1", 30), Renditions: rends, Encoding: Encoding{HEVCPreset: "fast", AV1Preset: 8}}.Args()
	if err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{
		"-c:v:0": "libx264", "-c:v:1": "libx264", "-c:v:2": "libx265", "-c:v:3": "libsvtav1",
		"-b:v:0": "800000", "-b:v:1": "2800000", "-b:v:2": "2000000", "-b:v:3": "1600000",
		"-tag:v:2": "hvc1", "-preset:v:2": "fast", "-preset:v:3": "8", "-profile:v:1": "high", "-profile:v:2": "main",
		"-svtav1-params:v:3": "keyint=60:irefresh-type=2:scd=0:lp=1",
	} {
		if got := after(args, flag); got != want {
			t.Errorf("%s %q, want %q", flag, got, want)
		}
	}
	for _, bad := range []string{"-tag:v:0", "-tag:v:1", "-tag:v:3", "-x265-params:v:0", "-svtav1-params:v:2", "-profile:v:3"} {
		if slices.Contains(args, bad) {
			t.Errorf("args contain %s", bad)
		}
	}
	// The three 720p rungs share one scale.
	if g := after(args, "-filter_complex"); !strings.Contains(g, "scale=w=1280:h=720,setsar=1,format=yuv420p,split=4[v1][v2][v3][c1]") ||
		strings.Count(g, "scale=") != 2 {
		t.Errorf("graph %s: want one 720p scale split to three encoders and the 360p cascade", g)
	}
}

func TestFixedKeyframesAlign(t *testing.T) {
	for _, tc := range []struct {
		rate          string
		gop, segments int
		want          bool
	}{
		{"30", 2, 1000, true},
		{"25/1", 1, 1000, true},
		{"30000/1001", 2, 2, true},
		{"30000/1001", 2, 17, true}, // k ≤ 16: ceil(59.94k) = 60k
		{"30000/1001", 2, 18, false},
		{"60000/1001", 2, 9, true},
		{"60000/1001", 2, 10, false},
		{"2951/100", 2, 2, true},  // 29.51 fps: 59.02 → 60 frames per GOP
		{"2951/100", 2, 3, false}, // segment 2 starts at frame 119, not 120
		{"24000/1001", 2, 21, true},
		{"24000/1001", 2, 22, false},
	} {
		got, err := FixedKeyframesAlign(tc.rate, tc.gop, tc.segments)
		if err != nil || got != tc.want {
			t.Errorf("FixedKeyframesAlign(%s, %d, %d) = %v, %v; want %v", tc.rate, tc.gop, tc.segments, got, err, tc.want)
		}
	}
	if _, err := FixedKeyframesAlign("x", 2, 3); err == nil {
		t.Error("bad rate: no error")
	}
}

// What FixedKeyframesAlign guards against, on real encodes: at 29.51 fps
// with 2 s GOPs, libx264 and libx265 (forced keyframes) start the third
// segment at frame 119 (59 frames after the second: under min-keyint, a
// forced keyframe still wins) and libsvtav1 (keyint only) at frame 120.
func TestAV1KeyframesDriftAtOddRates(t *testing.T) {
	dir := t.TempDir()
	var keys [3][]float64
	for i, c := range []ladder.Codec{ladder.H264, ladder.AV1, ladder.HEVC} {
		ea, err := EncoderArgs(ladder.Rendition{Name: "r", Width: 320, Height: 180, VideoBitrate: 200_000, Codec: c}, Encoding{Preset: "ultrafast"}, 29.51)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, string(c)+".mp4")
		MustFFmpeg(t, append(append([]string{"-f", "lavfi", "-i", "testsrc2=size=320x180:rate=2951/100:duration=5"}, ea...), out)...)
		s := probePackets(t, out, "v:0")
		for _, p := range s.Packets {
			if p.Key {
				keys[i] = append(keys[i], float64(p.PTS-s.Packets[0].PTS)*float64(s.TBNum)/float64(s.TBDen)*29.51)
			}
		}
		slices.Sort(keys[i])
	}
	t.Logf("keyframes (frame numbers): h264 %v, av1 %v, hevc %v", keys[0], keys[1], keys[2])
	round := func(xs []float64) []int {
		var out []int
		for _, x := range xs {
			out = append(out, int(math.Round(x)))
		}
		return out
	}
	if h, a, x := round(keys[0]), round(keys[1]), round(keys[2]); !slices.Equal(h, []int{0, 60, 119}) || !slices.Equal(a, []int{0, 60, 120}) || !slices.Equal(x, h) {
		t.Errorf("keyframes h264 %v, av1 %v, hevc %v; want [0 60 119], [0 60 120], [0 60 119]", h, a, x)
	}
}

package transcode

// Test media, generated with ffmpeg into the test's temp dir: small good
// videos and the hostile corpus (issue 6, "at the workers").

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/dev/harness"
)

// MustFFmpeg runs ffmpeg with args (quiet, overwriting) or fails the test.
func MustFFmpeg(tb testing.TB, args ...string) {
	tb.Helper()
	cmd := exec.Command(harness.MustTool(tb, "ffmpeg"), append([]string{"-hide_banner", "-nostdin", "-v", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// MustFFprobe runs ffprobe with args and returns its stdout, or fails the test.
func MustFFprobe(tb testing.TB, args ...string) []byte {
	tb.Helper()
	cmd := exec.Command(harness.MustTool(tb, "ffprobe"), append([]string{"-hide_banner", "-v", "error"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("ffprobe %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// clip describes a generated test video.
type clip struct {
	Width, Height int
	Seconds       float64
	FPS           int
	Audio         bool
	// Rotate, if not 0, is written as display rotation metadata (the
	// stored picture stays Width×Height).
	Rotate int
	// Faststart puts the index (moov) first.
	Faststart bool
	// Preset is the libx264 preset. Default: ultrafast.
	Preset string
	// Transfer, if set ("smpte2084" for PQ, "arib-std-b67" for HLG),
	// makes the clip HDR: the pattern converted to 10-bit BT.2020 with
	// that transfer, H.264 High 10, tagged.
	Transfer string
	// SAR, if set ("4/3"), is the stored sample aspect ratio: the clip is
	// stored Width×Height and displayed wider.
	SAR string
}

// MustClip writes an H.264(+AAC) MP4 with a test pattern (and a sine tone).
func MustClip(tb testing.TB, path string, c clip) string {
	tb.Helper()
	if c.FPS == 0 {
		c.FPS = 25
	}
	if c.Preset == "" {
		c.Preset = "ultrafast"
	}
	dur := fmt.Sprint(c.Seconds)
	args := []string{"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d:duration=%s", c.Width, c.Height, c.FPS, dur)}
	if c.Audio {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration="+dur, "-c:a", "aac", "-b:a", "64k")
	}
	switch {
	case c.Transfer != "":
		args = append(args, "-vf", "zscale=tin=bt709:min=bt709:pin=bt709:rin=tv:t="+c.Transfer+":m=bt2020nc:p=bt2020:r=tv:npl=100,format=yuv420p10le",
			"-c:v", "libx264", "-preset", c.Preset, "-profile:v", "high10",
			"-color_primaries", "bt2020", "-color_trc", c.Transfer, "-colorspace", "bt2020nc", "-color_range", "tv")
	case c.SAR != "":
		args = append(args, "-vf", "setsar="+c.SAR, "-c:v", "libx264", "-preset", c.Preset, "-pix_fmt", "yuv420p")
	default:
		args = append(args, "-c:v", "libx264", "-preset", c.Preset, "-pix_fmt", "yuv420p")
	}
	if c.Faststart {
		args = append(args, "-movflags", "+faststart")
	}
	out := path
	if c.Rotate != 0 {
		out = path + ".plain.mp4"
	}
	MustFFmpeg(tb, append(args, "-f", "mp4", out)...)
	if c.Rotate != 0 {
		// ffmpeg 5.1 turns the rotate tag into a display matrix when stream-copying.
		MustFFmpeg(tb, "-i", out, "-map", "0", "-c", "copy", "-metadata:s:v:0", fmt.Sprintf("rotate=%d", c.Rotate), "-f", "mp4", path)
		os.Remove(out)
	}
	return path
}

// MustWrite writes data to dir/name and returns the path.
func MustWrite(tb testing.TB, dir, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// MustRead reads a file or fails the test.
func MustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// box finds the first ISO-BMFF box of type typ in data (a linear scan for
// the type code, good enough for files ffmpeg wrote) and returns the
// offset of its header and its size.
func box(tb testing.TB, data []byte, typ string) (off, size int) {
	tb.Helper()
	i := bytes.Index(data, []byte(typ))
	if i < 4 {
		tb.Fatalf("box %q not found", typ)
	}
	return i - 4, int(binary.BigEndian.Uint32(data[i-4:]))
}

// hostile is one bad upload and the reason it must be refused with.
type hostile struct {
	path string
	// reason is a substring of the permanent error.
	reason string
}

// MustHostileCorpus writes the bad inputs into dir.
func MustHostileCorpus(tb testing.TB, dir string) map[string]hostile {
	tb.Helper()
	c := map[string]hostile{}

	c["text file"] = hostile{MustWrite(tb, dir, "text.mp4", []byte("hello, I am definitely a video\n")), "not a readable media file"}

	png := filepath.Join(dir, "still.png")
	MustFFmpeg(tb, "-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1", "-f", "image2", png)
	c["png renamed"] = hostile{png, "not a readable media file"}

	// Index (moov) at the end: cutting the file loses it.
	plain := MustClip(tb, filepath.Join(dir, "plain.mp4"), clip{Width: 320, Height: 240, Seconds: 4, Audio: true})
	data := MustRead(tb, plain)
	c["truncated mp4"] = hostile{MustWrite(tb, dir, "truncated.mp4", data[:len(data)/2]), "moov atom not found"}

	// Index first: the file opens, but half of the media data is missing.
	fast := MustClip(tb, filepath.Join(dir, "fast.mp4"), clip{Width: 320, Height: 240, Seconds: 4, Audio: true, Faststart: true})
	fdata := MustRead(tb, fast)
	c["truncated faststart mp4"] = hostile{MustWrite(tb, dir, "truncated-fast.mp4", fdata[:len(fdata)/2]), "truncated or corrupt"}

	// Corrupt moov (1): the video sample-size table says every sample is 4 GiB.
	corrupt := bytes.Clone(fdata)
	off, size := box(tb, corrupt, "stsz")
	for i := off + 12; i < off+size; i++ {
		corrupt[i] = 0xff
	}
	c["mp4 with corrupt sample table"] = hostile{MustWrite(tb, dir, "corrupt-stsz.mp4", corrupt), "the video stream has no packets"}

	// Corrupt moov (2): the whole movie header is noise.
	noise := bytes.Clone(fdata)
	off, size = box(tb, noise, "moov")
	x := uint32(2463534242)
	for i := off + 8; i < off+size; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		noise[i] = byte(x)
	}
	c["mp4 with garbage moov"] = hostile{MustWrite(tb, dir, "garbage-moov.mp4", noise), "no video or audio stream"}

	// A duration header far longer than the data (under the limit, then over it).
	long := bytes.Clone(fdata)
	off, _ = box(tb, long, "mvhd")
	if long[off+8] != 0 {
		tb.Fatalf("mvhd version %d, want 0", long[off+8])
	}
	timescale := binary.BigEndian.Uint32(long[off+20:])
	binary.BigEndian.PutUint32(long[off+24:], timescale*3600)
	c["duration header 1 h with 4 s of data"] = hostile{MustWrite(tb, dir, "long-header.mp4", long), "declares 3600.0 s but its packets span only"}
	binary.BigEndian.PutUint32(long[off+24:], timescale*3*3600)
	c["duration header over the limit"] = hostile{MustWrite(tb, dir, "over-limit-header.mp4", long), "duration 3h0m0s exceeds the limit of 2h0m0s"}

	// Audio-only files (with or without cover art) are audio assets now,
	// not refusals (audio_test.go); a file with no stream at all (the
	// garbage moov above, the zero-length stream below) is still refused.
	zero := filepath.Join(dir, "zero.mp4")
	MustFFmpeg(tb, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1", "-frames:v", "0", "-c:v", "libx264", "-f", "mp4", zero)
	c["zero-length stream"] = hostile{zero, "no video or audio stream"}

	// Absurd declared dimensions: a tiny MJPEG AVI whose headers and JPEG
	// frames claim 16000x16000 (256 Mpixel per frame).
	mj := filepath.Join(dir, "mj.avi")
	MustFFmpeg(tb, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1", "-c:v", "mjpeg", "-f", "avi", mj)
	huge := MustRead(tb, mj)
	for i := 0; ; i += 2 {
		j := bytes.Index(huge[i:], []byte{0xff, 0xc0}) // JPEG SOF0: len(2) precision(1) height(2) width(2)
		if j < 0 {
			break
		}
		i += j
		binary.BigEndian.PutUint16(huge[i+5:], 16000)
		binary.BigEndian.PutUint16(huge[i+7:], 16000)
	}
	a := bytes.Index(huge, []byte("avih")) + 8
	binary.LittleEndian.PutUint32(huge[a+32:], 16000)
	binary.LittleEndian.PutUint32(huge[a+36:], 16000)
	s := bytes.Index(huge, []byte("strf")) + 8
	binary.LittleEndian.PutUint32(huge[s+4:], 16000)
	binary.LittleEndian.PutUint32(huge[s+8:], 16000)
	c["absurd declared dimensions"] = hostile{MustWrite(tb, dir, "huge.avi", huge), "unknown dimensions"}

	c["hls playlist pointing at /etc/passwd"] = hostile{MustWrite(tb, dir, "passwd.m3u8.mp4", []byte(
		"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"+
			"#EXTINF:10.0,\nfile:///etc/passwd\n#EXTINF:10.0,\n/etc/passwd\n#EXTINF:10.0,\n../../../../../../etc/passwd\n#EXT-X-ENDLIST\n")),
		"Format not on whitelist"}
	c["hls playlist pointing at a URL"] = hostile{MustWrite(tb, dir, "url.m3u8.mp4", []byte(
		"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nhttp://127.0.0.1:9/secret.ts\n#EXT-X-ENDLIST\n")),
		"Format not on whitelist"}
	c["concat list pointing at /etc/passwd"] = hostile{MustWrite(tb, dir, "concat.mp4", []byte(
		"ffconcat version 1.0\nfile /etc/passwd\nfile 'file:/etc/passwd'\n")),
		"Format not on whitelist"}
	return c
}

// ffprobeDoc is the subset of ffprobe's JSON the assertions read.
type ffprobeDoc struct {
	Streams []struct {
		CodecType    string `json:"codec_type"`
		CodecName    string `json:"codec_name"`
		CodecTag     string `json:"codec_tag_string"`
		Profile      string `json:"profile"`
		Level        int    `json:"level"`
		PixFmt       string `json:"pix_fmt"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		SideDataList []struct {
			Rotation *float64 `json:"rotation"`
		} `json:"side_data_list"`
		Tags           map[string]string `json:"tags"`
		SAR            string            `json:"sample_aspect_ratio"`
		ColorPrimaries string            `json:"color_primaries"`
		ColorTransfer  string            `json:"color_transfer"`
		ColorSpace     string            `json:"color_space"`
		ColorRange     string            `json:"color_range"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// MustProbeFile is an independent ffprobe of a file (not package probe).
func MustProbeFile(tb testing.TB, path string) ffprobeDoc {
	tb.Helper()
	var d ffprobeDoc
	if err := json.Unmarshal(MustFFprobe(tb, "-print_format", "json", "-show_format", "-show_streams", path), &d); err != nil {
		tb.Fatal(err)
	}
	return d
}

// MustKeyframeTimes returns the presentation times of the video keyframes of path.
func MustKeyframeTimes(tb testing.TB, path string) []float64 {
	tb.Helper()
	out := MustFFprobe(tb, "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags", "-of", "csv=p=0", path)
	var times []float64
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pts, flags, ok := strings.Cut(strings.TrimSpace(line), ",")
		if !ok || !strings.Contains(flags, "K") {
			continue
		}
		var t float64
		if _, err := fmt.Sscan(pts, &t); err != nil {
			tb.Fatalf("pts %q: %v", pts, err)
		}
		times = append(times, t)
	}
	return times
}

// MustFirstVideoPacket returns the pts and whether it is a keyframe, of the
// first video packet of path.
func MustFirstVideoPacket(tb testing.TB, path string) (pts float64, key bool) {
	tb.Helper()
	out := MustFFprobe(tb, "-select_streams", "v:0", "-read_intervals", "%+#1", "-show_entries", "packet=pts_time,flags", "-of", "csv=p=0", path)
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	p, flags, ok := strings.Cut(line, ",")
	if !ok {
		tb.Fatalf("%s: no video packet (%q)", path, out)
	}
	if _, err := fmt.Sscan(p, &pts); err != nil {
		tb.Fatalf("pts %q: %v", p, err)
	}
	return pts, strings.Contains(flags, "K")
}

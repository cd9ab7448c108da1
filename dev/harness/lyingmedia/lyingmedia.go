// Package lyingmedia writes small media files whose headers lie about
// their length, or whose timestamps are hostile, for tests of the workers
// (issue 11 §1). Each file is generated with ffmpeg and, where ffmpeg will
// not write the lie itself, patched byte by byte.
//
// It imports only the standard library, so any test (transcode, e2e) can use it.
package lyingmedia

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Outcome is what a worker must do with a case.
type Outcome int

const (
	// Refused: a permanent error whose reason contains Case.Reason.
	Refused Outcome = iota
	// Finished: processed, with outputs no longer than Case.MaxSeconds.
	Finished
)

// Case is one generated file.
type Case struct {
	Name string
	Path string
	// Want is what a worker must do; Reason a substring of the refusal.
	Want   Outcome
	Reason string
	// MaxSeconds bounds the duration of any output of a Finished case.
	MaxSeconds float64
	// Declared is the duration the header was patched to declare, in
	// seconds; 0 when the header is what ffmpeg wrote.
	Declared float64
}

// FFmpeg runs ffmpeg (the binary at bin) with args, quiet and overwriting.
func FFmpeg(bin string, args ...string) error {
	cmd := exec.Command(bin, append([]string{"-hide_banner", "-nostdin", "-v", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// ReasonLonger is in the refusal of a file whose packets span more than it declares.
const ReasonLonger = "longer than declared"

// All writes every case into dir with the ffmpeg at bin.
func All(bin, dir string) ([]Case, error) {
	var cs []Case
	add := func(c Case, err error) error {
		if err == nil {
			cs = append(cs, c)
		}
		return err
	}
	for _, f := range []func(string, string) (Case, error){
		TenHoursDeclaredTwoSeconds, TenHoursDeclaredTwoSecondsMP4, GapAfterContent, HonestGap,
		HugeFrameRate, TimestampWrap, NegativeTimestamps,
	} {
		if err := add(f(bin, dir)); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

// TenHoursDeclaredTwoSeconds is the file: a Matroska file holding
// 3 frames ten hours apart whose header declares 2 s.
func TenHoursDeclaredTwoSeconds(bin, dir string) (Case, error) {
	p := filepath.Join(dir, "ten-hours-declared-2s.mkv")
	if err := FFmpeg(bin, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=1", "-frames:v", "3",
		"-vf", "setpts=N*36000/TB", "-c:v", "libx264", "-preset", "ultrafast", "-g", "1", "-f", "matroska", p); err != nil {
		return Case{}, err
	}
	return Case{Name: "3 frames 10 h apart, header 2 s (mkv)", Path: p, Want: Refused, Reason: ReasonLonger, Declared: 2},
		PatchMatroskaDuration(p, 2)
}

// TenHoursDeclaredTwoSecondsMP4 is the same trick in MP4: 3 frames ten
// hours apart, the movie, track and media headers declaring 2 s.
func TenHoursDeclaredTwoSecondsMP4(bin, dir string) (Case, error) {
	p := filepath.Join(dir, "ten-hours-declared-2s.mp4")
	if err := FFmpeg(bin, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=1", "-frames:v", "3",
		"-vf", "setpts=N*36000/TB", "-c:v", "libx264", "-preset", "ultrafast", "-g", "1", "-fps_mode", "passthrough",
		"-use_editlist", "0", "-video_track_timescale", "1000", "-f", "mp4", p); err != nil {
		return Case{}, err
	}
	return Case{Name: "3 frames 10 h apart, header 2 s (mp4)", Path: p, Want: Refused, Reason: ReasonLonger, Declared: 2},
		PatchMP4Duration(p, 2)
}

// GapAfterContent is 2 s of real video at 25 fps and one more frame an
// hour later, the header declaring 2 s (the 1080p60 variant of the issue,
// small).
func GapAfterContent(bin, dir string) (Case, error) {
	p := filepath.Join(dir, "gap-after-content.mkv")
	if err := FFmpeg(bin, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-frames:v", "51",
		"-vf", "setpts='if(lt(N,50),N,90000)/25/TB'", "-c:v", "libx264", "-preset", "ultrafast", "-f", "matroska", p); err != nil {
		return Case{}, err
	}
	return Case{Name: "2 s of video and a frame 1 h later, header 2 s", Path: p, Want: Refused, Reason: ReasonLonger, Declared: 2},
		PatchMatroskaDuration(p, 2)
}

// HonestGap has frames for 1 s, then one frame at 20 s, and a header that
// says 20 s: sparse but truthful, so it is transcoded (the gap filled with
// the last frame) and nothing is longer than declared.
func HonestGap(bin, dir string) (Case, error) {
	p := filepath.Join(dir, "honest-gap.mkv")
	err := FFmpeg(bin, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-frames:v", "26",
		"-vf", "setpts='if(lt(N,25),N,500)/25/TB'", "-c:v", "libx264", "-preset", "ultrafast", "-f", "matroska", p)
	return Case{Name: "frames for 1 s and one at 20 s, header honest", Path: p, Want: Finished, MaxSeconds: 21.5}, err
}

// HugeFrameRate is 3 s at 1000 frames per second (honest header).
func HugeFrameRate(bin, dir string) (Case, error) {
	p := filepath.Join(dir, "1000fps.mkv")
	err := FFmpeg(bin, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=1000:duration=3",
		"-c:v", "libx264", "-preset", "ultrafast", "-f", "matroska", p)
	return Case{Name: "1000 frames per second", Path: p, Want: Refused, Reason: "frames per second"}, err
}

// TimestampWrap is an MPEG-TS whose 33-bit timestamps wrap around 4 s in;
// ffmpeg unwraps them (the first frames get negative times), so it is
// transcoded to 4 s.
func TimestampWrap(bin, dir string) (Case, error) {
	p := filepath.Join(dir, "wrap.ts")
	// 2^33 / 90 kHz = 95443.7 s.
	err := FFmpeg(bin, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=4",
		"-c:v", "libx264", "-preset", "ultrafast", "-output_ts_offset", "95442", "-f", "mpegts", p)
	return Case{Name: "MPEG-TS timestamps wrapping", Path: p, Want: Finished, MaxSeconds: 5.5}, err
}

// NegativeTimestamps is an FLV whose timestamps start at -10 s: ffmpeg
// reads them as 24.8 days.
func NegativeTimestamps(bin, dir string) (Case, error) {
	p := filepath.Join(dir, "negative.flv")
	err := FFmpeg(bin, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=2",
		"-vf", "setpts=PTS-10/TB", "-c:v", "libx264", "-preset", "ultrafast", "-avoid_negative_ts", "disabled", "-f", "flv", p)
	return Case{Name: "negative timestamps (flv)", Path: p, Want: Refused, Reason: "exceeds the limit"}, err
}

// AsMP4 remuxes c's file, without re-encoding, into an MP4 in dir (what a
// rendition is: the thumbnail worker only opens MP4s) and, if c's header
// lies, patches the MP4's headers to the same lie. The timestamps keep
// their gaps, rate and order (ffmpeg shifts them to start at 0, as in
// every file it writes); the returned case has the new path and c's
// name, expectations unchanged. Not every lie survives: ffmpeg cannot
// remux NegativeTimestamps (the FLV demuxer finds no codec parameters
// before the timestamps it reads as 24.8 days), and an MP4 muxer given
// negative timestamps writes no frames at all.
func AsMP4(bin, dir string, c Case) (Case, error) {
	p := filepath.Join(dir, strings.TrimSuffix(filepath.Base(c.Path), filepath.Ext(c.Path))+".remuxed.mp4")
	if err := FFmpeg(bin, "-i", c.Path, "-map", "0:v:0", "-c", "copy", "-fps_mode", "passthrough",
		"-use_editlist", "0", "-video_track_timescale", "1000", "-f", "mp4", p); err != nil {
		return Case{}, err
	}
	c.Path = p
	if c.Declared > 0 {
		return c, PatchMP4Duration(p, c.Declared)
	}
	return c, nil
}

var mkvDurationTag = regexp.MustCompile(`[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}`)

// PatchMatroskaDuration rewrites the Segment's Duration element (ID 0x4489,
// a float in milliseconds at the default timecode scale) and every
// stream's DURATION tag to seconds.
func PatchMatroskaDuration(path string, seconds float64) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i := bytes.Index(data, []byte{0x44, 0x89})
	if i < 0 || i+3 > len(data) {
		return fmt.Errorf("%s: no Matroska Duration element", path)
	}
	switch data[i+2] {
	case 0x88:
		binary.BigEndian.PutUint64(data[i+3:], math.Float64bits(seconds*1000))
	case 0x84:
		binary.BigEndian.PutUint32(data[i+3:], math.Float32bits(float32(seconds*1000)))
	default:
		return fmt.Errorf("%s: Duration element of size byte %#x", path, data[i+2])
	}
	s := int64(seconds * 1e9)
	tag := fmt.Sprintf("%02d:%02d:%02d.%09d", s/3600e9, s/60e9%60, s/1e9%60, s%1e9)
	data = mkvDurationTag.ReplaceAll(data, []byte(tag))
	return os.WriteFile(path, data, 0o644)
}

// PatchMP4Duration rewrites the duration of the movie header (mvhd) and of
// every track and media header (tkhd, mdhd; version 0 boxes) to seconds.
func PatchMP4Duration(path string, seconds float64) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var movieScale uint32
	n := 0
	for _, typ := range []string{"mvhd", "tkhd", "mdhd"} {
		for from := 0; ; {
			j := bytes.Index(data[from:], []byte(typ))
			if j < 0 {
				break
			}
			off := from + j - 4 // box start
			from = from + j + 4
			if data[off+8] != 0 {
				return fmt.Errorf("%s: %s version %d, want 0", path, typ, data[off+8])
			}
			switch typ {
			case "mvhd":
				movieScale = binary.BigEndian.Uint32(data[off+20:])
				binary.BigEndian.PutUint32(data[off+24:], uint32(seconds*float64(movieScale)))
			case "tkhd": // duration in the movie timescale, after track id and a reserved word
				binary.BigEndian.PutUint32(data[off+28:], uint32(seconds*float64(movieScale)))
			case "mdhd":
				scale := binary.BigEndian.Uint32(data[off+20:])
				binary.BigEndian.PutUint32(data[off+24:], uint32(seconds*float64(scale)))
			}
			n++
		}
	}
	if n < 3 || movieScale == 0 {
		return fmt.Errorf("%s: mvhd/tkhd/mdhd not found", path)
	}
	return os.WriteFile(path, data, 0o644)
}

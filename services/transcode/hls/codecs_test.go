package hls

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Eyevinn/mp4ff/av1"
	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/hevc"

	"github.com/vidpipe/vidpipe/dev/harness"
)

// The strings of known decoder configurations (real encodes are read in
// package ffmpeg's TestSinglePassHEVCRungs and TestChunkCodecRungs).
func TestCodecStrings(t *testing.T) {
	main := uint32(0x60000000) // general_profile_compatibility_flag[1] and [2]
	tests := map[string]struct {
		got, want string
	}{
		"avc High 3.1": {AVCCodecOf("avc1", avc.DecConfRec{AVCProfileIndication: 100, AVCLevelIndication: 31}), "avc1.64001f"},
		"avc Constrained Baseline": {AVCCodecOf("avc3", avc.DecConfRec{AVCProfileIndication: 66, ProfileCompatibility: 0xc0, AVCLevelIndication: 30}),
			"avc3.42c01e"},
		"hevc Main L3.1 progressive frame-only": {HEVCCodec("hvc1", hevc.DecConfRec{GeneralProfileIDC: 1, GeneralProfileCompatibilityFlags: main,
			GeneralLevelIDC: 93, GeneralConstraintIndicatorFlags: 0x90_00_00_00_00_00}), "hvc1.1.6.L93.90"},
		"hevc Main10 high tier, two constraint bytes": {HEVCCodec("hev1", hevc.DecConfRec{GeneralProfileIDC: 2, GeneralProfileCompatibilityFlags: 0x20000000,
			GeneralTierFlag: true, GeneralLevelIDC: 120, GeneralConstraintIndicatorFlags: 0xb0_08_00_00_00_00}), "hev1.2.4.H120.B0.8"},
		"hevc no constraints": {HEVCCodec("hvc1", hevc.DecConfRec{GeneralProfileIDC: 1, GeneralProfileCompatibilityFlags: main, GeneralLevelIDC: 63}),
			"hvc1.1.6.L63"},
		"hevc profile space": {HEVCCodec("hvc1", hevc.DecConfRec{GeneralProfileSpace: 1, GeneralProfileIDC: 1, GeneralProfileCompatibilityFlags: main,
			GeneralLevelIDC: 63, GeneralConstraintIndicatorFlags: 0x90_00_00_00_00_00}), "hvc1.A1.6.L63.90"},
		"av1 Main 4.0 8-bit":   {AV1Codec(av1.CodecConfRec{SeqProfile: 0, SeqLevelIdx0: 8}), "av01.0.08M.08"},
		"av1 Main 10-bit high": {AV1Codec(av1.CodecConfRec{SeqProfile: 0, SeqLevelIdx0: 13, SeqTier0: 1, HighBitdepth: 1}), "av01.0.13H.10"},
		"av1 Professional 12":  {AV1Codec(av1.CodecConfRec{SeqProfile: 2, SeqLevelIdx0: 1, HighBitdepth: 1, TwelveBit: 1}), "av01.2.01M.12"},
	}
	for name, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", name, tc.got, tc.want)
		}
	}
}

func TestVideoCodecErrors(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"not media":        []byte("hello, this is not a video file at all"),
		"ts without a PAT": append([]byte{0x47, 0x1f, 0xff, 0x10}, make([]byte, 184)...),
		"ts, lost sync":    append(append([]byte{0x47, 0, 0, 0x10}, make([]byte, 184)...), make([]byte, 188)...),
	} {
		file := filepath.Join(dir, "f")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if c, err := VideoCodec(file); err == nil {
			t.Errorf("%s: codec %q, want an error", name, c)
		}
	}
	if _, err := VideoCodec(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("missing file: no error")
	}
}

// An MP4 with its moov after the mdat (no faststart) is read past the
// mdat without reading it; an empty file is an error.
func TestVideoCodecMoovLast(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "late.mp4")
	out, err := exec.Command(harness.MustTool(t, "ffmpeg"), "-hide_banner", "-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1", "-c:v", "libx265", "-tag:v", "hvc1",
		"-x265-params", "log-level=error", "-f", "mp4", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if m, d := bytes.Index(data, []byte("moov")), bytes.Index(data, []byte("mdat")); m < d {
		t.Fatalf("moov at %d, mdat at %d: want the moov last", m, d)
	}
	c, err := VideoCodec(file)
	if err != nil || !strings.HasPrefix(c, "hvc1.1.6.L") {
		t.Errorf("VideoCodec = %q, %v; want hvc1.1.6.L…", c, err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := VideoCodec(empty); err == nil {
		t.Error("empty file: no error")
	}
}

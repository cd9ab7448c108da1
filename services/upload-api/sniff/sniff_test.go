package sniff

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/dev/harness"
)

func mustHead(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "heads", name))
	if err != nil {
		tb.Fatalf("read head: %v", err)
	}
	return b
}

// The heads in testdata/heads are the first 4 KiB of files made by ffmpeg
// (testsrc), plus a few non-videos.
func TestDetectFiles(t *testing.T) {
	tests := map[string]struct {
		file string
		want string // container name; "" means refused
	}{
		"mp4":                     {"mp4.bin", "mp4"},
		"mov with ftyp":           {"mov.bin", "quicktime"},
		"mov without ftyp (wide)": {"mov-noftyp.bin", "quicktime"},
		"mov without ftyp (moov)": {"mov-moovfirst.bin", "quicktime"},
		"3gp":                     {"3gp.bin", "3gp"},
		"matroska":                {"mkv.bin", "matroska"},
		"webm":                    {"webm.bin", "webm"},
		"avi":                     {"avi.bin", "avi"},
		"mpeg-ts":                 {"ts.bin", "mpegts"},
		"m2ts":                    {"m2ts.bin", "mpegts"},
		"mpeg-ps":                 {"mpg.bin", "mpegps"},
		"ogg theora":              {"ogv.bin", "ogg"},
		"flv":                     {"flv.bin", "flv"},
		"m4a audio":               {"m4a.bin", "m4a"},
		"ogg vorbis audio":        {"oga.bin", "ogg-audio"},
		"wav audio":               {"wav.bin", "wav"},
		"png":                     {"png.bin", ""},
		"zip":                     {"zip.bin", ""},
		"elf":                     {"elf.bin", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := Detect(mustHead(t, tc.file))
			if tc.want == "" {
				if !errors.Is(err, ErrNotVideo) {
					t.Fatalf("Detect = %+v, %v; want ErrNotVideo", c, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if c.Name != tc.want || c.MIME == "" {
				t.Fatalf("Detect = %+v, want name %q", c, tc.want)
			}
		})
	}
}

func TestDetectBytes(t *testing.T) {
	ts := make([]byte, 188*3)
	for i := 0; i < 3; i++ {
		ts[i*188] = 0x47
	}
	tests := map[string]struct {
		head []byte
		want string
	}{
		"empty":                 {nil, ""},
		"one byte":              {[]byte{0x47}, ""},
		"text":                  {[]byte("hello, world\n"), ""},
		"gif":                   {[]byte("GIF89a\x01\x00\x01\x00"), ""},
		"jpeg":                  {[]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), ""},
		"pdf":                   {[]byte("%PDF-1.7\n"), ""},
		"heic image brand":      {[]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), ""},
		"avif image brand":      {[]byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf"), ""},
		"ftyp binary brand":     {[]byte("\x00\x00\x00\x14ftyp\x00\x01\x02\x03\x00\x00\x00\x00"), ""},
		"ftyp tiny box":         {[]byte("\x00\x00\x00\x04ftypisom"), ""},
		"mp4 isom":              {[]byte("\x00\x00\x00\x14ftypisom\x00\x00\x02\x00isom"), "mp4"},
		"3g2":                   {[]byte("\x00\x00\x00\x14ftyp3g2a\x00\x00\x02\x00isom"), "3g2"},
		"ts three packets":      {ts, "mpegts"},
		"ts two packets":        {ts[:188*2], ""},
		"ts broken sync":        {append(append([]byte{}, ts...), 0x00), ""},
		"riff wave":             {[]byte("RIFF\x24\x00\x00\x00WAVEfmt "), "wav"},
		"riff other":            {[]byte("RIFF\x24\x00\x00\x00WEBPVP8 "), ""},
		"flac":                  {[]byte("fLaC\x00\x00\x00\x22"), "flac"},
		"flac no streaminfo":    {[]byte("fLaC\x04\x00\x00\x22"), ""},
		"id3v2.4":               {[]byte("ID3\x04\x00\x00\x00\x00\x01\x00TIT2"), "mp3"},
		"id3 bad size":          {[]byte("ID3\x04\x00\x00\x80\x00\x01\x00TIT2"), ""},
		"mp3 lone ff fb":        {[]byte("\xff\xfb\x00\x00\x00\x00\x00\x00"), ""},
		"riff avi":              {[]byte("RIFF\x24\x00\x00\x00AVI LIST"), "avi"},
		"ebml unknown doctype":  {[]byte("\x1a\x45\xdf\xa3\x88\x42\x82\x85hello"), ""},
		"ebml webm":             {[]byte("\x1a\x45\xdf\xa3\x87\x42\x82\x84webm"), "webm"},
		"ebml truncated":        {[]byte("\x1a\x45\xdf\xa3"), ""},
		"flv v1":                {[]byte("FLV\x01\x05\x00\x00\x00\x09"), "flv"},
		"flv bad version":       {[]byte("FLV\x02\x05\x00\x00\x00\x09"), ""},
		"mpeg-1 pack":           {[]byte("\x00\x00\x01\xba\x21\x00\x01\x00\x01\x80\x00\x01\x00\x00"), "mpegps"},
		"pack with bad markers": {[]byte("\x00\x00\x01\xba\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), ""},
		"ogg truncated":         {[]byte("OggS"), ""},
		"moov atom first":       {[]byte("\x00\x00\x00\x10moov\x00\x00\x00\x08mvhd"), "quicktime"},
		"free then mdat":        {[]byte("\x00\x00\x00\x08free\x00\x00\x00\x10mdat\x00\x00\x00\x00\x00\x00\x00\x00"), "quicktime"},
		"free then junk":        {[]byte("\x00\x00\x00\x08free\x00\x00\x00\x10abcd\x00\x00\x00\x00\x00\x00\x00\x00"), ""},
		"free larger than head": {[]byte("\x00\x00\x10\x00free\x00\x00"), ""},
		"bare mdat size 0":      {[]byte("\x00\x00\x00\x00mdat"), ""},
		"wide with 64-bit size": {[]byte("\x00\x00\x00\x01wide\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00\x08mdat"), "quicktime"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := Detect(tc.head)
			if tc.want == "" {
				if !errors.Is(err, ErrNotVideo) {
					t.Fatalf("Detect = %+v, %v; want ErrNotVideo", c, err)
				}
				if err.Error() == "" {
					t.Fatal("empty reason")
				}
				return
			}
			if err != nil || c.Name != tc.want {
				t.Fatalf("Detect = %+v, %v; want %q", c, err, tc.want)
			}
		})
	}
}

func TestDetectIgnoresBytesPastHead(t *testing.T) {
	head := mustHead(t, "mp4.bin")
	long := append(append([]byte{}, head...), bytes.Repeat([]byte{0xff}, 10000)...)
	a, errA := Detect(head)
	b, errB := Detect(long)
	if a != b || (errA == nil) != (errB == nil) {
		t.Fatalf("Detect(head) = %v, %v but Detect(longer) = %v, %v", a, errA, b, errB)
	}
}

func TestReadVint(t *testing.T) {
	tests := map[string]struct {
		in   []byte
		data bool
		v    int64
		n    int
	}{
		"one byte size":     {[]byte{0x81}, true, 1, 1},
		"two byte size":     {[]byte{0x40, 0x02}, true, 2, 2},
		"unknown size":      {[]byte{0xFF}, true, -1, 1},
		"id keeps marker":   {[]byte{0x42, 0x82}, false, 0x4282, 2},
		"zero byte invalid": {[]byte{0x00}, true, 0, 0},
		"truncated":         {[]byte{0x40}, true, 0, 0},
		"empty":             {nil, true, 0, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v, n := readVint(tc.in, tc.data)
			if v != tc.v || n != tc.n {
				t.Fatalf("readVint = %d, %d; want %d, %d", v, n, tc.v, tc.n)
			}
		})
	}
}

// FuzzDetect checks that Detect never panics, that it is deterministic and
// that a recognised container always has a name and a video MIME type.
// Seeds: testdata/fuzz/FuzzDetect and the heads in testdata/heads.
func FuzzDetect(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "heads"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		// 600 bytes reach every detector (MPEG-TS needs 3 x 188) and keep
		// the fuzzer's minimisation of new inputs quick.
		h := mustHead(f, e.Name())
		f.Add(h[:min(len(h), 600)])
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		c, err := Detect(head)
		c2, err2 := Detect(head)
		if c != c2 || (err == nil) != (err2 == nil) {
			t.Fatalf("not deterministic: %v %v / %v %v", c, err, c2, err2)
		}
		if err != nil {
			if !errors.Is(err, ErrNotVideo) {
				t.Fatalf("error %v does not match ErrNotVideo", err)
			}
			return
		}
		if c.Name == "" || !(bytes.HasPrefix([]byte(c.MIME), []byte("video/")) || bytes.HasPrefix([]byte(c.MIME), []byte("audio/"))) {
			t.Fatalf("bad container %+v", c)
		}
	})
}

// TestDetectAudioFiles: the heads of audio files in every format an audio
// asset may be (written by ffmpeg here) are recognised as audio.
func TestDetectAudioFiles(t *testing.T) {
	want := map[string]string{"m4a": "m4a", "mp3": "mp3", "wav": "wav", "flac": "flac", "opus": "ogg-audio", "vorbis": "ogg-audio"}
	dir := t.TempDir()
	for format := range harness.AudioFormats {
		t.Run(format, func(t *testing.T) {
			b, err := os.ReadFile(harness.MustAudio(t, dir, format, 1))
			if err != nil {
				t.Fatal(err)
			}
			c, err := Detect(b[:min(len(b), HeadSize)])
			if err != nil || c.Name != want[format] || !strings.HasPrefix(c.MIME, "audio/") {
				t.Fatalf("Detect = %+v, %v; want %q audio", c, err, want[format])
			}
		})
	}
	// An MP3 without a tag: frame headers only.
	raw := filepath.Join(dir, "raw.mp3")
	if out, err := exec.Command(harness.MustTool(t, "ffmpeg"), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1",
		"-c:a", "libmp3lame", "-id3v2_version", "0", "-write_xing", "0", "-f", "mp3", raw).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(raw)
	if c, err := Detect(b); err != nil || c.Name != "mp3" {
		t.Fatalf("untagged mp3: %+v, %v", c, err)
	}
	adts := filepath.Join(dir, "raw.aac")
	if out, err := exec.Command(harness.MustTool(t, "ffmpeg"), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1",
		"-c:a", "aac", "-f", "adts", adts).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	b, _ = os.ReadFile(adts)
	if c, err := Detect(b); err != nil || c.Name != "aac" {
		t.Fatalf("adts aac: %+v, %v", c, err)
	}
}

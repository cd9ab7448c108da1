package ffmpeg

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/dev/harness"
)

func TestParseDecoders(t *testing.T) {
	out := []byte(`Decoders:
 V..... = Video
 ------
 V....D h264                 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10
 V..... libdav1d             dav1d AV1 decoder by VideoLAN (codec av1)
 V....D av1                  Alliance for Open Media AV1
 A....D mp3float             MP3 (MPEG audio layer 3) (codec mp3)
`)
	got := ParseDecoders(out)
	if !slices.Equal(got["h264"], []string{"h264"}) || !slices.Equal(got["av1"], []string{"libdav1d", "av1"}) ||
		!slices.Equal(got["mp3"], []string{"mp3float"}) || len(got) != 3 {
		t.Errorf("ParseDecoders = %v", got)
	}
}

// TestCodecWhitelistRefusesOtherDecoders: with -codec_whitelist holding
// only the decoders DecoderWhitelist names for the probed codecs, ffmpeg
// decodes the file; with a whitelist lacking them it refuses to.
func TestCodecWhitelistRefusesOtherDecoders(t *testing.T) {
	bin := harness.MustTool(t, "ffmpeg")
	src := filepath.Join(t.TempDir(), "s.mkv")
	if out, err := exec.Command(bin, "-hide_banner", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1",
		"-f", "lavfi", "-i", "sine=duration=1", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", src).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	names, err := DecoderWhitelist(context.Background(), bin, "h264", "aac")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, "h264") || !slices.Contains(names, "aac") || slices.Contains(names, "hevc") {
		t.Fatalf("whitelist %v", names)
	}
	decode := func(list string) (string, error) {
		out, err := exec.Command(bin, "-hide_banner", "-nostdin", "-v", "error", "-codec_whitelist", list, "-i", "file:"+src, "-f", "null", "-").CombinedOutput()
		return string(out), err
	}
	if out, err := decode(strings.Join(names, ",")); err != nil {
		t.Fatalf("decoding with %v: %v\n%s", names, err, out)
	}
	out, err := decode("aac")
	if err == nil || !strings.Contains(out, "whitelist") {
		t.Fatalf("decoding h264 with only aac allowed: err %v, output %s", err, out)
	}
	if _, err := DecoderWhitelist(context.Background(), bin, "no-such-codec"); err == nil {
		t.Error("no error for a codec without decoder")
	}
}

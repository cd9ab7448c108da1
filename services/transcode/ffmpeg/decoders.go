package ffmpeg

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// decoderTables caches ParseDecoders per ffmpeg binary.
var decoderTables sync.Map // binary path → map[string][]string

// DecoderWhitelist returns the names of the decoders the ffmpeg at bin
// has for the given codecs (ffprobe's codec_name values, e.g. "h264",
// "av1" → "libdav1d", "libaom-av1", "av1"...): the value of
// -codec_whitelist that lets ffmpeg decode those streams and nothing else.
// The table is read once per binary from `ffmpeg -decoders`. A codec ffmpeg
// has no decoder for is an error.
func DecoderWhitelist(ctx context.Context, bin string, codecs ...string) ([]string, error) {
	if bin == "" {
		bin = "ffmpeg"
	}
	t, ok := decoderTables.Load(bin)
	if !ok {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		var out bytes.Buffer
		cmd := procgroup.Command(ctx, bin, "-hide_banner", "-nostdin", "-decoders")
		cmd.Stdout = &out
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("ffmpeg -decoders: %w", err)
		}
		t, _ = decoderTables.LoadOrStore(bin, ParseDecoders(out.Bytes()))
	}
	table := t.(map[string][]string)
	var names []string
	for _, c := range codecs {
		ds := table[c]
		if len(ds) == 0 {
			return nil, &NoDecoderError{Codec: c, Bin: bin}
		}
		for _, d := range ds {
			if !slices.Contains(names, d) {
				names = append(names, d)
			}
		}
	}
	return names, nil
}

// NoDecoderError is DecoderWhitelist's error for a codec the ffmpeg
// binary has no decoder for: the input is in a format it cannot process.
type NoDecoderError struct {
	Codec, Bin string
}

func (e *NoDecoderError) Error() string { return fmt.Sprintf("no %s decoder in %s", e.Codec, e.Bin) }

// ParseDecoders reads `ffmpeg -decoders` output into codec → decoder
// names. A line is " V....D name  description", with "(codec X)" at the
// end when the decoder's name is not the codec's.
func ParseDecoders(out []byte) map[string][]string {
	table := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	started := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "------") {
			started = true
			continue
		}
		f := strings.Fields(line)
		if !started || len(f) < 2 || len(f[0]) != 6 {
			continue
		}
		name, codec := f[1], f[1]
		if i := strings.LastIndex(line, "(codec "); i >= 0 && strings.HasSuffix(line, ")") {
			codec = line[i+len("(codec ") : len(line)-1]
		}
		table[codec] = append(table[codec], name)
	}
	return table
}

// Package ladder chooses the renditions of the encoding ladder for a source.
//
// A rung is named by its size on the SHORT side of the picture: "720p" is
// 1280x720 for a 16:9 landscape source and 720x1280 for a 9:16 portrait
// one, so a phone video filmed upright gets the same quality steps as a
// landscape one. Selection works on display dimensions (rotation and pixel
// aspect ratio already applied, see package probe):
//
//   - every rung whose short side is at or below the source's short side is
//     kept (no upscaling);
//   - a source smaller than the lowest rung gets exactly one rendition at
//     its own size, named after its short side (e.g. "240p"), with the
//     lowest rung's bitrates;
//   - the long side keeps the aspect ratio, and both sides are rounded to
//     even numbers (H.264 4:2:0 needs even dimensions).
//
// # Codecs
//
// A rung may name its video codec: H.264 (the default), HEVC or AV1. H.264
// is the fallback every player decodes, so a ladder must have H.264 rungs
// and its lowest rung must be H.264; HEVC and AV1 rungs are extra variants
// a player that decodes them may prefer, and may have the same size as an
// H.264 rung (e.g. "720p" H.264 and "720p-av1" AV1). The rules above apply
// to each codec's rungs on their own. A source smaller than the lowest rung
// gets its one rendition in H.264 only: at such sizes the bytes HEVC or AV1
// save are few, and every player can play the H.264 one.
//
// Renditions come out grouped by codec, H.264 first, then HEVC, then AV1,
// each group smallest first: the master playlist lists them in that order.
//
// The ladder is configured as a comma-separated list of rungs
// NAME:SHORT:VIDEO_BITRATE:AUDIO_BITRATE[:CODEC], bitrates in bits per
// second with an optional k or M suffix, CODEC one of h264 (default), hevc
// or av1; see [DefaultSpec].
package ladder

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// DefaultSpec is the default ladder: 360p, 480p, 720p and 1080p.
const DefaultSpec = "360p:360:800k:96k,480p:480:1400k:128k,720p:720:2800k:128k,1080p:1080:5000k:160k"

// Rung is one step of the ladder.
type Rung struct {
	// Name labels the rung in object keys and playlists, e.g. "720p".
	// It matches [a-z0-9_-]{1,32} and is not [ReservedName].
	Name string
	// Short is the size of the short side in pixels, e.g. 720.
	Short int
	// VideoBitrate and AudioBitrate are targets in bits per second.
	VideoBitrate int64
	AudioBitrate int64
	// Codec is the video codec. Default ("" is read as): H264.
	Codec Codec
}

// Codec is a rung's video codec.
type Codec string

// The video codecs a rung may name.
const (
	// H264 is libx264, High profile: the fallback every player decodes.
	H264 Codec = "h264"
	// HEVC is libx265, Main profile, tagged hvc1.
	HEVC Codec = "hevc"
	// AV1 is libsvtav1, Main profile.
	AV1 Codec = "av1"
)

// Codecs lists the codecs in the order their renditions are listed.
var Codecs = []Codec{H264, HEVC, AV1}

// ParseCodec reads a codec name ("" is H264).
func ParseCodec(s string) (Codec, error) {
	c := Codec(strings.TrimSpace(s))
	if c == "" {
		return H264, nil
	}
	if !slices.Contains(Codecs, c) {
		return "", fmt.Errorf("unknown codec %q, want one of h264, hevc, av1", s)
	}
	return c, nil
}

// Or returns c, or H264 if c is empty (plans written before rungs had codecs).
func (c Codec) Or() Codec {
	if c == "" {
		return H264
	}
	return c
}

// rank is c's place in [Codecs].
func (c Codec) rank() int { return slices.Index(Codecs, c.Or()) }

// Ladder is a list of rungs sorted by Short ascending (same sizes: by
// codec, in the order of [Codecs]).
type Ladder []Rung

// Rendition is a rung resolved for one source.
type Rendition struct {
	Name          string
	Width, Height int
	VideoBitrate  int64
	AudioBitrate  int64
	// Codec is the video codec; "" (plans written before rungs had
	// codecs) means H264: use Codec.Or().
	Codec Codec `json:",omitempty"`
}

// Bitrate is the total target bitrate (video + audio when hasAudio).
func (r Rendition) Bitrate(hasAudio bool) int64 {
	if hasAudio {
		return r.VideoBitrate + r.AudioBitrate
	}
	return r.VideoBitrate
}

var nameRE = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// ReservedName may not name a rung: the HLS package keeps the audio
// renditions in hls/audio/, next to the rungs' hls/<name>/.
const ReservedName = "audio"

// Limits of a rung.
const (
	MinShort   = 16
	MaxShort   = 8192
	MinBitrate = 16_000
	MaxBitrate = 500_000_000
	MaxRungs   = 16
)

// Parse reads a ladder spec (see the package doc). Rungs are sorted by
// Short; names and sizes must be unique.
func Parse(spec string) (Ladder, error) {
	var l Ladder
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		f := strings.Split(item, ":")
		if len(f) != 4 && len(f) != 5 {
			return nil, fmt.Errorf("ladder rung %q: want NAME:SHORT:VIDEO_BITRATE:AUDIO_BITRATE[:CODEC]", item)
		}
		codec := H264
		if len(f) == 5 {
			c, err := ParseCodec(f[4])
			if err != nil {
				return nil, fmt.Errorf("ladder rung %q: %w", item, err)
			}
			codec = c
		}
		short, err := strconv.Atoi(f[1])
		if err != nil {
			return nil, fmt.Errorf("ladder rung %q: size: %w", item, err)
		}
		vb, err := ParseBitrate(f[2])
		if err != nil {
			return nil, fmt.Errorf("ladder rung %q: video bitrate: %w", item, err)
		}
		ab, err := ParseBitrate(f[3])
		if err != nil {
			return nil, fmt.Errorf("ladder rung %q: audio bitrate: %w", item, err)
		}
		l = append(l, Rung{Name: f[0], Short: short, VideoBitrate: vb, AudioBitrate: ab, Codec: codec})
	}
	slices.SortStableFunc(l, func(a, b Rung) int {
		if a.Short != b.Short {
			return a.Short - b.Short
		}
		return a.Codec.rank() - b.Codec.rank()
	})
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return l, nil
}

// MustParse is Parse that panics on error (for constants and tests).
func MustParse(spec string) Ladder {
	l, err := Parse(spec)
	if err != nil {
		panic(err)
	}
	return l
}

// Validate reports the first problem of l: names unique and safe, sizes
// and bitrates in range, sizes strictly increasing among the rungs of
// one codec, and H.264 present at the lowest size.
func (l Ladder) Validate() error {
	if len(l) == 0 {
		return errors.New("ladder: no rungs")
	}
	if len(l) > MaxRungs {
		return fmt.Errorf("ladder: %d rungs, at most %d", len(l), MaxRungs)
	}
	lowestH264 := -1
	for _, r := range l {
		if r.Codec.Or() == H264 && (lowestH264 < 0 || r.Short < lowestH264) {
			lowestH264 = r.Short
		}
	}
	for i, r := range l {
		if _, err := ParseCodec(string(r.Codec)); err != nil {
			return fmt.Errorf("ladder rung %q: %w", r.Name, err)
		}
		prev := -1 // the previous rung of the same codec
		for k := i - 1; k >= 0; k-- {
			if l[k].Codec.Or() == r.Codec.Or() {
				prev = k
				break
			}
		}
		switch {
		case !nameRE.MatchString(r.Name):
			return fmt.Errorf("ladder rung %q: name must match %s", r.Name, nameRE)
		case r.Name == ReservedName:
			return fmt.Errorf("ladder rung %q: name reserved for the audio renditions", r.Name)
		case r.Short < MinShort || r.Short > MaxShort || r.Short%2 != 0:
			return fmt.Errorf("ladder rung %q: size %d must be even and in %d..%d", r.Name, r.Short, MinShort, MaxShort)
		case r.VideoBitrate < MinBitrate || r.VideoBitrate > MaxBitrate:
			return fmt.Errorf("ladder rung %q: video bitrate %d out of range %d..%d", r.Name, r.VideoBitrate, MinBitrate, MaxBitrate)
		case r.AudioBitrate < MinBitrate || r.AudioBitrate > 1_000_000:
			return fmt.Errorf("ladder rung %q: audio bitrate %d out of range %d..%d", r.Name, r.AudioBitrate, MinBitrate, 1_000_000)
		case i > 0 && r.Short < l[i-1].Short:
			return fmt.Errorf("ladder rung %q: size %d below the previous rung's %d (rungs must be sorted)", r.Name, r.Short, l[i-1].Short)
		case prev >= 0 && r.Short <= l[prev].Short:
			return fmt.Errorf("ladder rung %q: size %d not above the previous %s rung's %d", r.Name, r.Short, r.Codec.Or(), l[prev].Short)
		case lowestH264 < 0:
			return fmt.Errorf("ladder: no h264 rung (H.264 is the fallback every player decodes)")
		case r.Short < lowestH264:
			return fmt.Errorf("ladder rung %q: %s at size %d below the lowest h264 rung's %d (the lowest rung must be h264)", r.Name, r.Codec.Or(), r.Short, lowestH264)
		}
		for _, o := range l[:i] {
			if o.Name == r.Name {
				return fmt.Errorf("ladder rung %q: duplicate name", r.Name)
			}
		}
	}
	return nil
}

// String formats l as a spec Parse accepts.
func (l Ladder) String() string {
	parts := make([]string, len(l))
	for i, r := range l {
		parts[i] = fmt.Sprintf("%s:%d:%s:%s", r.Name, r.Short, FormatBitrate(r.VideoBitrate), FormatBitrate(r.AudioBitrate))
		if c := r.Codec.Or(); c != H264 {
			parts[i] += ":" + string(c)
		}
	}
	return strings.Join(parts, ",")
}

// Select returns the renditions for a source displayed at width×height,
// grouped by codec (H.264 first), smallest first within a codec (see the
// package doc for the rules). It returns nil for
// non-positive dimensions.
func (l Ladder) Select(width, height int) []Rendition {
	if width <= 0 || height <= 0 || len(l) == 0 {
		return nil
	}
	short, long := min(width, height), max(width, height)
	size := func(s int) (w, h int) {
		// The long side keeps the aspect ratio, rounded to the nearest even
		// number; never beyond the source's own (even) long side.
		ls := 2 * int(math.Round(float64(long)*float64(s)/float64(short)/2))
		ls = max(2, min(ls, long&^1))
		if width >= height {
			return ls, s
		}
		return s, ls
	}
	var out []Rendition
	for _, c := range Codecs {
		for _, r := range l {
			if r.Codec.Or() != c || r.Short > short {
				continue
			}
			w, h := size(r.Short)
			out = append(out, Rendition{Name: r.Name, Width: w, Height: h, VideoBitrate: r.VideoBitrate, AudioBitrate: r.AudioBitrate, Codec: c})
		}
	}
	if len(out) == 0 {
		// Below the lowest rung, which is H.264 (Validate): one H.264
		// rendition at the source's size with that rung's bitrates.
		low := l[0]
		for _, r := range l {
			if r.Codec.Or() == H264 {
				low = r
				break
			}
		}
		s := max(2, short&^1) // own size, rounded down to even
		w, h := size(s)
		out = append(out, Rendition{Name: fmt.Sprintf("%dp", s), Width: w, Height: h,
			VideoBitrate: low.VideoBitrate, AudioBitrate: low.AudioBitrate, Codec: H264})
	}
	return out
}

// ParseBitrate parses "800k", "2.5M" or "128000" into bits per second.
func ParseBitrate(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid bitrate %q", s)
	}
	return int64(math.Round(f * mult)), nil
}

// FormatBitrate formats bits per second compactly ("800k", "5M", "1500").
func FormatBitrate(b int64) string {
	switch {
	case b%1_000_000 == 0:
		return strconv.FormatInt(b/1_000_000, 10) + "M"
	case b%1000 == 0:
		return strconv.FormatInt(b/1000, 10) + "k"
	}
	return strconv.FormatInt(b, 10)
}

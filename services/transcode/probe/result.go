package probe

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Result is what ffprobe found in a file.
type Result struct {
	// FormatName is ffprobe's format_name, the demuxer that read the file,
	// e.g. "mov,mp4,m4a,3gp,3g2,mj2".
	FormatName string
	// Duration in seconds: the container's duration, or the longest stream
	// if the container has none. 0 if unknown.
	Duration float64
	// Size of the file in bytes (0 if unknown).
	Size int64
	// BitRate of the whole file in bits per second (0 if unknown).
	BitRate int64
	// Video is the first video stream that is not a cover picture and has
	// a known codec; nil if none.
	Video *Video
	// Audio is the first audio stream with a known codec; nil if none.
	Audio *Audio
	// Streams is the number of streams of any kind.
	Streams int
}

// Video describes a video stream.
type Video struct {
	// Index is the stream index in the file (for -map 0:Index).
	Index int
	// Codec is the codec name, e.g. "h264"; Profile e.g. "High"; Level e.g. 40.
	Codec   string
	Profile string
	Level   int
	// Width and Height are the stored (coded picture) dimensions.
	Width, Height int
	// SARNum/SARDen is the sample (pixel) aspect ratio; 1/1 if unknown.
	SARNum, SARDen int
	// Rotation is the display rotation in degrees, normalised to 0, 90,
	// 180 or 270 (from the display-matrix side data, or the legacy "rotate"
	// tag). Other angles are reported as 0: ffmpeg does not apply them.
	Rotation int
	// DisplayWidth and DisplayHeight are the dimensions a player shows:
	// sample aspect ratio applied, then width and height swapped for a
	// rotation of 90 or 270.
	DisplayWidth, DisplayHeight int
	// FrameRate is the average frame rate (or the base rate if the average
	// is unknown), as a rational string ffmpeg accepts ("30000/1001"), and
	// FPS the same as a number. Empty and 0 if unknown.
	FrameRate string
	FPS       float64
	// Duration of the stream in seconds, 0 if unknown.
	Duration float64
	// Interlaced is true if the stream declares a field order other than progressive.
	Interlaced bool
	// PixFmt is the decoded pixel format, e.g. "yuv420p".
	PixFmt string
	// BitRate of the stream in bits per second (0 if unknown).
	BitRate int64
	// ColorTransfer, ColorPrimaries, ColorSpace (the matrix) and
	// ColorRange are ffprobe's color_transfer, color_primaries,
	// color_space and color_range, e.g. "smpte2084", "bt2020",
	// "bt2020nc", "tv"; empty if unknown or unspecified.
	ColorTransfer, ColorPrimaries, ColorSpace, ColorRange string
}

// Transfer characteristics of high-dynamic-range video (ffprobe's color_transfer).
const (
	// TransferPQ is SMPTE ST 2084, perceptual quantizer (HDR10, Dolby Vision profile 8.1).
	TransferPQ = "smpte2084"
	// TransferHLG is ARIB STD-B67, hybrid log-gamma.
	TransferHLG = "arib-std-b67"
)

// HDR reports whether the stream is high dynamic range: its transfer
// characteristic is PQ or HLG. Such a stream must be tone-mapped before
// it is encoded as SDR; a stream with no or another transfer tag is SDR.
func (v *Video) HDR() bool {
	return v != nil && (v.ColorTransfer == TransferPQ || v.ColorTransfer == TransferHLG)
}

// Audio describes an audio stream.
type Audio struct {
	Index      int
	Codec      string
	Profile    string
	Channels   int
	SampleRate int
	Duration   float64
}

// ffprobe's JSON (only the fields used).
type rawOutput struct {
	Streams []rawStream `json:"streams"`
	Format  *rawFormat  `json:"format"`
}

type rawFormat struct {
	FormatName string `json:"format_name"`
	Duration   string `json:"duration"`
	Size       string `json:"size"`
	BitRate    string `json:"bit_rate"`
}

type rawStream struct {
	Index             int               `json:"index"`
	CodecName         string            `json:"codec_name"`
	CodecType         string            `json:"codec_type"`
	Profile           string            `json:"profile"`
	Level             int               `json:"level"`
	Width             int               `json:"width"`
	Height            int               `json:"height"`
	SampleAspectRatio string            `json:"sample_aspect_ratio"`
	PixFmt            string            `json:"pix_fmt"`
	FieldOrder        string            `json:"field_order"`
	RFrameRate        string            `json:"r_frame_rate"`
	AvgFrameRate      string            `json:"avg_frame_rate"`
	Duration          string            `json:"duration"`
	BitRate           string            `json:"bit_rate"`
	SampleRate        string            `json:"sample_rate"`
	Channels          int               `json:"channels"`
	Disposition       map[string]int    `json:"disposition"`
	Tags              map[string]string `json:"tags"`
	SideDataList      []rawSideData     `json:"side_data_list"`
	ColorTransfer     string            `json:"color_transfer"`
	ColorPrimaries    string            `json:"color_primaries"`
	ColorSpace        string            `json:"color_space"`
	ColorRange        string            `json:"color_range"`
}

type rawSideData struct {
	SideDataType string   `json:"side_data_type"`
	Rotation     *float64 `json:"rotation"`
}

// Parse decodes the JSON printed by
// `ffprobe -print_format json -show_format -show_streams`.
func Parse(data []byte) (*Result, error) {
	var raw rawOutput
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse ffprobe output: %w", err)
	}
	if raw.Format == nil {
		return nil, fmt.Errorf("parse ffprobe output: no format section")
	}
	r := &Result{
		FormatName: raw.Format.FormatName,
		Duration:   parseFloat(raw.Format.Duration),
		Size:       parseInt(raw.Format.Size),
		BitRate:    parseInt(raw.Format.BitRate),
		Streams:    len(raw.Streams),
	}
	var longest float64
	for i := range raw.Streams {
		s := &raw.Streams[i]
		d := parseFloat(s.Duration)
		longest = math.Max(longest, d)
		if s.CodecName == "" {
			continue // a stream no decoder knows: neither usable nor mapped
		}
		switch s.CodecType {
		case "video":
			// Cover art in audio files is a one-picture "video" stream.
			if r.Video == nil && s.Disposition["attached_pic"] == 0 {
				r.Video = parseVideo(s, d)
			}
		case "audio":
			if r.Audio == nil {
				r.Audio = &Audio{Index: s.Index, Codec: s.CodecName, Profile: s.Profile,
					Channels: s.Channels, SampleRate: int(parseInt(s.SampleRate)), Duration: d}
			}
		}
	}
	if r.Duration <= 0 {
		r.Duration = longest
	}
	return r, nil
}

func parseVideo(s *rawStream, duration float64) *Video {
	v := &Video{
		Index: s.Index, Codec: s.CodecName, Profile: s.Profile, Level: s.Level,
		Width: s.Width, Height: s.Height, PixFmt: s.PixFmt, Duration: duration,
		BitRate:       parseInt(s.BitRate),
		Interlaced:    s.FieldOrder != "" && s.FieldOrder != "progressive" && s.FieldOrder != "unknown",
		ColorTransfer: known(s.ColorTransfer), ColorPrimaries: known(s.ColorPrimaries),
		ColorSpace: known(s.ColorSpace), ColorRange: known(s.ColorRange),
	}
	v.SARNum, v.SARDen = parseRatio(s.SampleAspectRatio, ":")
	if v.SARNum <= 0 || v.SARDen <= 0 {
		v.SARNum, v.SARDen = 1, 1
	}
	for _, fr := range []string{s.AvgFrameRate, s.RFrameRate} {
		if n, d := parseRatio(fr, "/"); n > 0 && d > 0 {
			v.FrameRate, v.FPS = fmt.Sprintf("%d/%d", n, d), float64(n)/float64(d)
			break
		}
	}
	v.Rotation = rotation(s)
	v.DisplayWidth, v.DisplayHeight = v.Width, v.Height
	if v.SARNum != v.SARDen && v.Width > 0 {
		v.DisplayWidth = int(math.Round(float64(v.Width) * float64(v.SARNum) / float64(v.SARDen)))
	}
	if v.Rotation == 90 || v.Rotation == 270 {
		v.DisplayWidth, v.DisplayHeight = v.DisplayHeight, v.DisplayWidth
	}
	return v
}

// rotation reads the display-matrix rotation (ffmpeg ≥ 5) or the legacy
// "rotate" tag, normalised to 0, 90, 180 or 270.
func rotation(s *rawStream) int {
	deg, ok := 0.0, false
	for _, sd := range s.SideDataList {
		if sd.Rotation != nil {
			deg, ok = *sd.Rotation, true
			break
		}
	}
	if !ok {
		if t, found := s.Tags["rotate"]; found {
			deg = parseFloat(t)
		}
	}
	r := int(math.Round(deg))
	r = ((r % 360) + 360) % 360
	switch r {
	case 0, 90, 180, 270:
		return r
	}
	return 0
}

// known is a color property as ffprobe names it, "" for "unknown" and
// "unspecified".
func known(s string) string {
	if s == "unknown" || s == "unspecified" || s == "reserved" {
		return ""
	}
	return s
}

func parseFloat(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0
	}
	return f
}

func parseInt(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func parseRatio(s, sep string) (int, int) {
	a, b, ok := strings.Cut(s, sep)
	if !ok {
		return 0, 0
	}
	n, err1 := strconv.Atoi(a)
	d, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil {
		return 0, 0
	}
	return n, d
}

package ffmpeg

import (
	"strconv"
	"strings"

	"github.com/vidpipe/vidpipe/services/transcode/probe"
)

// ToneMapper is the tonemap filter's curve. mobius keeps in-range
// (SDR-bright) values nearly linear and compresses only the highlights:
// on a testsrc2 pattern mapped to PQ at 100 nits its mean luma, contrast
// and saturation stay within 10–25 % of the SDR encode, where hable
// darkens the picture by a third (see TestHDRSourcesToneMapped).
const ToneMapper = "mobius"

// NominalPeak is the luminance in cd/m² that zscale maps linear 1.0 to
// (npl) when it linearises the source: SDR reference white.
const NominalPeak = 100

// zscale's names of the color properties ffprobe reports that it accepts
// as the input's; anything else falls back to BT.2020 (the container of
// every PQ and HLG format in use) and limited range.
var (
	zscalePrimaries = map[string]bool{"bt2020": true, "bt709": true, "smpte431": true, "smpte432": true}
	zscaleMatrix    = map[string]bool{"bt2020nc": true, "bt2020c": true, "bt709": true}
	zscaleRange     = map[string]bool{"tv": true, "pc": true}
)

// toneMapFilter is the filter chain, ending with a comma, that turns HDR
// frames of v into SDR BT.709 8-bit 4:2:0 frames of width×height (the
// largest rung's size); "" for an SDR source. The first zscale also
// resizes, so the float RGB steps work on the largest rung's pixels, not
// the source's (a 1080p source tone-mapped for a 720p top rung: 1.3 s of
// CPU for 90 frames instead of 2.7 s, one thread). The source's color
// properties are given to zscale explicitly (from the probe), so a
// decoder that does not tag its frames does not change the result:
// linearise (npl NominalPeak) in 32-bit float RGB, convert the primaries
// to BT.709, tone-map ([ToneMapper], no desaturation), apply the BT.709
// transfer and matrix in limited range.
func toneMapFilter(v *probe.Video, width, height int) string {
	if !v.HDR() {
		return ""
	}
	pin, min, rin := "bt2020", "bt2020nc", "tv"
	if zscalePrimaries[v.ColorPrimaries] {
		pin = v.ColorPrimaries
	}
	if zscaleMatrix[v.ColorSpace] {
		min = v.ColorSpace
	}
	if zscaleRange[v.ColorRange] {
		rin = v.ColorRange
	}
	return strings.Join([]string{
		"zscale=w=" + strconv.Itoa(width) + ":h=" + strconv.Itoa(height) + ":f=bicubic:tin=" + v.ColorTransfer + ":pin=" + pin + ":min=" + min + ":rin=" + rin + ":t=linear:npl=" + strconv.Itoa(NominalPeak),
		"format=gbrpf32le",
		"zscale=p=bt709",
		"tonemap=tonemap=" + ToneMapper + ":desat=0",
		"zscale=t=bt709:m=bt709:r=tv",
		"format=yuv420p",
	}, ",") + ","
}

// bt709Args are the output options that tag an encode SDR BT.709 in
// limited range (the H.264 VUI, and the MP4 colr box), for a source that
// was tone-mapped; nil for an SDR source, whose encodes stay as they were.
func bt709Args(v *probe.Video) []string {
	if !v.HDR() {
		return nil
	}
	return []string{"-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv"}
}

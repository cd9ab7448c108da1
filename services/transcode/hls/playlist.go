package hls

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// InitURI is the init segment every media playlist maps (#EXT-X-MAP),
// relative to the playlist: the track's fMP4 segments need it.
const InitURI = "init.mp4"

// MediaPlaylist returns a media playlist of segs (fMP4 segments of one
// CMAF track), as the segment pipeline publishes them while chunks
// complete: #EXT-X-VERSION:7,
// #EXT-X-TARGETDURATION the longest EXTINF rounded up (at least 1),
// #EXT-X-MEDIA-SEQUENCE:0, #EXT-X-PLAYLIST-TYPE:EVENT (segments are only
// ever appended), #EXT-X-INDEPENDENT-SEGMENTS (every video segment starts
// with a keyframe; audio segments are independent anyway),
// #EXT-X-MAP:URI="init.mp4" (the track's init segment, [InitURI]), each
// segment's EXTINF (6 decimals) and URI, and #EXT-X-ENDLIST when ended.
// URIs are written as given (relative to the playlist), line breaks
// removed.
func MediaPlaylist(segs []Segment, ended bool) []byte {
	target := 1
	for _, s := range segs {
		// From the written value, so that float noise (2.0000000001) does not round up.
		d, _ := strconv.ParseFloat(strconv.FormatFloat(s.Duration, 'f', 6, 64), 64)
		target = max(target, int(math.Ceil(d)))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n"+
		"#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"%s\"\n", target, InitURI)
	for _, s := range segs {
		fmt.Fprintf(&b, "#EXTINF:%.6f,\n%s\n", s.Duration, oneLine(s.URI))
	}
	if ended {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.Bytes()
}

// AudioRendition is an EXT-X-MEDIA TYPE=AUDIO entry of a master playlist.
type AudioRendition struct {
	// GroupID is the group the variants name in AUDIO, e.g. "aud-128k";
	// Name the rendition's name in its group, e.g. "audio 128k".
	GroupID, Name string
	// URI of the audio media playlist relative to the master, e.g.
	// "audio/128k/index.m3u8".
	URI string
	// Default marks the group's default rendition (DEFAULT=YES).
	Default bool
	// Channels, if > 0, is written as CHANNELS="2".
	Channels int
}

// MasterWithAudio returns a master playlist with the audio renditions'
// EXT-X-MEDIA lines first (AUTOSELECT=YES), then the variants in order,
// each naming its audio group (Variant.Audio). Attribute values are
// written as given, double quotes and line breaks removed.
func MasterWithAudio(audio []AudioRendition, vs []Variant) []byte {
	var b bytes.Buffer
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	for _, a := range audio {
		def := "NO"
		if a.Default {
			def = "YES"
		}
		fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"%s\",NAME=\"%s\",DEFAULT=%s,AUTOSELECT=YES",
			quoted(a.GroupID), quoted(a.Name), def)
		if a.Channels > 0 {
			fmt.Fprintf(&b, ",CHANNELS=\"%d\"", a.Channels)
		}
		fmt.Fprintf(&b, ",URI=\"%s\"\n", quoted(a.URI))
	}
	for _, v := range vs {
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d", v.Bandwidth)
		if v.AverageBandwidth > 0 {
			fmt.Fprintf(&b, ",AVERAGE-BANDWIDTH=%d", v.AverageBandwidth)
		}
		if v.Width > 0 && v.Height > 0 { // none for an audio-only variant
			fmt.Fprintf(&b, ",RESOLUTION=%dx%d", v.Width, v.Height)
		}
		if len(v.Codecs) > 0 {
			fmt.Fprintf(&b, ",CODECS=\"%s\"", quoted(strings.Join(v.Codecs, ",")))
		}
		if v.FrameRate > 0 {
			fmt.Fprintf(&b, ",FRAME-RATE=%.3f", v.FrameRate)
		}
		if v.Audio != "" {
			fmt.Fprintf(&b, ",AUDIO=\"%s\"", quoted(v.Audio))
		}
		fmt.Fprintf(&b, "\n%s\n", oneLine(v.URI))
	}
	return b.Bytes()
}

// quoted makes s a valid quoted-string attribute value: no '"', no line break.
func quoted(s string) string { return strings.NewReplacer("\"", "", "\n", "", "\r", "").Replace(s) }

// oneLine removes line breaks from a URI line.
func oneLine(s string) string { return strings.NewReplacer("\n", "", "\r", "").Replace(s) }

package hls

import (
	"bytes"
	"fmt"
	"math"
	"strings"
)

// MediaPlaylist returns a media playlist listing segs: an HLS EVENT
// playlist (segments are only ever appended, so a player may start while
// the video is still being encoded and reload it for more) with
// TARGETDURATION the longest segment rounded up, and #EXT-X-ENDLIST when
// ended (the video is complete).
func MediaPlaylist(segs []Segment, ended bool) []byte {
	target := 1
	for _, s := range segs {
		target = max(target, int(math.Ceil(s.Duration-1e-6)))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n", target)
	for _, s := range segs {
		fmt.Fprintf(&b, "#EXTINF:%.6f,\n%s\n", s.Duration, s.URI)
	}
	if ended {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.Bytes()
}

// AudioRendition is an EXT-X-MEDIA TYPE=AUDIO entry of a master playlist.
type AudioRendition struct {
	// GroupID is what variants name in AUDIO="...".
	GroupID string
	// Name is the human-readable name; URI the media playlist relative to
	// the master.
	Name, URI string
	// Default marks the rendition a player picks without a choice.
	Default  bool
	Channels int
}

// MasterWithAudio returns a master playlist with the audio renditions
// (EXT-X-MEDIA) first, then the variants; a variant whose Audio names a
// group gets AUDIO="<group>". Its BANDWIDTH must include the audio's.
func MasterWithAudio(audio []AudioRendition, vs []Variant) []byte {
	var b bytes.Buffer
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	for _, a := range audio {
		def := "NO"
		if a.Default {
			def = "YES"
		}
		fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=%q,NAME=%q,DEFAULT=%s,AUTOSELECT=YES", a.GroupID, a.Name, def)
		if a.Channels > 0 {
			fmt.Fprintf(&b, ",CHANNELS=\"%d\"", a.Channels)
		}
		fmt.Fprintf(&b, ",URI=%q\n", a.URI)
	}
	master := Master(vs)
	rest := strings.TrimPrefix(string(master), "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	b.WriteString(rest)
	return b.Bytes()
}

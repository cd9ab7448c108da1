package server

import "testing"

// tsPacket is one 188-byte MPEG-TS packet starting a PES with pts (or a
// PSI section when pts < 0), with an adaptation field when adapt is set.
func tsPacket(pts int64, adapt bool) []byte {
	p := make([]byte, 188)
	p[0], p[1], p[2], p[3] = 0x47, 0x41, 0x00, 0x10
	i := 4
	if adapt {
		p[3] = 0x30
		p[4] = 7 // adaptation field length
		i += 1 + 7
	}
	if pts < 0 {
		p[i] = 0x00 // pointer field of a PSI section
		p[i+1] = 0x02
		return p
	}
	copy(p[i:], []byte{0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5})
	b := p[i+9:]
	b[0] = byte(0x21 | (pts>>29)&0x0e)
	b[1] = byte(pts >> 22)
	b[2] = byte((pts>>14)&0xfe | 1)
	b[3] = byte(pts >> 7)
	b[4] = byte((pts<<1)&0xfe | 1)
	return p
}

func TestTSFirstPTS(t *testing.T) {
	cat := func(ps ...[]byte) (out []byte) {
		for _, p := range ps {
			out = append(out, p...)
		}
		return out
	}
	tests := map[string]struct {
		ts   []byte
		want int64 // -1: an error
	}{
		"one PES":               {cat(tsPacket(126000, false)), 126000},
		"PSI, then PES":         {cat(tsPacket(-1, false), tsPacket(1026000, true)), 1026000},
		"earliest of several":   {cat(tsPacket(129600, false), tsPacket(126000, true), tsPacket(132000, false)), 126000},
		"33-bit timestamp":      {cat(tsPacket(1<<32+5, false)), 1<<32 + 5},
		"no PES":                {cat(tsPacket(-1, false)), -1},
		"not TS":                {make([]byte, 188), -1},
		"shorter than a packet": {[]byte{0x47}, -1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := tsFirstPTS(tc.ts)
			if tc.want < 0 {
				if err == nil {
					t.Fatalf("tsFirstPTS = %d, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("tsFirstPTS = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestFirstURI(t *testing.T) {
	master := []byte("#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"audio/128k/index.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/index.m3u8?x=1\n")
	if got := firstURI(master, "#EXT-X-STREAM-INF:"); got != "360p/index.m3u8" {
		t.Errorf("variant = %q", got)
	}
	if got := firstURI([]byte("#EXTM3U\n#EXTINF:1,\nhttps://elsewhere/seg.ts\n"), "#EXTINF:"); got != "" {
		t.Errorf("absolute segment = %q, want none", got)
	}
	if got := firstURI([]byte("#EXTM3U\n#EXTINF:1,\n../../other/seg.ts\n"), "#EXTINF:"); got != "" {
		t.Errorf("escaping segment = %q, want none", got)
	}
}

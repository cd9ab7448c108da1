package scenario

import (
	"testing"
)

func TestParseMaster(t *testing.T) {
	master := `#EXTM3U
#EXT-X-VERSION:6
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud-128k",NAME="audio",DEFAULT=YES,URI="audio/128k/index.m3u8?sig=1"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud-96k",NAME="audio",URI="audio/96k/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1920x1080,AUDIO="aud-128k"
1080p/index.m3u8?sig=2
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,AUDIO="aud-96k"
360p/index.m3u8
`
	m, err := parseMaster([]byte(master))
	if err != nil {
		t.Fatal(err)
	}
	if m.Variant != "1080p/index.m3u8?sig=2" || m.Audio != "audio/128k/index.m3u8?sig=1" {
		t.Fatalf("got %+v", m)
	}
	if _, err := parseMaster([]byte("#EXTM3U\n")); err == nil {
		t.Fatal("a master without variants parsed")
	}
	seg, err := firstSegment([]byte("#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXTINF:1.000,\nhttp://s3/seg_00000.ts?X=1\n#EXTINF:2.0,\nseg_00001.ts\n"))
	if err != nil || seg != "http://s3/seg_00000.ts?X=1" {
		t.Fatalf("firstSegment = %q, %v", seg, err)
	}
	if _, err := firstSegment([]byte("#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT\n")); err == nil {
		t.Fatal("an empty media playlist has a first segment")
	}
	u, err := resolve("http://api/v1/videos/x/hls/master.m3u8?sig=a", "720p/index.m3u8?sig=b")
	if err != nil || u != "http://api/v1/videos/x/hls/720p/index.m3u8?sig=b" {
		t.Fatalf("resolve = %q, %v", u, err)
	}
}

func TestClipSpec(t *testing.T) {
	c := clipSpec{Width: 1920, Height: 1080, Seconds: 600, Preset: "ultrafast", Bitrate: "2M"}
	if got := c.name(); got != "testsrc2-1920x1080-30fps-600s-ultrafast-2M.mp4" {
		t.Errorf("name = %q", got)
	}
	if got := (clipSpec{Width: 1280, Height: 720, Seconds: 180}).name(); got != "testsrc2-1280x720-30fps-180s-veryfast.mp4" {
		t.Errorf("name = %q", got)
	}
	for in, want := range map[string]string{"2M": "4M", "800k": "1600k", "1.5M": "3M", "x": "x"} {
		if got := doubled(in); got != want {
			t.Errorf("doubled(%q) = %q, want %q", in, got, want)
		}
	}
	if got, got60 := duration(600), duration(60); got != "10 min" || got60 != "60 s" {
		t.Errorf("duration(600) = %q", got)
	}
	if got := statusRank("playable"); got != 2 {
		t.Errorf("statusRank(playable) = %d, want 2", got)
	}
}

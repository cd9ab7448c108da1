package hls

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestMediaPlaylist(t *testing.T) {
	segs := []Segment{{"seg_00000.m4s", 1}, {"seg_00001.m4s", 2}, {"seg_00002.m4s", 2.005333}, {"seg_00003.m4s", 0.4}}
	for _, ended := range []bool{false, true} {
		text := string(MediaPlaylist(segs, ended))
		wantHead := "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:0\n" +
			"#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:1.000000,\nseg_00000.m4s\n"
		if !strings.HasPrefix(text, wantHead) {
			t.Errorf("playlist starts\n%s\nwant\n%s", text, wantHead)
		}
		if got := strings.HasSuffix(text, "seg_00003.m4s\n#EXT-X-ENDLIST\n"); got != ended {
			t.Errorf("ended %v: playlist ends %q", ended, text[len(text)-30:])
		}
		// ffmpeg and players read it back: the same segments.
		path := filepath.Join(t.TempDir(), "index.m3u8")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadMediaPlaylist(path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, segs) {
			t.Errorf("read back %+v, want %+v", got, segs)
		}
	}
}

func TestMediaPlaylistTargetDuration(t *testing.T) {
	for _, tc := range []struct {
		durs []float64
		want string
	}{
		{[]float64{2, 2, 1.5}, "#EXT-X-TARGETDURATION:2\n"},
		{[]float64{2.0000000001}, "#EXT-X-TARGETDURATION:2\n"}, // float noise does not round up
		{[]float64{2.000001}, "#EXT-X-TARGETDURATION:3\n"},
		{[]float64{0.2}, "#EXT-X-TARGETDURATION:1\n"},
		{nil, "#EXT-X-TARGETDURATION:1\n"},
	} {
		var segs []Segment
		for _, d := range tc.durs {
			segs = append(segs, Segment{"s.m4s", d})
		}
		if text := string(MediaPlaylist(segs, false)); !strings.Contains(text, tc.want) {
			t.Errorf("%v: %q, want %q", tc.durs, text, tc.want)
		}
	}
}

func TestMasterWithAudio(t *testing.T) {
	got := string(MasterWithAudio([]AudioRendition{
		{GroupID: "aud-96k", Name: "audio 96k", URI: "audio/96k/index.m3u8", Default: true, Channels: 2},
		{GroupID: "aud-128k", Name: "audio 128k", URI: "audio/128k/index.m3u8", Default: true, Channels: 2},
	}, []Variant{
		{URI: "360p/index.m3u8", Bandwidth: 896_000, AverageBandwidth: 850_000, Width: 640, Height: 360,
			Codecs: []string{"avc1.64001e", "mp4a.40.2"}, FrameRate: 30, Audio: "aud-96k"},
		{URI: "720p/index.m3u8", Bandwidth: 2_928_000, Width: 1280, Height: 720,
			Codecs: []string{"avc1.64001f", "mp4a.40.2"}, FrameRate: 30, Audio: "aud-128k"},
	}))
	want := "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n" +
		"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud-96k\",NAME=\"audio 96k\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio/96k/index.m3u8\"\n" +
		"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud-128k\",NAME=\"audio 128k\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio/128k/index.m3u8\"\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=896000,AVERAGE-BANDWIDTH=850000,RESOLUTION=640x360,CODECS=\"avc1.64001e,mp4a.40.2\",FRAME-RATE=30.000,AUDIO=\"aud-96k\"\n360p/index.m3u8\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=2928000,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=30.000,AUDIO=\"aud-128k\"\n720p/index.m3u8\n"
	if got != want {
		t.Fatalf("MasterWithAudio =\n%s\nwant\n%s", got, want)
	}
	// Without audio renditions it is Master.
	vs := []Variant{{URI: "a/index.m3u8", Bandwidth: 1, Width: 2, Height: 2}}
	if string(MasterWithAudio(nil, vs)) != string(Master(vs)) {
		t.Error("MasterWithAudio(nil, vs) differs from Master(vs)")
	}
}

func TestMasterWithAudioQuotesNothingUnsafe(t *testing.T) {
	got := string(MasterWithAudio([]AudioRendition{{GroupID: "a\"b", Name: "x\ny", URI: "u\r.m3u8"}},
		[]Variant{{URI: "v\n.m3u8", Bandwidth: 1, Width: 2, Height: 2, Audio: "a\"b"}}))
	if strings.Count(got, "\n") != 6 || strings.Contains(got, "a\"b") || strings.Contains(got, "\r") {
		t.Errorf("unsafe characters written:\n%q", got)
	}
}

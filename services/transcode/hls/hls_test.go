package hls

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(tb testing.TB, path string, size int) {
	tb.Helper()
	if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func TestReadMediaPlaylist(t *testing.T) {
	tests := map[string]struct {
		text    string
		want    []Segment
		wantErr string
	}{
		"ffmpeg vod playlist": {
			text: "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXTINF:2.000000,\nseg_00000.ts\n#EXTINF:1.033333,\nseg_00001.ts\n#EXT-X-ENDLIST\n",
			want: []Segment{{"seg_00000.ts", 2}, {"seg_00001.ts", 1.033333}},
		},
		"title after the comma": {
			text: "#EXTM3U\n#EXTINF:2.0,title\nseg.ts\n",
			want: []Segment{{"seg.ts", 2}},
		},
		"not a playlist":     {text: "hello\n", wantErr: "missing #EXTM3U"},
		"no segments":        {text: "#EXTM3U\n#EXT-X-ENDLIST\n", wantErr: "no segments"},
		"uri without extinf": {text: "#EXTM3U\nseg.ts\n", wantErr: "without EXTINF"},
		"bad duration":       {text: "#EXTM3U\n#EXTINF:abc,\nseg.ts\n", wantErr: "bad EXTINF"},
		"absolute uri":       {text: "#EXTM3U\n#EXTINF:2,\n/etc/passwd\n", wantErr: "unexpected URI"},
		"parent uri":         {text: "#EXTM3U\n#EXTINF:2,\n../x.ts\n", wantErr: "unexpected URI"},
		"url":                {text: "#EXTM3U\n#EXTINF:2,\nfile:///etc/passwd\n", wantErr: "unexpected URI"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "index.m3u8")
			if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadMediaPlaylist(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRates(t *testing.T) {
	tests := map[string]struct {
		sizes     []int64
		durations []float64
		target    float64
		peak, avg int64
	}{
		"peak is the fattest full segment": {
			sizes: []int64{250_000, 500_000, 100_000}, durations: []float64{2, 2, 2}, target: 2,
			peak: 2_000_000, avg: 1_133_333},
		"short tail segment does not set the peak": {
			sizes: []int64{250_000, 250_000, 50_000}, durations: []float64{2, 2, 0.04}, target: 2,
			peak: 1_000_000, avg: 1_089_109},
		"all short: the peak comes from them": {
			sizes: []int64{10_000}, durations: []float64{0.5}, target: 2,
			peak: 160_000, avg: 160_000},
		"zero duration: unknown": {sizes: []int64{10}, durations: []float64{0}, target: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			peak, avg := Rates(tc.sizes, tc.durations, tc.target)
			if peak != tc.peak || avg != tc.avg {
				t.Fatalf("Rates = %d, %d; want %d, %d", peak, avg, tc.peak, tc.avg)
			}
		})
	}
}

func TestMaster(t *testing.T) {
	got := string(Master([]Variant{
		{URI: "360p/index.m3u8", Bandwidth: 1_000_000, AverageBandwidth: 900_000, Width: 640, Height: 360,
			Codecs: []string{"avc1.64001e", "mp4a.40.2"}, FrameRate: 30},
		{URI: "720p/index.m3u8", Bandwidth: 3_000_000, Width: 1280, Height: 720, Codecs: []string{"avc1.64001f"}},
	}))
	want := "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=1000000,AVERAGE-BANDWIDTH=900000,RESOLUTION=640x360,CODECS=\"avc1.64001e,mp4a.40.2\",FRAME-RATE=30.000\n360p/index.m3u8\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720,CODECS=\"avc1.64001f\"\n720p/index.m3u8\n"
	if got != want {
		t.Fatalf("Master =\n%s\nwant\n%s", got, want)
	}
}

func TestCodecs(t *testing.T) {
	for profile, want := range map[string]string{"LC": "mp4a.40.2", "HE-AAC": "mp4a.40.5", "HE-AACv2": "mp4a.40.29", "Main": ""} {
		got, err := AACCodec(profile)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("AACCodec(%q) = %q, %v; want %q", profile, got, err, want)
		}
	}
}

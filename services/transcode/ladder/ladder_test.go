package ladder

import (
	"reflect"
	"strings"
	"testing"
)

func TestSelect(t *testing.T) {
	def := MustParse(DefaultSpec)
	r := func(name string, w, h int, vb, ab int64) Rendition {
		return Rendition{Name: name, Width: w, Height: h, VideoBitrate: vb, AudioBitrate: ab, Codec: H264}
	}
	r360l, r480l, r720l, r1080l := r("360p", 640, 360, 800_000, 96_000), r("480p", 854, 480, 1_400_000, 128_000),
		r("720p", 1280, 720, 2_800_000, 128_000), r("1080p", 1920, 1080, 5_000_000, 160_000)
	tests := map[string]struct {
		w, h int
		want []Rendition
	}{
		"1080p landscape gets every rung":        {1920, 1080, []Rendition{r360l, r480l, r720l, r1080l}},
		"4K landscape is capped at the top rung": {3840, 2160, []Rendition{r360l, r480l, r720l, r1080l}},
		"720p landscape stops at 720p":           {1280, 720, []Rendition{r360l, r480l, r720l}},
		"between rungs keeps the rungs below": {1000, 600, []Rendition{
			r("360p", 600, 360, 800_000, 96_000), r("480p", 800, 480, 1_400_000, 128_000)}},
		"portrait uses the short side": {720, 1280, []Rendition{
			r("360p", 360, 640, 800_000, 96_000), r("480p", 480, 854, 1_400_000, 128_000), r("720p", 720, 1280, 2_800_000, 128_000)}},
		"portrait 1080x1920": {1080, 1920, []Rendition{
			r("360p", 360, 640, 800_000, 96_000), r("480p", 480, 854, 1_400_000, 128_000),
			r("720p", 720, 1280, 2_800_000, 128_000), r("1080p", 1080, 1920, 5_000_000, 160_000)}},
		"square": {1080, 1080, []Rendition{
			r("360p", 360, 360, 800_000, 96_000), r("480p", 480, 480, 1_400_000, 128_000),
			r("720p", 720, 720, 2_800_000, 128_000), r("1080p", 1080, 1080, 5_000_000, 160_000)}},
		"exactly the lowest rung":                              {640, 360, []Rendition{r360l}},
		"below the lowest rung: one rendition at its own size": {320, 240, []Rendition{r("240p", 320, 240, 800_000, 96_000)}},
		"odd tiny source is rounded down to even":              {321, 241, []Rendition{r("240p", 320, 240, 800_000, 96_000)}},
		"tiny portrait": {180, 320, []Rendition{r("180p", 180, 320, 800_000, 96_000)}},
		"4:3 source keeps its aspect": {1440, 1080, []Rendition{
			r("360p", 480, 360, 800_000, 96_000), r("480p", 640, 480, 1_400_000, 128_000),
			r("720p", 960, 720, 2_800_000, 128_000), r("1080p", 1440, 1080, 5_000_000, 160_000)}},
		"odd long side never exceeds the source": {1921, 1080, []Rendition{
			r("360p", 640, 360, 800_000, 96_000), r("480p", 854, 480, 1_400_000, 128_000),
			r("720p", 1280, 720, 2_800_000, 128_000), r("1080p", 1920, 1080, 5_000_000, 160_000)}},
		"zero width": {0, 1080, nil},
		"negative":   {-1, -1, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := def.Select(tc.w, tc.h)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Select(%d, %d)\n got %+v\nwant %+v", tc.w, tc.h, got, tc.want)
			}
			for _, r := range got {
				if r.Width%2 != 0 || r.Height%2 != 0 {
					t.Errorf("%s: odd dimensions %dx%d", r.Name, r.Width, r.Height)
				}
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := map[string]struct {
		spec    string
		want    Ladder
		wantErr string
	}{
		"default": {spec: DefaultSpec, want: Ladder{
			{"360p", 360, 800_000, 96_000, H264}, {"480p", 480, 1_400_000, 128_000, H264},
			{"720p", 720, 2_800_000, 128_000, H264}, {"1080p", 1080, 5_000_000, 160_000, H264}}},
		"unsorted input is sorted": {spec: "hi:720:2M:128k, lo:360:800k:96k", want: Ladder{
			{"lo", 360, 800_000, 96_000, H264}, {"hi", 720, 2_000_000, 128_000, H264}}},
		"plain numbers and decimals": {spec: "a:240:250000:64000,b:480:1.5M:96k", want: Ladder{
			{"a", 240, 250_000, 64_000, H264}, {"b", 480, 1_500_000, 96_000, H264}}},
		"codecs, same sizes sorted h264 first": {spec: "720p-av1:720:1.6M:128k:av1, 720p:720:2800k:128k:h264, 360p:360:800k:96k, 720p-hevc:720:2M:128k:hevc", want: Ladder{
			{"360p", 360, 800_000, 96_000, H264}, {"720p", 720, 2_800_000, 128_000, H264},
			{"720p-hevc", 720, 2_000_000, 128_000, HEVC}, {"720p-av1", 720, 1_600_000, 128_000, AV1}}},
		"hevc only above h264": {spec: "360p:360:800k:96k,1080p-hevc:1080:3M:160k:hevc", want: Ladder{
			{"360p", 360, 800_000, 96_000, H264}, {"1080p-hevc", 1080, 3_000_000, 160_000, HEVC}}},
		"same size as the lowest h264 rung": {spec: "360p:360:800k:96k,360p-av1:360:500k:96k:av1", want: Ladder{
			{"360p", 360, 800_000, 96_000, H264}, {"360p-av1", 360, 500_000, 96_000, AV1}}},
		"unknown codec":              {spec: "360p:360:800k:96k:vp9", wantErr: "unknown codec"},
		"upper-case codec":           {spec: "360p:360:800k:96k:HEVC", wantErr: "unknown codec"},
		"too many fields":            {spec: "360p:360:800k:96k:h264:x", wantErr: "want NAME:SHORT"},
		"no h264 rung":               {spec: "360p:360:800k:96k:hevc,720p:720:2M:128k:av1", wantErr: "no h264 rung"},
		"lowest rung not h264":       {spec: "240p-av1:240:300k:64k:av1,360p:360:800k:96k", wantErr: "lowest rung must be h264"},
		"duplicate size in a codec":  {spec: "360p:360:800k:96k,a:720:2M:128k:av1,b:720:1.5M:128k:av1", wantErr: "not above the previous av1"},
		"duplicate name over codecs": {spec: "360p:360:800k:96k,360p:720:2M:128k:hevc", wantErr: "duplicate name"},
		"empty":                      {spec: "", wantErr: "no rungs"},
		"missing field":              {spec: "360p:360:800k", wantErr: "want NAME:SHORT"},
		"bad size":                   {spec: "360p:abc:800k:96k", wantErr: "size"},
		"odd size":                   {spec: "361p:361:800k:96k", wantErr: "must be even"},
		"bad bitrate":                {spec: "360p:360:fast:96k", wantErr: "video bitrate"},
		"negative bitrate":           {spec: "360p:360:-800k:96k", wantErr: "video bitrate"},
		"duplicate size":             {spec: "a:360:800k:96k,b:360:900k:96k", wantErr: "not above"},
		"duplicate name":             {spec: "a:360:800k:96k,a:480:900k:96k", wantErr: "duplicate name"},
		"unsafe name":                {spec: "../x:360:800k:96k", wantErr: "name must match"},
		"name with slash":            {spec: "a/b:360:800k:96k", wantErr: "name must match"},
		"upper-case name":            {spec: "HD:720:2M:128k", wantErr: "name must match"},
		"tiny bitrate":               {spec: "a:360:1k:96k", wantErr: "out of range"},
		"audio bitrate huge":         {spec: "a:360:800k:5M", wantErr: "audio bitrate"},
		"rung named audio":           {spec: "360p:360:800k:96k,audio:480:1M:128k", wantErr: "reserved"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want one containing %q", tc.spec, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.spec, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Parse(%q) = %+v, want %+v", tc.spec, got, tc.want)
			}
			// String round-trips.
			again, err := Parse(got.String())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("Parse(String()) = %+v, %v; want %+v", again, err, got)
			}
		})
	}
}

func TestBitrates(t *testing.T) {
	tests := map[string]struct {
		in   string
		want int64
	}{
		"k":       {"800k", 800_000},
		"K":       {"96K", 96_000},
		"M":       {"5M", 5_000_000},
		"decimal": {"2.5M", 2_500_000},
		"plain":   {"1500", 1500},
		"trimmed": {" 64k ", 64_000},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseBitrate(tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("ParseBitrate(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "k", "0", "-5k", "1e400", "NaN"} {
		if _, err := ParseBitrate(bad); err == nil {
			t.Errorf("ParseBitrate(%q): no error", bad)
		}
	}
	for in, want := range map[int64]string{5_000_000: "5M", 800_000: "800k", 1500: "1500"} {
		if got := FormatBitrate(in); got != want {
			t.Errorf("FormatBitrate(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestRenditionBitrate(t *testing.T) {
	r := Rendition{VideoBitrate: 800_000, AudioBitrate: 96_000}
	if got := r.Bitrate(true); got != 896_000 {
		t.Errorf("with audio: %d", got)
	}
	if got := r.Bitrate(false); got != 800_000 {
		t.Errorf("without audio: %d", got)
	}
}

func TestSelectCodecs(t *testing.T) {
	l := MustParse("360p:360:800k:96k,720p:720:2800k:128k,720p-hevc:720:2M:128k:hevc,1080p-hevc:1080:3500k:160k:hevc,480p-av1:480:700k:128k:av1,1080p-av1:1080:3M:160k:av1")
	r := func(name string, w, h int, vb, ab int64, c Codec) Rendition {
		return Rendition{Name: name, Width: w, Height: h, VideoBitrate: vb, AudioBitrate: ab, Codec: c}
	}
	tests := map[string]struct {
		w, h int
		want []Rendition
	}{
		"1080p: every codec, h264 first, smallest first within a codec": {1920, 1080, []Rendition{
			r("360p", 640, 360, 800_000, 96_000, H264), r("720p", 1280, 720, 2_800_000, 128_000, H264),
			r("720p-hevc", 1280, 720, 2_000_000, 128_000, HEVC), r("1080p-hevc", 1920, 1080, 3_500_000, 160_000, HEVC),
			r("480p-av1", 854, 480, 700_000, 128_000, AV1), r("1080p-av1", 1920, 1080, 3_000_000, 160_000, AV1)}},
		"no upscaling per codec": {1280, 720, []Rendition{
			r("360p", 640, 360, 800_000, 96_000, H264), r("720p", 1280, 720, 2_800_000, 128_000, H264),
			r("720p-hevc", 1280, 720, 2_000_000, 128_000, HEVC), r("480p-av1", 854, 480, 700_000, 128_000, AV1)}},
		"a codec with no rung at or below the source is left out": {854, 480, []Rendition{
			r("360p", 640, 360, 800_000, 96_000, H264), r("480p-av1", 854, 480, 700_000, 128_000, AV1)}},
		"portrait": {720, 1280, []Rendition{
			r("360p", 360, 640, 800_000, 96_000, H264), r("720p", 720, 1280, 2_800_000, 128_000, H264),
			r("720p-hevc", 720, 1280, 2_000_000, 128_000, HEVC), r("480p-av1", 480, 854, 700_000, 128_000, AV1)}},
		"below the lowest rung: one h264 rendition only": {320, 240, []Rendition{
			r("240p", 320, 240, 800_000, 96_000, H264)}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := l.Select(tc.w, tc.h)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Select(%d, %d)\n got %+v\nwant %+v", tc.w, tc.h, got, tc.want)
			}
		})
	}
}

func TestCodecOr(t *testing.T) {
	if got := Codec("").Or(); got != H264 {
		t.Errorf(`Codec("").Or() = %q, want h264`, got)
	}
	if got := AV1.Or(); got != AV1 {
		t.Errorf("AV1.Or() = %q", got)
	}
	// A ladder built in code (not parsed) with an empty codec is H.264.
	if err := (Ladder{{Name: "a", Short: 360, VideoBitrate: 800_000, AudioBitrate: 96_000}}).Validate(); err != nil {
		t.Errorf("Validate of an empty-codec rung: %v", err)
	}
}

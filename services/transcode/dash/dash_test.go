package dash

import (
	"strings"
	"testing"

	m "github.com/Eyevinn/dash-mpd/mpd"
)

func TestMPDParsesBack(t *testing.T) {
	video := Track{ID: "360p", Dir: "360p", Bandwidth: 900_000, Codecs: "avc1.64001e", Width: 640, Height: 360, FrameRate: "30000/1001",
		Timescale: 90000, InitURI: "init.mp4", Segments: []Segment{
			{"seg_00000.m4s", 0, 90090}, {"seg_00001.m4s", 90090, 180180}, {"seg_00002.m4s", 270270, 180180}, {"seg_00003.m4s", 450450, 3003}}}
	audio := Track{ID: "audio-96k", Dir: "audio/96k", Bandwidth: 96_000, Codecs: "mp4a.40.2", SampleRate: 48000, Channels: 2,
		Timescale: 48000, InitURI: "init.mp4", Segments: []Segment{{"seg_00000.m4s", 0, 96256}, {"seg_00001.m4s", 96256, 48128}}}
	b, err := MPD(Presentation{Seconds: 5.038, Video: []Track{video}, Audio: []Track{audio}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", b)
	// The schema's order inside a SegmentList: Initialization,
	// SegmentTimeline, SegmentURL*.
	text := string(b)
	for _, list := range strings.Split(text, "<SegmentList ")[1:] {
		list, _, _ = strings.Cut(list, "</SegmentList>")
		i, tl, u := strings.Index(list, "<Initialization "), strings.Index(list, "<SegmentTimeline>"), strings.Index(list, "<SegmentURL ")
		if i < 0 || tl < i || u < tl || strings.LastIndex(list, "<Initialization ") != i {
			t.Errorf("SegmentList children out of the schema's order:\n%s", list)
		}
	}
	doc, err := m.ReadFromString(text)
	if err != nil {
		t.Fatalf("dash-mpd cannot read it back: %v", err)
	}
	if doc.GetType() != "static" || string(doc.Profiles) != Profile || doc.MediaPresentationDuration.Seconds() != 5.038 {
		t.Errorf("MPD type %s profiles %s duration %v", doc.GetType(), doc.Profiles, doc.MediaPresentationDuration)
	}
	sets := doc.Periods[0].AdaptationSets
	if len(sets) != 2 || sets[0].MimeType != "video/mp4" || sets[1].MimeType != "audio/mp4" || !sets[0].SegmentAlignment {
		t.Fatalf("adaptation sets %+v", sets)
	}
	v := sets[0].Representations[0]
	if v.Id != "360p" || v.Width != 640 || v.Height != 360 || v.FrameRate != "30000/1001" || v.Codecs != "avc1.64001e" || v.Bandwidth != 900_000 {
		t.Errorf("video representation %+v", v)
	}
	sl := v.SegmentList
	if sl.GetTimescale() != 90000 || sl.Initialization.SourceURL != "360p/init.mp4" || len(sl.SegmentURL) != 4 ||
		sl.SegmentURL[3].Media != "360p/seg_00003.m4s" {
		t.Errorf("video segment list %+v", sl)
	}
	// Equal durations fold into one S with a repeat count.
	s := sl.SegmentTimeline.S
	if len(s) != 3 || *s[0].T != 0 || s[0].D != 90090 || *s[1].T != 90090 || s[1].D != 180180 || s[1].R != 1 || *s[2].T != 450450 || s[2].D != 3003 {
		t.Errorf("video timeline %+v %+v %+v", s[0], s[1], s[len(s)-1])
	}
	a := sets[1].Representations[0]
	if a.AudioSamplingRate == nil || *a.AudioSamplingRate != "48000" || len(a.AudioChannelConfigurations) != 1 ||
		a.AudioChannelConfigurations[0].Value != "2" || a.SegmentList.Initialization.SourceURL != "audio/96k/init.mp4" {
		t.Errorf("audio representation %+v", a)
	}
}

func TestMPDRefusesIncompleteTracks(t *testing.T) {
	ok := Track{ID: "a", Dir: "a", Bandwidth: 1, Codecs: "c", Timescale: 1, InitURI: "init.mp4", Segments: []Segment{{"s", 0, 1}}}
	for name, tc := range map[string]func(*Presentation){
		"no tracks":        func(p *Presentation) { p.Video = nil },
		"no duration":      func(p *Presentation) { p.Seconds = 0 },
		"no segments":      func(p *Presentation) { p.Video[0].Segments = nil },
		"no codecs":        func(p *Presentation) { p.Video[0].Codecs = "" },
		"zero bandwidth":   func(p *Presentation) { p.Video[0].Bandwidth = 0 },
		"zero segment":     func(p *Presentation) { p.Video[0].Segments = []Segment{{"s", 0, 0}} },
		"no timescale":     func(p *Presentation) { p.Video[0].Timescale = 0 },
		"bandwidth > 2^32": func(p *Presentation) { p.Video[0].Bandwidth = 1 << 33 },
	} {
		p := Presentation{Seconds: 1, Video: []Track{ok}}
		p.Video[0].Segments = append([]Segment(nil), ok.Segments...)
		tc(&p)
		if _, err := MPD(p); err == nil || !strings.Contains(err.Error(), "dash") {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

package transcode

import (
	"context"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/Eyevinn/dash-mpd/mpd"

	"github.com/vidpipe/vidpipe/contract"
)

// codecLadder has an HEVC and an AV1 rung the size of an H.264 one.
const codecLadder = "240p:240:300k:64k,360p:360:700k:96k,360p-hevc:360:450k:96k:hevc,360p-av1:360:400k:96k:av1"

var (
	avcRE  = regexp.MustCompile(`^avc1\.[0-9a-f]{6}$`)
	hevcRE = regexp.MustCompile(`^hvc1\.1\.6\.L[0-9]+(\.[0-9A-F]{1,2})+$`)
	av1RE  = regexp.MustCompile(`^av01\.0\.[0-9]{2}[MH]\.08$`)
)

// checkCodecLadder checks a transcode of a 640x360 clip with codecLadder:
// the event's renditions carry their codecs, the master playlist lists
// the H.264 variants first and each variant's CODECS from its stream, and
// the HEVC MP4 is hvc1-tagged Main.
func checkCodecLadder(t *testing.T, e *env, out contract.VideoTranscoded) {
	t.Helper()
	if err := out.Validate(); err != nil {
		t.Fatalf("event invalid: %v", err)
	}
	var names, codecs []string
	for _, r := range out.Renditions {
		names, codecs = append(names, r.Name), append(codecs, r.Codec)
	}
	if !slices.Equal(names, []string{"240p", "360p", "360p-hevc", "360p-av1"}) || !slices.Equal(codecs, []string{"h264", "h264", "hevc", "av1"}) {
		t.Errorf("renditions %v codecs %v, want 240p 360p 360p-hevc 360p-av1, h264 h264 hevc av1", names, codecs)
	}
	local := e.MustDownload(t, contract.OutputPrefix(out.VideoID), t.TempDir())
	master := string(MustRead(t, filepath.Join(local, "hls", "master.m3u8")))
	t.Logf("master:\n%s", master)
	entries := parseMaster(t, master)
	if len(entries) != 4 {
		t.Fatalf("%d variants, want 4", len(entries))
	}
	for i, want := range []struct {
		uri string
		re  *regexp.Regexp
	}{{"240p/index.m3u8", avcRE}, {"360p/index.m3u8", avcRE}, {"360p-hevc/index.m3u8", hevcRE}, {"360p-av1/index.m3u8", av1RE}} {
		got := entries[i]
		video, _, _ := strings.Cut(got.attrs["CODECS"], ",")
		if got.uri != want.uri || !want.re.MatchString(video) || !strings.HasSuffix(got.attrs["CODECS"], ",mp4a.40.2") {
			t.Errorf("variant %d: %s CODECS %q, want %s with %s and mp4a.40.2", i, got.uri, got.attrs["CODECS"], want.uri, want.re)
		}
	}
	d := MustProbeFile(t, filepath.Join(local, "mp4", "360p-hevc.mp4"))
	var codec, tag, profile, pixFmt string
	var width, height int
	for _, st := range d.Streams {
		if st.CodecType == "video" {
			codec, tag, profile, pixFmt, width, height = st.CodecName, st.CodecTag, st.Profile, st.PixFmt, st.Width, st.Height
		}
	}
	if codec != "hevc" || tag != "hvc1" || profile != "Main" || pixFmt != "yuv420p" || width != 640 || height != 360 {
		t.Errorf("360p-hevc.mp4: %s %s %s %s %dx%d, want hevc hvc1 Main yuv420p 640x360", codec, tag, profile, pixFmt, width, height)
	}
	// Keyframes (segment starts) at the same times in every codec.
	hk, ak := MustKeyframeTimes(t, filepath.Join(local, "mp4", "360p-hevc.mp4")), MustKeyframeTimes(t, filepath.Join(local, "mp4", "360p.mp4"))
	vk := MustKeyframeTimes(t, filepath.Join(local, "mp4", "360p-av1.mp4"))
	if !slices.Equal(hk, ak) || !slices.Equal(vk, ak) || len(hk) < 2 {
		t.Errorf("keyframes: HEVC at %v, AV1 at %v, H.264 at %v; want the same, at least 2", hk, vk, ak)
	}
	// The MPD has one video AdaptationSet per codec, H.264 first (a
	// player switches only within a set), over the same segments.
	doc, err := mpd.ReadFromFile(filepath.Join(local, "hls", "manifest.mpd"))
	if err != nil {
		t.Fatal(err)
	}
	var sets []string
	for _, a := range doc.Periods[0].AdaptationSets {
		if a.ContentType != "video" {
			continue
		}
		var fams []string
		for _, r := range a.Representations {
			fam, _, _ := strings.Cut(r.Codecs, ".")
			fams = append(fams, fam+":"+r.Id)
		}
		sets = append(sets, strings.Join(fams, " "))
	}
	if want := []string{"avc1:240p avc1:360p", "hvc1:360p-hevc", "av01:360p-av1"}; !slices.Equal(sets, want) {
		t.Errorf("video adaptation sets %q, want %q", sets, want)
	}
	checkPackage(t, local, out, 120, 4, true)
}

// The single pass encodes an H.264 + HEVC + AV1 ladder from one decode.
func TestHandleCodecLadder(t *testing.T) {
	e := MustEnv(t, func(s *Settings) { s.Ladder, s.GOPSeconds = codecLadder, 2 }, nil)
	in := e.MustUpload(t, MustClip(t, filepath.Join(t.TempDir(), "source.mp4"), clip{Width: 640, Height: 360, Seconds: 4, Audio: true, FPS: 30}))
	out, err := e.worker.Handle(context.Background(), in)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	checkCodecLadder(t, e, out)
}

// The segment pipeline encodes an H.264 + HEVC + AV1 ladder in chunks
// (CMAF segments) and assembles the HEVC MP4 hvc1-tagged.
func TestSegmentPipelineCodecLadder(t *testing.T) {
	se := mustSegEnv(t, 1, func(s *Settings) { s.Ladder = codecLadder }, nil)
	in := se.MustUpload(t, MustClip(t, filepath.Join(t.TempDir(), "source.mp4"), clip{Width: 640, Height: 360, Seconds: 4, Audio: true, FPS: 30}))
	se.produce(t, in)
	out := events[contract.VideoTranscoded](t, se.k, contract.TopicTranscoded, in.VideoID, 1)[0]
	checkCodecLadder(t, se.env, out)
}

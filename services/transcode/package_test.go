package transcode

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/Eyevinn/dash-mpd/mpd"
	"github.com/Eyevinn/hls-m3u8/m3u8"
	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
)

// checkPackage validates the HLS + DASH package of out downloaded to
// local (the video's output prefix): every playlist parsed by a stock HLS
// parser (Eyevinn/hls-m3u8, strict), the MPD by a stock DASH parser
// (Eyevinn/dash-mpd), both referencing the same segment objects; every
// track's segments continue each other's tfdt from 0; and ffmpeg plays
// the master playlist and the MPD: frames video frames (if > 0; else
// about seconds of video) and an audio stream if hasAudio.
func checkPackage(t *testing.T, local string, out contract.VideoTranscoded, frames int, seconds float64, hasAudio bool) {
	t.Helper()
	prefix := contract.OutputPrefix(out.VideoID)
	rel := func(key string) string {
		return filepath.Join(local, filepath.FromSlash(strings.TrimPrefix(key, prefix)))
	}
	if out.DASH == nil || out.DASH.ManifestKey != out.Outputs().DASHManifestKey() {
		t.Fatalf("dash %+v, want the manifest key %s", out.DASH, out.Outputs().DASHManifestKey())
	}
	masterFile, mpdFile := rel(out.HLS.MasterKey), rel(out.DASH.ManifestKey)
	hlsDir := filepath.Dir(masterFile)

	// HLS, parsed by a stock parser.
	pl, typ, err := m3u8.DecodeFrom(bytes.NewReader(MustRead(t, masterFile)), true)
	if err != nil || typ != m3u8.MASTER {
		t.Fatalf("master playlist: %v (type %v)", err, typ)
	}
	master := pl.(*m3u8.MasterPlaylist)
	if len(master.Variants) != len(out.Renditions) {
		t.Fatalf("master: %d variants, want %d", len(master.Variants), len(out.Renditions))
	}
	tracks := map[string][]string{} // track directory (relative to hls/) → its segment URIs
	for _, v := range master.Variants {
		fam, _, _ := strings.Cut(v.Codecs, ".")
		if (fam != "avc1" && fam != "hvc1" && fam != "av01") || strings.Contains(v.Codecs, "mp4a.40.2") != hasAudio {
			t.Errorf("variant %s: CODECS %q", v.URI, v.Codecs)
		}
		tracks[path.Dir(v.URI)] = nil
		for _, a := range v.Alternatives {
			tracks[path.Dir(a.URI)] = nil
		}
	}
	if n := len(tracks) - len(out.Renditions); (n > 0) != hasAudio {
		t.Errorf("master: %d audio renditions, source audio %v", n, hasAudio)
	}
	for dir := range tracks {
		mp, typ, err := m3u8.DecodeFrom(bytes.NewReader(MustRead(t, filepath.Join(hlsDir, dir, "index.m3u8"))), true)
		if err != nil || typ != m3u8.MEDIA {
			t.Fatalf("%s/index.m3u8: %v (type %v)", dir, err, typ)
		}
		media := mp.(*m3u8.MediaPlaylist)
		if media.Map == nil || media.Map.URI != "init.mp4" || media.Version() < 7 || !media.Closed {
			t.Errorf("%s/index.m3u8: map %+v, version %d, ended %v; want init.mp4, 7, ended", dir, media.Map, media.Version(), media.Closed)
		}
		var total float64
		for _, s := range media.GetAllSegments() {
			tracks[dir] = append(tracks[dir], s.URI)
			total += s.Duration
		}
		if math.Abs(total-seconds) > 0.1 {
			t.Errorf("%s: segments last %.3f s, want %.3f", dir, total, seconds)
		}
		checkTFDT(t, filepath.Join(hlsDir, dir), tracks[dir])
	}

	// DASH, parsed by a stock parser: the same objects.
	doc, err := mpd.ReadFromFile(mpdFile)
	if err != nil {
		t.Fatalf("MPD: %v", err)
	}
	if doc.GetType() != "static" || !strings.Contains(string(doc.Profiles), "isoff-main") || doc.MediaPresentationDuration == nil ||
		math.Abs(doc.MediaPresentationDuration.Seconds()-seconds) > 0.1 || len(doc.Periods) != 1 {
		t.Errorf("MPD: type %s profiles %s duration %v periods %d", doc.GetType(), doc.Profiles, doc.MediaPresentationDuration, len(doc.Periods))
	}
	reps := 0
	for _, as := range doc.Periods[0].AdaptationSets {
		for _, r := range as.Representations {
			reps++
			sl := r.SegmentList
			if sl == nil || sl.Initialization == nil || sl.SegmentTimeline == nil {
				t.Fatalf("representation %s: no SegmentList with Initialization and SegmentTimeline", r.Id)
			}
			dir := path.Dir(string(sl.Initialization.SourceURL))
			want, ok := tracks[dir]
			if !ok || path.Base(string(sl.Initialization.SourceURL)) != "init.mp4" {
				t.Errorf("representation %s: init %s is no HLS track's", r.Id, sl.Initialization.SourceURL)
				continue
			}
			var got []string
			for _, u := range sl.SegmentURL {
				got = append(got, string(u.Media)) // relative to the MPD, as the HLS master's URIs
			}
			for i := range want {
				want[i] = path.Join(dir, want[i])
			}
			if !slices.Equal(got, want) {
				t.Errorf("representation %s: segments %v, HLS lists %v", r.Id, got, want)
			}
			var n int
			var end uint64
			for _, s := range sl.SegmentTimeline.S {
				if s.T != nil && *s.T != end {
					t.Errorf("representation %s: S@t %d, want %d (continuous)", r.Id, *s.T, end)
				}
				n += 1 + s.R
				end += s.D * uint64(1+s.R)
			}
			if n != len(want) || math.Abs(float64(end)/float64(sl.GetTimescale())-seconds) > 0.1 {
				t.Errorf("representation %s: timeline of %d segments ending at %d/%d, want %d lasting %.3f s",
					r.Id, n, end, sl.GetTimescale(), len(want), seconds)
			}
			if r.Codecs == "" && as.Codecs == "" {
				t.Errorf("representation %s: no codecs", r.Id)
			}
		}
	}
	if reps != len(tracks) {
		t.Errorf("MPD: %d representations, HLS %d tracks", reps, len(tracks))
	}

	// Both played by ffmpeg from the local copy.
	for _, in := range []string{masterFile, mpdFile} {
		n, dur := playFrames(t, in)
		if frames > 0 && n != frames || math.Abs(dur-seconds) > 0.15 {
			t.Errorf("%s: ffmpeg played %d frames, %.3f s; want %d, %.3f s", filepath.Base(in), n, dur, frames, seconds)
		}
		streams := string(MustFFprobe(t, "-protocol_whitelist", "file", "-show_entries", "stream=codec_type,start_time", "-of", "csv=p=0", in))
		if !strings.Contains(streams, "video") || strings.Contains(streams, "audio") != hasAudio {
			t.Errorf("%s: streams %q, audio wanted %v", filepath.Base(in), streams, hasAudio)
		}
		// In sync: every video stream starts at 0, every audio stream 1024
		// samples earlier (the priming, before the first source sample at 0).
		for _, l := range strings.Fields(streams) {
			typ, start, _ := strings.Cut(l, ",")
			v, err := strconv.ParseFloat(start, 64)
			want := map[string]float64{"video": 0, "audio": -1024.0 / 48000}[typ]
			if err != nil || math.Abs(v-want) > 0.0005 {
				t.Errorf("%s: %s stream starts at %s, want %.6f", filepath.Base(in), typ, start, want)
			}
		}
	}
}

// checkTFDT checks a track's segments (after its init.mp4 in dir): each
// one's baseMediaDecodeTime is where the previous one ended, from 0.
func checkTFDT(t *testing.T, dir string, segs []string) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "init.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	init, err := mp4.DecodeFile(f)
	if err != nil || init.Init == nil {
		t.Fatalf("%s/init.mp4: %v", dir, err)
	}
	trex := init.Init.Moov.Mvex.Trex
	var next uint64
	for _, s := range segs {
		sf, err := mp4.DecodeFile(bytes.NewReader(MustRead(t, filepath.Join(dir, s))))
		if err != nil || len(sf.Segments) != 1 || len(sf.Segments[0].Fragments) != 1 {
			t.Fatalf("%s/%s: %v", dir, s, err)
		}
		frag := sf.Segments[0].Fragments[0]
		traf := frag.Moof.Traf
		if got := traf.Tfdt.BaseMediaDecodeTime(); got != next {
			t.Errorf("%s/%s: tfdt %d, want %d (the previous segment's end)", dir, s, got, next)
		}
		full, err := frag.GetFullSamples(trex)
		if err != nil {
			t.Fatal(err)
		}
		next = traf.Tfdt.BaseMediaDecodeTime()
		for _, fs := range full {
			next += uint64(fs.Dur)
		}
	}
}

// playFrames decodes the first video stream of input (a master playlist
// or an MPD) with ffmpeg and returns its frame count and duration.
func playFrames(t *testing.T, input string) (int, float64) {
	t.Helper()
	cmd := exec.Command(harness.MustTool(t, "ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error",
		"-protocol_whitelist", "file", "-i", input, "-map", "0:v:0", "-f", "framemd5", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg -i %s: %v\n%s", input, err, stderr.String())
	}
	n := 0
	var first, last, dur float64
	var tb float64
	for _, l := range strings.Split(string(outb), "\n") {
		if strings.HasPrefix(l, "#tb 0: ") {
			num, den, _ := strings.Cut(strings.TrimPrefix(l, "#tb 0: "), "/")
			a, _ := strconv.ParseFloat(num, 64)
			b, _ := strconv.ParseFloat(den, 64)
			tb = a / b
		}
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Split(l, ",")
		pts, _ := strconv.ParseFloat(strings.TrimSpace(f[2]), 64)
		d, _ := strconv.ParseFloat(strings.TrimSpace(f[3]), 64)
		if n == 0 {
			first = pts
		}
		last, dur = pts, d
		n++
	}
	return n, (last - first + dur) * tb
}

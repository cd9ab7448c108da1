package transcode

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/transcode/ffmpeg"
)

func TestMain(m *testing.M) { harness.Main(m) }

// testLog sends a worker's logs to t.Logf.
type testLog struct{ tb testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.tb.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// env is a worker against a fresh bucket on the shared MinIO.
type env struct {
	store   *storage.Store
	worker  *Worker
	tempDir string // the worker's Settings.TempDir
}

// MustEnv starts (or reuses) MinIO, creates a bucket and a worker whose
// settings are the defaults with the test's temp dir, the ultrafast preset
// and whatever mutate changes.
func MustEnv(tb testing.TB, mutate func(*Settings), metrics *ffmpeg.Metrics) *env {
	tb.Helper()
	mi := harness.SharedMinIO(tb)
	store, err := storage.New(mi.S3Config(harness.MustBucket(tb, mi)))
	if err != nil {
		tb.Fatal(err)
	}
	s := DefaultSettings()
	s.TempDir = tb.TempDir()
	s.Preset = "ultrafast"
	s.FFmpeg = harness.MustTool(tb, "ffmpeg")
	s.FFprobe = harness.MustTool(tb, "ffprobe")
	if mutate != nil {
		mutate(&s)
	}
	w, err := NewWorker(s, store, slog.New(slog.NewTextHandler(testLog{tb}, nil)), metrics)
	if err != nil {
		tb.Fatal(err)
	}
	return &env{store: store, worker: w, tempDir: s.TempDir}
}

// MustUpload puts the file at path as a new video's source and returns its event.
func (e *env) MustUpload(tb testing.TB, path string) contract.VideoUploaded {
	tb.Helper()
	id := contract.NewID()
	info, err := e.store.PutFile(context.Background(), contract.SourceKey(id), path, "video/mp4")
	if err != nil {
		tb.Fatal(err)
	}
	size := info.Size
	if size == 0 {
		size = 1 // an empty object under a (lying) non-empty declaration
	}
	return contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: id, Owner: "user-1", Title: "test " + filepath.Base(path),
		Source:     contract.SourceObject{Bucket: e.store.Bucket(), Key: contract.SourceKey(id), Size: size, ContentType: "video/mp4", Filename: filepath.Base(path)},
		UploadedAt: time.Now().UTC(),
	}}
}

// MustKeys lists the keys under prefix.
func (e *env) MustKeys(tb testing.TB, prefix string) []string {
	tb.Helper()
	objs, err := e.store.List(context.Background(), prefix)
	if err != nil {
		tb.Fatal(err)
	}
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	return keys
}

func mustObjects(tb testing.TB, e *env, prefix string) []storage.ObjectInfo {
	tb.Helper()
	objs, err := e.store.List(context.Background(), prefix)
	if err != nil {
		tb.Fatal(err)
	}
	return objs
}

// MustDownload copies every object under prefix into dir, keeping the key
// layout below prefix, and returns dir.
func (e *env) MustDownload(tb testing.TB, prefix, dir string) string {
	tb.Helper()
	for _, k := range e.MustKeys(tb, prefix) {
		if _, err := e.store.GetToFile(context.Background(), k, filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(k, prefix)))); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// MustBeEmptyDir fails if dir has any entry (a leaked working directory).
func MustBeEmptyDir(tb testing.TB, dir string) {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	if len(entries) != 0 {
		tb.Fatalf("%s not empty after Handle: %v", dir, entries)
	}
}

// wantRung is an expected rendition.
type wantRung struct {
	name          string
	width, height int
}

func TestHandleProducesLadderAndHLS(t *testing.T) {
	tests := map[string]struct {
		clip   clip
		gop    int
		preset string // default: ultrafast (the production default veryfast on the small ones)
		rungs  []wantRung
		// display size the event reports
		width, height int
	}{
		"landscape 1080p gets four rungs": {
			clip: clip{Width: 1920, Height: 1080, Seconds: 3, Audio: true, FPS: 30}, gop: 1,
			rungs: []wantRung{{"360p", 640, 360}, {"480p", 854, 480}, {"720p", 1280, 720}, {"1080p", 1920, 1080}},
			width: 1920, height: 1080,
		},
		"portrait from rotation metadata": {
			clip: clip{Width: 1280, Height: 720, Seconds: 2, Audio: true, Rotate: 90}, gop: 1,
			rungs: []wantRung{{"360p", 360, 640}, {"480p", 480, 854}, {"720p", 720, 1280}},
			width: 720, height: 1280,
		},
		"PQ HDR 10-bit is tone-mapped to SDR BT.709": {
			clip: clip{Width: 640, Height: 360, Seconds: 2, Audio: true, Transfer: "smpte2084"}, gop: 1,
			rungs: []wantRung{{"360p", 640, 360}},
			width: 640, height: 360, preset: "veryfast",
		},
		"anamorphic pixels are made square at the display aspect": {
			clip: clip{Width: 480, Height: 360, Seconds: 2, Audio: true, SAR: "4/3"}, gop: 1,
			rungs: []wantRung{{"360p", 640, 360}},
			width: 640, height: 360, preset: "veryfast",
		},
		"240p gets one rendition at its own size": {
			clip: clip{Width: 320, Height: 240, Seconds: 2, Audio: true}, gop: 2,
			rungs: []wantRung{{"240p", 320, 240}},
			width: 320, height: 240, preset: "veryfast",
		},
		"video without audio": {
			clip: clip{Width: 640, Height: 360, Seconds: 2}, gop: 1,
			rungs: []wantRung{{"360p", 640, 360}},
			width: 640, height: 360, preset: "veryfast",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := MustEnv(t, func(s *Settings) {
				s.GOPSeconds = tc.gop
				if tc.preset != "" {
					s.Preset = tc.preset
				}
			}, nil)
			src := MustClip(t, filepath.Join(t.TempDir(), "source.mp4"), tc.clip)
			in := e.MustUpload(t, src)

			out, err := e.worker.Handle(context.Background(), in)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			MustBeEmptyDir(t, e.tempDir)
			if err := out.Validate(); err != nil {
				t.Fatalf("event invalid: %v", err)
			}
			checkEvent(t, in, out, tc.clip, tc.width, tc.height, tc.rungs)
			local := e.MustDownload(t, contract.OutputPrefix(in.VideoID), t.TempDir())
			checkMP4s(t, local, out, tc.clip, tc.gop)
			checkHLS(t, local, out, tc.clip, tc.gop, e.worker.settings.Preset)
			checkPackage(t, local, out, 0, float64(tc.clip.Seconds), tc.clip.Audio)
		})
	}
}

func checkEvent(t *testing.T, in contract.VideoUploaded, out contract.VideoTranscoded, c clip, width, height int, rungs []wantRung) {
	t.Helper()
	if !reflect.DeepEqual(out.Video, in.Video) || out.SchemaVersion != contract.SchemaVersion {
		t.Errorf("event does not carry the upload: %+v", out.Video)
	}
	m := out.Media
	if m.Width != width || m.Height != height || m.VideoCodec != "h264" || m.Format != "mov,mp4,m4a,3gp,3g2,mj2" {
		t.Errorf("media = %+v, want %dx%d h264 mp4", m, width, height)
	}
	if math.Abs(m.DurationSeconds-c.Seconds) > 0.2 || m.FrameRate != float64(max(c.FPS, 25)) || m.Bitrate <= 0 {
		t.Errorf("media = %+v, want duration %v fps %d and a bitrate", m, c.Seconds, max(c.FPS, 25))
	}
	if (m.AudioCodec == "aac") != c.Audio {
		t.Errorf("media audio codec %q, source audio %v", m.AudioCodec, c.Audio)
	}
	if out.HLS.MasterKey != contract.HLSMasterKey(in.VideoID) {
		t.Errorf("master key %q", out.HLS.MasterKey)
	}
	if len(out.Renditions) != len(rungs) {
		t.Fatalf("renditions %+v, want %v", out.Renditions, rungs)
	}
	for i, r := range out.Renditions {
		w := rungs[i]
		if r.Name != w.name || r.Width != w.width || r.Height != w.height {
			t.Errorf("rendition %d = %s %dx%d, want %s %dx%d", i, r.Name, r.Width, r.Height, w.name, w.width, w.height)
		}
		if r.Key != contract.RenditionKey(in.VideoID, r.Name) || r.PlaylistKey != contract.HLSPrefix(in.VideoID)+r.Name+"/index.m3u8" {
			t.Errorf("rendition keys %q %q", r.Key, r.PlaylistKey)
		}
		if r.Size <= 0 || r.Bitrate <= 0 {
			t.Errorf("rendition %s size %d bitrate %d", r.Name, r.Size, r.Bitrate)
		}
	}
}

func checkMP4s(t *testing.T, local string, out contract.VideoTranscoded, c clip, gop int) {
	t.Helper()
	prefix := contract.OutputPrefix(out.VideoID)
	for _, r := range out.Renditions {
		file := filepath.Join(local, filepath.FromSlash(strings.TrimPrefix(r.Key, prefix)))
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatalf("%s: %v", r.Name, err)
		}
		if fi.Size() != r.Size {
			t.Errorf("%s: object size %d, event says %d", r.Name, fi.Size(), r.Size)
		}
		d := MustProbeFile(t, file)
		var video, audio int
		for _, s := range d.Streams {
			switch s.CodecType {
			case "video":
				video++
				if s.CodecName != "h264" || s.PixFmt != "yuv420p" || s.Width != r.Width || s.Height != r.Height {
					t.Errorf("%s: video %s %s %dx%d, want h264 yuv420p %dx%d", r.Name, s.CodecName, s.PixFmt, s.Width, s.Height, r.Width, r.Height)
				}
				if len(s.SideDataList) > 0 || s.Tags["rotate"] != "" {
					t.Errorf("%s: output still carries rotation metadata: %+v %v", r.Name, s.SideDataList, s.Tags)
				}
				checkColor(t, r.Name, c, s.SAR, s.ColorPrimaries, s.ColorTransfer, s.ColorSpace, s.ColorRange)
			case "audio":
				audio++
				if s.CodecName != "aac" {
					t.Errorf("%s: audio codec %s", r.Name, s.CodecName)
				}
			}
		}
		if video != 1 || audio != map[bool]int{true: 1, false: 0}[c.Audio] {
			t.Errorf("%s: %d video and %d audio streams (source audio: %v)", r.Name, video, audio, c.Audio)
		}
		dur, _ := strconv.ParseFloat(d.Format.Duration, 64)
		if math.Abs(dur-c.Seconds) > 0.25 {
			t.Errorf("%s: duration %v, want %v ± 0.25", r.Name, dur, c.Seconds)
		}
		// Faststart: the index precedes the media data.
		data := MustRead(t, file)
		if m, md := bytes.Index(data, []byte("moov")), bytes.Index(data, []byte("mdat")); m < 0 || md < 0 || m > md {
			t.Errorf("%s: moov at %d, mdat at %d: not faststart", r.Name, m, md)
		}
		// Keyframes exactly every gop seconds (within a frame).
		keys := MustKeyframeTimes(t, file)
		want := int(math.Ceil(c.Seconds / float64(gop)))
		if len(keys) != want {
			t.Errorf("%s: keyframes at %v, want %d (every %d s)", r.Name, keys, want, gop)
		}
		for i, k := range keys {
			if math.Abs(k-keys[0]-float64(i*gop)) > 0.5/float64(max(c.FPS, 25)) {
				t.Errorf("%s: keyframe %d at %v, want %v", r.Name, i, k-keys[0], i*gop)
			}
		}
		// No metadata from the source survives.
		if d := MustProbeFile(t, file); d.Streams[0].Tags["title"] != "" {
			t.Errorf("%s: metadata copied", r.Name)
		}
	}
}

// checkColor checks a rendition's video stream: square pixels, and for
// an HDR clip the BT.709 SDR tags of a tone-mapped encode (an SDR clip's
// encodes are not tagged, as before HDR support).
func checkColor(t *testing.T, name string, c clip, sar, primaries, transfer, matrix, rng string) {
	t.Helper()
	if sar != "" && sar != "1:1" && sar != "0:1" {
		t.Errorf("%s: sample aspect ratio %s, want square pixels", name, sar)
	}
	if c.Transfer != "" && (primaries != "bt709" || transfer != "bt709" || matrix != "bt709" || rng != "tv") {
		t.Errorf("%s: color %s/%s/%s/%s, want bt709/bt709/bt709/tv (tone-mapped)", name, primaries, transfer, matrix, rng)
	}
	if c.Transfer == "" && (transfer == "smpte2084" || transfer == "arib-std-b67") {
		t.Errorf("%s: SDR source's encode tagged %s", name, transfer)
	}
}

// masterEntry is one EXT-X-STREAM-INF of the master playlist.
type masterEntry struct {
	attrs map[string]string
	uri   string
}

func parseMaster(t *testing.T, text string) []masterEntry {
	t.Helper()
	var out []masterEntry
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#EXT-X-STREAM-INF:") {
			continue
		}
		attrs := map[string]string{}
		rest := strings.TrimPrefix(line, "#EXT-X-STREAM-INF:")
		for rest != "" {
			k, v, _ := strings.Cut(rest, "=")
			if strings.HasPrefix(v, `"`) {
				end := strings.Index(v[1:], `"`) + 1
				attrs[k], rest = v[1:end], strings.TrimPrefix(v[end+1:], ",")
			} else {
				val, r, _ := strings.Cut(v, ",")
				attrs[k], rest = val, r
			}
		}
		if !sc.Scan() {
			t.Fatalf("master playlist ends after %q", line)
		}
		out = append(out, masterEntry{attrs, sc.Text()})
	}
	return out
}

// readExtinf returns the EXTINF durations and URIs of a media playlist.
func readExtinf(t *testing.T, file string) (durs []string, uris []string) {
	t.Helper()
	lines := strings.Split(string(MustRead(t, file)), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "#EXTINF:") {
			durs = append(durs, strings.TrimSuffix(strings.TrimPrefix(l, "#EXTINF:"), ","))
			uris = append(uris, lines[i+1])
		}
	}
	return durs, uris
}

func checkHLS(t *testing.T, local string, out contract.VideoTranscoded, c clip, gop int, preset string) {
	t.Helper()
	prefix := contract.OutputPrefix(out.VideoID)
	hlsDir := filepath.Join(local, filepath.FromSlash(strings.TrimPrefix(contract.HLSPrefix(out.VideoID), prefix)))
	master := string(MustRead(t, filepath.Join(local, filepath.FromSlash(strings.TrimPrefix(out.HLS.MasterKey, prefix)))))
	t.Logf("master playlist:\n%s", master)
	entries := parseMaster(t, master)
	if len(entries) != len(out.Renditions) {
		t.Fatalf("master lists %d variants, want %d:\n%s", len(entries), len(out.Renditions), master)
	}
	var refDurs []string
	var refStarts []float64
	for i, r := range out.Renditions {
		e := entries[i]
		if e.uri != r.Name+"/index.m3u8" || path.Join("hls", e.uri) != strings.TrimPrefix(r.PlaylistKey, prefix) {
			t.Errorf("variant %d uri %q, rendition playlist %q", i, e.uri, r.PlaylistKey)
		}
		if e.attrs["RESOLUTION"] != strconv.Itoa(r.Width)+"x"+strconv.Itoa(r.Height) {
			t.Errorf("%s: RESOLUTION %q", r.Name, e.attrs["RESOLUTION"])
		}
		// CODECS names the profile, constraint flags and level the
		// encoder really used (ultrafast encodes Constrained Baseline,
		// veryfast High). x264's Constrained Baseline SPS sets
		// constraint_set0_flag and constraint_set1_flag (ffmpeg's
		// trace_headers shows both): 0xc0, not the 0x40 that the profile
		// name alone suggested (what CODECS said before it was read from
		// the stream).
		v := MustProbeFile(t, filepath.Join(local, filepath.FromSlash(strings.TrimPrefix(r.Key, prefix)))).Streams[0]
		// (the constraint flags as the SPS and the avcC carry them: x264's
		// Constrained Baseline sets constraint_set0 and constraint_set1)
		profile := map[string]string{"High": "6400", "Main": "4d00", "Constrained Baseline": "42c0"}[v.Profile]
		wantCodecs := fmt.Sprintf("avc1.%s%02x", profile, v.Level)
		if c.Audio {
			wantCodecs += ",mp4a.40.2"
		}
		if profile == "" || e.attrs["CODECS"] != wantCodecs {
			t.Errorf("%s: CODECS %q, want %q (stream profile %q level %d)", r.Name, e.attrs["CODECS"], wantCodecs, v.Profile, v.Level)
		}
		if preset == "veryfast" && v.Profile != "High" {
			t.Errorf("%s: profile %q with preset veryfast, want High", r.Name, v.Profile)
		}
		if bw, err := strconv.Atoi(e.attrs["BANDWIDTH"]); err != nil || bw <= 0 {
			t.Errorf("%s: BANDWIDTH %q", r.Name, e.attrs["BANDWIDTH"])
		}
		durs, uris := readExtinf(t, filepath.Join(hlsDir, filepath.FromSlash(e.uri)))
		if want := int(math.Ceil(c.Seconds / float64(gop))); len(uris) != want {
			t.Errorf("%s: %d segments %v, want %d", r.Name, len(uris), durs, want)
		}
		var starts []float64
		for _, u := range uris {
			// A CMAF segment plays after its track's init segment.
			seg := "concat:" + filepath.Join(hlsDir, r.Name, "init.mp4") + "|" + filepath.Join(hlsDir, r.Name, u)
			pts, key := MustFirstVideoPacket(t, seg)
			if !key {
				t.Errorf("%s/%s does not start with a keyframe", r.Name, u)
			}
			starts = append(starts, pts)
		}
		// Aligned: the same segment durations and start times on every rung.
		if i == 0 {
			refDurs, refStarts = durs, starts
			continue
		}
		if !slices.Equal(durs, refDurs) {
			t.Errorf("%s: segment durations %v, first rung %v", r.Name, durs, refDurs)
		}
		for j := range min(len(starts), len(refStarts)) {
			if math.Abs(starts[j]-refStarts[j]) > 0.001 {
				t.Errorf("%s: segment %d starts at %v, first rung at %v", r.Name, j, starts[j], refStarts[j])
			}
		}
	}
}

func TestHandleRejectsHostileInput(t *testing.T) {
	e := MustEnv(t, nil, nil)
	corpus := MustHostileCorpus(t, t.TempDir())
	for name, h := range corpus {
		t.Run(name, func(t *testing.T) {
			in := e.MustUpload(t, h.path)
			_, err := e.worker.Handle(context.Background(), in)
			if err == nil {
				t.Fatal("Handle accepted it")
			}
			if !stage.IsPermanent(err) {
				t.Fatalf("error is not permanent: %v", err)
			}
			if !strings.Contains(err.Error(), h.reason) {
				t.Errorf("error %q does not say %q", err, h.reason)
			}
			t.Logf("rejected: %v", err)
			if keys := e.MustKeys(t, contract.OutputPrefix(in.VideoID)); len(keys) != 0 {
				t.Errorf("outputs left behind: %v", keys)
			}
		})
	}
	MustBeEmptyDir(t, e.tempDir)

	// No output of any kind contains a line of the local /etc/passwd.
	passwd := MustRead(t, "/etc/passwd")
	first, _, _ := bytes.Cut(passwd, []byte("\n"))
	if len(first) < 8 {
		t.Fatalf("unexpected /etc/passwd first line %q", first)
	}
	for _, k := range e.MustKeys(t, "") {
		rc, err := e.store.Get(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, first) {
			t.Errorf("object %s contains /etc/passwd content", k)
		}
		if strings.HasPrefix(k, "videos/") {
			t.Errorf("output object %s written for a rejected input", k)
		}
	}
}

func TestHandleRejectsBadSources(t *testing.T) {
	good := MustClip(t, filepath.Join(t.TempDir(), "good.mp4"), clip{Width: 320, Height: 240, Seconds: 1, Audio: true})
	empty := MustWrite(t, t.TempDir(), "empty.mp4", nil)
	tests := map[string]struct {
		mutate func(*Settings)
		file   string
		edit   func(e *env, in *contract.VideoUploaded)
		reason string
	}{
		"empty object": {file: empty, reason: "is empty"},
		"missing object": {file: good, reason: "object not found", edit: func(e *env, in *contract.VideoUploaded) {
			in.VideoID = contract.NewID() // a video whose source was never stored
			in.Source.Key = contract.SourceKey(in.VideoID)
		}},
		"declared size over the limit": {file: good, mutate: func(s *Settings) { s.MaxFileSize = 1000 },
			reason: "exceeds the limit of 1000 bytes"},
		"stored size over the limit": {file: good, mutate: func(s *Settings) { s.MaxFileSize = 1000 },
			edit: func(e *env, in *contract.VideoUploaded) { in.Source.Size = 10 }, reason: "exceeds the limit of 1000 bytes"},
		"over the pixel limit": {file: good, mutate: func(s *Settings) { s.MaxPixels = 160 * 120 },
			reason: "exceeds the limit of 19200 pixels"},
		"over the duration limit": {file: good, mutate: func(s *Settings) { s.MaxDuration = 500 * time.Millisecond },
			reason: "exceeds the limit of 500ms"},
		"another bucket": {file: good, edit: func(e *env, in *contract.VideoUploaded) { in.Source.Bucket = "elsewhere" },
			reason: "not the configured bucket"},
		"invalid event": {file: good, edit: func(e *env, in *contract.VideoUploaded) { in.VideoID = "../../etc" },
			reason: "video_id"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := MustEnv(t, tc.mutate, nil)
			in := e.MustUpload(t, tc.file)
			if tc.edit != nil {
				tc.edit(e, &in)
			}
			_, err := e.worker.Handle(context.Background(), in)
			if !stage.IsPermanent(err) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error = %v, want a permanent error saying %q", err, tc.reason)
			}
			MustBeEmptyDir(t, e.tempDir)
			if keys := e.MustKeys(t, "videos/"); len(keys) != 0 {
				t.Errorf("outputs written: %v", keys)
			}
		})
	}
}

func TestHandleRerunOverwritesSameKeys(t *testing.T) {
	e := MustEnv(t, nil, nil)
	in := e.MustUpload(t, MustClip(t, filepath.Join(t.TempDir(), "s.mp4"), clip{Width: 480, Height: 360, Seconds: 2, Audio: true}))
	ctx := context.Background()
	first, err := e.worker.Handle(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	keys := e.MustKeys(t, contract.OutputPrefix(in.VideoID))
	firstETags := map[string]string{}
	for _, o := range mustObjects(t, e, contract.OutputPrefix(in.VideoID)) {
		firstETags[o.Key] = o.ETag
	}
	// One CMAF track per rung and per audio rendition (2 s of AAC frames
	// run a little past 2 s: a second, short segment), the MPD, the master.
	want := []string{
		contract.HLSPrefix(in.VideoID) + "360p/index.m3u8",
		contract.HLSPrefix(in.VideoID) + "360p/init.mp4",
		contract.HLSPrefix(in.VideoID) + "360p/seg_00000.m4s",
		contract.HLSPrefix(in.VideoID) + "audio/96k/index.m3u8",
		contract.HLSPrefix(in.VideoID) + "audio/96k/init.mp4",
		contract.HLSPrefix(in.VideoID) + "audio/96k/seg_00000.m4s",
		contract.HLSPrefix(in.VideoID) + "audio/96k/seg_00001.m4s",
		in.Outputs().DASHManifestKey(),
		contract.HLSMasterKey(in.VideoID),
		contract.RenditionKey(in.VideoID, "360p"),
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys after the first run:\n%v\nwant\n%v", keys, want)
	}

	// Leftovers of an earlier run with another ladder are removed; other
	// stages' outputs are not touched.
	stale := []string{contract.RenditionKey(in.VideoID, "999p"), contract.HLSPrefix(in.VideoID) + "999p/seg_00000.m4s"}
	thumb := contract.ThumbnailPrefix(in.VideoID) + "poster.jpg"
	for _, k := range append(stale, thumb) {
		if _, err := e.store.Put(ctx, k, strings.NewReader("old"), 3, "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
	}
	second, err := e.worker.Handle(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again := e.MustKeys(t, contract.OutputPrefix(in.VideoID))
	if want := append(slices.Clone(keys), thumb); !slices.Equal(again, slices.Sorted(slices.Values(want))) {
		t.Fatalf("keys after the re-run:\n%v\nwant\n%v", again, want)
	}
	first.TranscodedAt, second.TranscodedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(first, second) {
		t.Errorf("re-run event differs:\n%+v\n%+v", first, second)
	}
	// Byte-identical objects (same ETag), not just the same names.
	for i, o := range mustObjects(t, e, contract.OutputPrefix(in.VideoID)) {
		if o.Key != thumb && o.ETag != firstETags[o.Key] {
			t.Errorf("object %d %s: ETag %s after the re-run, %s before", i, o.Key, o.ETag, firstETags[o.Key])
		}
	}
	MustBeEmptyDir(t, e.tempDir)
}

func TestHandleStorageDownIsRetryable(t *testing.T) {
	mi := harness.SharedMinIO(t)
	cfg := mi.S3Config("vidpipe")
	cfg.Endpoint = "127.0.0.1:1" // nothing listens there
	store, err := storage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := DefaultSettings()
	s.TempDir = t.TempDir()
	w, err := NewWorker(s, store, slog.New(slog.NewTextHandler(testLog{t}, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	id := contract.NewID()
	in := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{VideoID: id, Owner: "u", Title: "t",
		Source:     contract.SourceObject{Bucket: "vidpipe", Key: contract.SourceKey(id), Size: 10, ContentType: "video/mp4"},
		UploadedAt: time.Now()}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = w.Handle(ctx, in)
	if err == nil || stage.IsPermanent(err) {
		t.Fatalf("error = %v, want a retryable error", err)
	}
	MustBeEmptyDir(t, s.TempDir)
}

// processesUnder lists pids whose current directory is under dir.
func processesUnder(dir string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd"); err == nil && strings.HasPrefix(cwd, dir+string(filepath.Separator)) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

func TestHandleCancelKillsFFmpegAndCleansUp(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := ffmpeg.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	// A slow preset keeps ffmpeg busy long enough to be cancelled mid-run.
	e := MustEnv(t, func(s *Settings) { s.Preset = "veryslow" }, m)
	in := e.MustUpload(t, MustClip(t, filepath.Join(t.TempDir(), "s.mp4"), clip{Width: 1280, Height: 720, Seconds: 4, Audio: true}))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := e.worker.Handle(ctx, in)
		done <- err
	}()
	deadline := time.Now().Add(60 * time.Second)
	for len(processesUnder(e.tempDir)) == 0 {
		select {
		case err := <-done:
			t.Fatalf("Handle returned before it could be cancelled: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("ffmpeg never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Handle did not return after cancel")
	}
	if !errors.Is(err, context.Canceled) || stage.IsPermanent(err) {
		t.Fatalf("error = %v, want context.Canceled, not permanent", err)
	}
	if pids := processesUnder(e.tempDir); len(pids) != 0 {
		t.Fatalf("processes left running: %v", pids)
	}
	MustBeEmptyDir(t, e.tempDir)
	if keys := e.MustKeys(t, contract.OutputPrefix(in.VideoID)); len(keys) != 0 {
		t.Errorf("outputs written by a cancelled attempt: %v", keys)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var cancelled float64
	for _, mf := range mfs {
		if mf.GetName() == "vidpipe_transcode_ffmpeg_runs_total" {
			for _, s := range mf.GetMetric() {
				if s.GetLabel()[0].GetValue() == "cancelled" {
					cancelled = s.GetCounter().GetValue()
				}
			}
		}
	}
	if cancelled != 1 {
		t.Errorf("runs_total{result=cancelled} = %v, want 1", cancelled)
	}
}

// TestHandleSourceMissingIsDistinct: a video.uploaded whose source object
// is gone (the API withdrew the upload, or it never completed) is dead-
// lettered permanently with a reason that starts "source missing:" and
// names the key, unlike a source that is there but is not decodable media.
func TestHandleSourceMissingIsDistinct(t *testing.T) {
	e := MustEnv(t, nil, nil)
	good := MustClip(t, filepath.Join(t.TempDir(), "good.mp4"), clip{Width: 320, Height: 240, Seconds: 1, Audio: true})
	in := e.MustUpload(t, good)
	if err := e.store.Remove(context.Background(), in.Source.Key); err != nil {
		t.Fatal(err)
	}
	_, err := e.worker.Handle(context.Background(), in)
	if !stage.IsPermanent(err) || !strings.HasPrefix(err.Error(), SourceMissingPrefix) ||
		!strings.Contains(err.Error(), in.Source.Key) || !strings.Contains(err.Error(), "withdrawn or never completed") {
		t.Fatalf("error = %v, want a permanent error starting %q naming %s", err, SourceMissingPrefix, in.Source.Key)
	}
	MustBeEmptyDir(t, e.tempDir)

	// Corrupt media is a different, media-related reason.
	junk := MustWrite(t, t.TempDir(), "junk.mp4", bytes.Repeat([]byte("not a video "), 1000))
	_, err = e.worker.Handle(context.Background(), e.MustUpload(t, junk))
	if !stage.IsPermanent(err) || strings.HasPrefix(err.Error(), SourceMissingPrefix) {
		t.Fatalf("corrupt source: error = %v, want a permanent error not starting %q", err, SourceMissingPrefix)
	}
}

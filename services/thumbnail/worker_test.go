package thumbnail

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/platform/storage"
)

func TestMain(m *testing.M) { harness.Main(m) }

// MustStore returns a store on a fresh bucket of the shared MinIO.
func MustStore(tb testing.TB) *storage.Store {
	tb.Helper()
	m := harness.SharedMinIO(tb)
	s, err := storage.New(m.S3Config(harness.MustBucket(tb, m)))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// clip describes a generated rendition-like MP4: testsrc2 with a sine
// tone, H.264/AAC, faststart, and a black picture for the first Black
// seconds.
type clip struct {
	Width, Height int
	Seconds       float64
	Black         float64
	// SAR, e.g. "4/3", makes non-square pixels (display width = Width*SAR).
	SAR string
	// NoFaststart leaves the moov atom at the end of the file.
	NoFaststart bool
	// Rotate, if not 0, is written as display rotation (a display matrix;
	// the stored picture stays Width×Height).
	Rotate int
}

// MustClip writes c to a new file in dir and returns its path.
func MustClip(tb testing.TB, dir string, c clip) string {
	tb.Helper()
	ffmpeg := harness.MustTool(tb, "ffmpeg")
	path := filepath.Join(dir, fmt.Sprintf("clip-%dx%d-%s.mp4", c.Width, c.Height, strconv.FormatInt(time.Now().UnixNano(), 36)))
	vf := "format=yuv420p"
	if c.Black > 0 {
		vf += fmt.Sprintf(",drawbox=c=black:t=fill:enable='lt(t,%g)'", c.Black)
	}
	if c.SAR != "" {
		vf += ",setsar=" + c.SAR
	}
	args := []string{"-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=25:duration=%g", c.Width, c.Height, c.Seconds),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:duration=%g", c.Seconds),
		"-vf", vf, "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-c:a", "aac", "-shortest"}
	if !c.NoFaststart {
		args = append(args, "-movflags", "+faststart")
	}
	out := path
	if c.Rotate != 0 {
		out = path + ".plain.mp4"
	}
	args = append(args, out)
	if out, err := exec.Command(ffmpeg, args...).CombinedOutput(); err != nil {
		tb.Fatalf("generate clip %+v: %v\n%s", c, err, out)
	}
	if c.Rotate != 0 {
		// ffmpeg 5.1 turns the rotate tag into a display matrix when stream-copying.
		if b, err := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-y", "-i", out, "-map", "0", "-c", "copy",
			"-metadata:s:v:0", fmt.Sprintf("rotate=%d", c.Rotate), "-movflags", "+faststart", path).CombinedOutput(); err != nil {
			tb.Fatalf("rotate clip %+v: %v\n%s", c, err, b)
		}
	}
	return path
}

// MustPut uploads the file at path under key.
func MustPut(tb testing.TB, s *storage.Store, key, path string) int64 {
	tb.Helper()
	info, err := s.PutFile(context.Background(), key, path, "video/mp4")
	if err != nil {
		tb.Fatalf("put %s: %v", key, err)
	}
	return info.Size
}

// transcoded returns a valid video.transcoded event for a new video id
// with the given renditions (keys filled in from the names).
func transcoded(seconds float64, rs ...contract.Rendition) contract.VideoTranscoded {
	id := contract.NewID()
	for i := range rs {
		rs[i].Key = contract.RenditionKey(id, rs[i].Name)
		if rs[i].Size == 0 {
			rs[i].Size = 1
		}
	}
	up := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: id, Owner: "alice", Title: "Test clip",
		Source:     contract.SourceObject{Bucket: "vidpipe", Key: contract.SourceKey(id), Size: 1000, ContentType: "video/mp4"},
		UploadedAt: time.Now().UTC(),
	}}
	top := rs[0]
	for _, r := range rs {
		if r.Height > top.Height {
			top = r
		}
	}
	return up.Transcoded(contract.Media{DurationSeconds: seconds, Width: top.Width, Height: top.Height},
		rs, contract.HLS{MasterKey: contract.HLSMasterKey(id)}, time.Now())
}

// newTestWorker returns a worker with default settings and its own temp dir.
func newTestWorker(tb testing.TB, s Store, mutate ...func(*Settings)) *Worker {
	tb.Helper()
	cfg := DefaultSettings()
	cfg.TempDir = tb.TempDir()
	for _, m := range mutate {
		m(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	return NewWorker(cfg, s, slog.New(slog.NewTextHandler(tb.Output(), nil)))
}

// assertTempDirEmpty checks that the worker left nothing in its temp dir.
func assertTempDirEmpty(tb testing.TB, w *Worker) {
	tb.Helper()
	entries, err := os.ReadDir(w.cfg.TempDir)
	if err != nil {
		tb.Fatal(err)
	}
	if len(entries) != 0 {
		tb.Errorf("temp dir not cleaned: %v", entries)
	}
}

// fetchJPEG downloads key and decodes it; it returns the image's size and
// mean luma (computed here, independently of the worker's code).
func fetchJPEG(tb testing.TB, s *storage.Store, key string) (w, h int, luma float64) {
	tb.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		tb.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	img, err := jpeg.Decode(rc)
	if err != nil {
		tb.Fatalf("%s is not a JPEG: %v", key, err)
	}
	b := img.Bounds()
	var sum float64
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			sum += (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 257
		}
	}
	return b.Dx(), b.Dy(), sum / float64(b.Dx()*b.Dy())
}

func TestHandle(t *testing.T) {
	ctx := context.Background()
	s := MustStore(t)
	dir := t.TempDir()
	const seconds = 4.0
	in := transcoded(seconds,
		contract.Rendition{Name: "180p", Width: 320, Height: 180},
		contract.Rendition{Name: "720p", Width: 1280, Height: 720}, // never uploaded: must not be picked
		contract.Rendition{Name: "360p", Width: 640, Height: 360},
	)
	// Every rendition starts with one second of black.
	MustPut(t, s, in.Renditions[0].Key, MustClip(t, dir, clip{Width: 320, Height: 180, Seconds: seconds, Black: 1}))
	MustPut(t, s, in.Renditions[2].Key, MustClip(t, dir, clip{Width: 640, Height: 360, Seconds: seconds, Black: 1}))

	w := newTestWorker(t, s)
	out, err := w.Handle(ctx, in)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	assertTempDirEmpty(t, w)
	if err := out.Validate(); err != nil {
		t.Errorf("output does not validate: %v", err)
	}
	if out.VideoID != in.VideoID || len(out.Renditions) != 3 || out.HLS != in.HLS || !out.TranscodedAt.Equal(in.TranscodedAt) {
		t.Errorf("output does not carry the input: %+v", out)
	}

	prefix := contract.ThumbnailPrefix(in.VideoID)
	th := out.Thumbnails
	if th.Sprite == nil {
		t.Fatal("no sprite (enabled by default)")
	}
	wantKeys := map[string]string{
		"poster": prefix + "poster.jpg", "thumb": prefix + "thumb.jpg",
		"sprite": prefix + "sprite.jpg", "vtt": prefix + "sprite.vtt",
	}
	gotKeys := map[string]string{"poster": th.Poster.Key, "thumb": th.Small.Key, "sprite": th.Sprite.Key, "vtt": th.SpriteVTTKey}
	for k, want := range wantKeys {
		if gotKeys[k] != want {
			t.Errorf("%s key = %q, want %q", k, gotKeys[k], want)
		}
	}

	// The images decode at the sizes the event states; the poster is at
	// the 360p rendition's size and not black.
	for name, tc := range map[string]struct {
		img  contract.Image
		w, h int
	}{
		"poster": {th.Poster, 640, 360},
		"thumb":  {th.Small, 320, 180},
		"sprite": {*th.Sprite, 5 * 160, 2 * 90},
	} {
		gw, gh, luma := fetchJPEG(t, s, tc.img.Key)
		if gw != tc.w || gh != tc.h || tc.img.Width != tc.w || tc.img.Height != tc.h {
			t.Errorf("%s: decoded %dx%d, event %dx%d, want %dx%d", name, gw, gh, tc.img.Width, tc.img.Height, tc.w, tc.h)
		}
		if name != "sprite" && luma < 2*DarkLuma {
			t.Errorf("%s: mean luma %.1f: looks black", name, luma)
		}
		info, err := s.Stat(ctx, tc.img.Key)
		if err != nil {
			t.Fatalf("stat %s: %v", tc.img.Key, err)
		}
		if info.Size != tc.img.Size {
			t.Errorf("%s: event size %d, object size %d", name, tc.img.Size, info.Size)
		}
		if info.ContentType != "image/jpeg" {
			t.Errorf("%s: content type %q", name, info.ContentType)
		}
	}
	assertSpriteVTT(t, s, th.SpriteVTTKey, seconds, 10, 5, 160, 90)

	// A replay writes the same keys and nothing else.
	again, err := w.Handle(ctx, in)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if again.Thumbnails.Poster.Key != th.Poster.Key || again.Thumbnails.Small.Key != th.Small.Key ||
		again.Thumbnails.Sprite.Key != th.Sprite.Key || again.Thumbnails.SpriteVTTKey != th.SpriteVTTKey {
		t.Errorf("replay keys differ: %+v vs %+v", again.Thumbnails, th)
	}
	objs, err := s.List(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, o := range objs {
		listed = append(listed, o.Key)
	}
	slices.Sort(listed)
	want := []string{prefix + "poster.jpg", prefix + "sprite.jpg", prefix + "sprite.vtt", prefix + "thumb.jpg"}
	if !slices.Equal(listed, want) {
		t.Errorf("objects under %s = %q, want %q", prefix, listed, want)
	}
	assertTempDirEmpty(t, w)
}

var cueRE = regexp.MustCompile(`^(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})$`)
var xywhRE = regexp.MustCompile(`^sprite\.jpg#xywh=(\d+),(\d+),(\d+),(\d+)$`)

func vttSeconds(m []string) (float64, float64) {
	f := func(h, mi, s, ms string) float64 {
		a, _ := strconv.Atoi(h)
		b, _ := strconv.Atoi(mi)
		c, _ := strconv.Atoi(s)
		d, _ := strconv.Atoi(ms)
		return float64(a*3600+b*60+c) + float64(d)/1000
	}
	return f(m[1], m[2], m[3], m[4]), f(m[5], m[6], m[7], m[8])
}

// assertSpriteVTT checks the WebVTT: tiles cues covering [0, seconds]
// without gaps, each pointing at its own tile of the grid.
func assertSpriteVTT(tb testing.TB, s *storage.Store, key string, seconds float64, tiles, cols, tw, th int) {
	tb.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		tb.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	if !sc.Scan() || sc.Text() != "WEBVTT" {
		tb.Fatalf("%s does not start with WEBVTT", key)
	}
	cues := 0
	prevEnd := 0.0
	for sc.Scan() {
		m := cueRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		start, end := vttSeconds(m)
		if start != prevEnd || end <= start {
			tb.Errorf("cue %d: %v --> %v after end %v", cues, start, end, prevEnd)
		}
		prevEnd = end
		if !sc.Scan() {
			tb.Fatalf("cue %d has no payload", cues)
		}
		p := xywhRE.FindStringSubmatch(sc.Text())
		if p == nil {
			tb.Fatalf("cue %d payload %q", cues, sc.Text())
		}
		want := fmt.Sprintf("%d,%d,%d,%d", (cues%cols)*tw, (cues/cols)*th, tw, th)
		if got := strings.Join(p[1:], ","); got != want {
			tb.Errorf("cue %d: xywh=%s, want %s", cues, got, want)
		}
		cues++
	}
	if cues != tiles {
		tb.Errorf("%d cues, want %d", cues, tiles)
	}
	if prevEnd < seconds-0.01 || prevEnd > seconds+0.01 {
		tb.Errorf("last cue ends at %v, want %v", prevEnd, seconds)
	}
}

func TestHandleGeometry(t *testing.T) {
	ctx := context.Background()
	s := MustStore(t)
	dir := t.TempDir()
	tests := map[string]struct {
		clip             clip
		poster, thumb    [2]int
		spriteW, spriteH int
	}{
		"portrait": {
			clip:   clip{Width: 360, Height: 640, Seconds: 2},
			poster: [2]int{360, 640}, thumb: [2]int{320, 568}, spriteW: 5 * 160, spriteH: 2 * 284,
		},
		"non-square pixels shown at display aspect": {
			clip:   clip{Width: 480, Height: 360, Seconds: 2, SAR: "4/3"},
			poster: [2]int{640, 360}, thumb: [2]int{320, 180}, spriteW: 5 * 160, spriteH: 2 * 90,
		},
		"rotated 90°: shown upright": {
			clip:   clip{Width: 640, Height: 360, Seconds: 2, Rotate: 90},
			poster: [2]int{360, 640}, thumb: [2]int{320, 568}, spriteW: 5 * 160, spriteH: 2 * 284,
		},
		"below 360p: the largest rendition": {
			clip:   clip{Width: 426, Height: 240, Seconds: 2},
			poster: [2]int{426, 240}, thumb: [2]int{320, 180}, spriteW: 5 * 160, spriteH: 2 * 90,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := transcoded(tc.clip.Seconds, contract.Rendition{Name: "only", Width: tc.clip.Width, Height: tc.clip.Height})
			MustPut(t, s, in.Renditions[0].Key, MustClip(t, dir, tc.clip))
			out, err := newTestWorker(t, s).Handle(ctx, in)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			th := out.Thumbnails
			for what, got := range map[string][2]int{
				"poster": {th.Poster.Width, th.Poster.Height},
				"thumb":  {th.Small.Width, th.Small.Height},
				"sprite": {th.Sprite.Width, th.Sprite.Height},
			} {
				want := map[string][2]int{"poster": tc.poster, "thumb": tc.thumb, "sprite": {tc.spriteW, tc.spriteH}}[what]
				if got != want {
					t.Errorf("%s = %dx%d, want %dx%d", what, got[0], got[1], want[0], want[1])
				}
			}
			if th.Small.Height%2 != 0 {
				t.Errorf("thumb height %d is odd", th.Small.Height)
			}
			if gw, gh, _ := fetchJPEG(t, s, th.Poster.Key); gw != tc.poster[0] || gh != tc.poster[1] {
				t.Errorf("poster object decodes at %dx%d", gw, gh)
			}
		})
	}
}

func TestHandleSkipsDarkFrames(t *testing.T) {
	// Black for 70% of the video: the configured seek (33%) and the first
	// fallback (50%) land in the dark; with a small scan window the
	// thumbnail filter cannot see past it, so the 75% fallback must win.
	ctx := context.Background()
	s := MustStore(t)
	in := transcoded(5, contract.Rendition{Name: "360p", Width: 640, Height: 360})
	MustPut(t, s, in.Renditions[0].Key, MustClip(t, t.TempDir(), clip{Width: 640, Height: 360, Seconds: 5, Black: 3.5}))
	w := newTestWorker(t, s, func(c *Settings) { c.ScanFrames = 5; c.Sprite = false })
	out, err := w.Handle(ctx, in)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if _, _, luma := fetchJPEG(t, s, out.Thumbnails.Poster.Key); luma < 2*DarkLuma {
		t.Errorf("poster mean luma %.1f: the dark fallback did not work", luma)
	}
	if out.Thumbnails.Sprite != nil || out.Thumbnails.SpriteVTTKey != "" {
		t.Errorf("sprite written although disabled: %+v", out.Thumbnails)
	}
}

func TestHandlePermanentErrors(t *testing.T) {
	ctx := context.Background()
	s := MustStore(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.mp4")
	if err := os.WriteFile(garbage, []byte("this is not a video, just text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A file cut in half with its moov atom at the end: the index is gone.
	full := MustClip(t, dir, clip{Width: 640, Height: 360, Seconds: 2, NoFaststart: true})
	b, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.mp4")
	if err := os.WriteFile(truncated, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	// A playlist pretending to be a rendition must not be followed.
	playlist := filepath.Join(dir, "playlist.mp4")
	if err := os.WriteFile(playlist, []byte("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := map[string]struct {
		upload   string // "" uploads nothing
		reason   string
		settings func(*Settings)
	}{
		"missing rendition object": {upload: "", reason: "not found"},
		"not a video":              {upload: garbage, reason: "undecodable"},
		"truncated MP4":            {upload: truncated, reason: "undecodable"},
		"HLS playlist":             {upload: playlist, reason: "undecodable"},
		"frame over max_pixels": {upload: full, reason: "640x360 is 230400 pixels, over thumbnail.max_pixels 230399",
			settings: func(c *Settings) { c.MaxPixels = 640*360 - 1 }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := transcoded(2, contract.Rendition{Name: "360p", Width: 640, Height: 360})
			if tc.upload != "" {
				MustPut(t, s, in.Renditions[0].Key, tc.upload)
			}
			var mutate []func(*Settings)
			if tc.settings != nil {
				mutate = append(mutate, tc.settings)
			}
			w := newTestWorker(t, s, mutate...)
			_, err := w.Handle(ctx, in)
			if !stage.IsPermanent(err) {
				t.Fatalf("err = %v, want permanent", err)
			}
			if !strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), "360p") {
				t.Errorf("err = %q, want a reason mentioning %q and the rendition", err, tc.reason)
			}
			assertTempDirEmpty(t, w)
			objs, err := s.List(ctx, contract.ThumbnailPrefix(in.VideoID))
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != 0 {
				t.Errorf("failed attempt left objects: %+v", objs)
			}
		})
	}
}

func TestHandleStorageOutageIsTransient(t *testing.T) {
	// Nothing listens on port 1: every request fails to connect.
	s, err := storage.New(config.S3{Endpoint: "127.0.0.1:1", Region: "us-east-1", Bucket: "vidpipe",
		AccessKey: "x", SecretKey: "y", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w := newTestWorker(t, s)
	_, err = w.Handle(ctx, transcoded(2, contract.Rendition{Name: "360p", Width: 640, Height: 360}))
	if err == nil || stage.IsPermanent(err) {
		t.Fatalf("err = %v, want a transient error", err)
	}
	assertTempDirEmpty(t, w)
}

func TestHandleCancelled(t *testing.T) {
	s := MustStore(t)
	in := transcoded(2, contract.Rendition{Name: "360p", Width: 640, Height: 360})
	MustPut(t, s, in.Renditions[0].Key, MustClip(t, t.TempDir(), clip{Width: 640, Height: 360, Seconds: 2}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := newTestWorker(t, s)
	_, err := w.Handle(ctx, in)
	if err == nil || stage.IsPermanent(err) {
		t.Fatalf("err = %v, want a transient error", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want it to wrap context.Canceled", err)
	}
	assertTempDirEmpty(t, w)
}

func TestHandleSpriteFromKeyframes(t *testing.T) {
	// Two tiles over 20 s: each interval is keyframeOnlyInterval long, so
	// the sprite decodes key frames only (the GOP is 2 s).
	ctx := context.Background()
	s := MustStore(t)
	in := transcoded(20, contract.Rendition{Name: "360p", Width: 640, Height: 360})
	MustPut(t, s, in.Renditions[0].Key, MustClip(t, t.TempDir(), clip{Width: 640, Height: 360, Seconds: 20}))
	w := newTestWorker(t, s, func(c *Settings) { c.SpriteTiles, c.SpriteColumns = 2, 2 })
	out, err := w.Handle(ctx, in)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	sp := out.Thumbnails.Sprite
	if sp == nil {
		t.Fatal("no sprite")
	}
	if gw, gh, _ := fetchJPEG(t, s, sp.Key); gw != 320 || gh != 90 || sp.Width != 320 || sp.Height != 90 {
		t.Errorf("sprite decodes at %dx%d, event %dx%d, want 320x90", gw, gh, sp.Width, sp.Height)
	}
	assertSpriteVTT(t, s, out.Thumbnails.SpriteVTTKey, 20, 2, 2, 160, 90)
}

package server

import (
	"bufio"
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// spriteJPEG is a real JPEG sprite sheet (2 tiles of 16x9).
func spriteJPEG(tb testing.TB) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 9))
	for x := range 32 {
		for y := range 9 {
			img.Set(x, y, color.RGBA{R: uint8(x * 8), G: uint8(y * 28), B: 128, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// mustReadyWithSprite takes up to ready with a sprite sheet and the
// sprite WebVTT vtt, both stored in the bucket where thumbnail writes them.
func (e *env) mustReadyWithSprite(tb testing.TB, up contract.VideoUploaded, sprite, vtt []byte) {
	tb.Helper()
	id := up.VideoID
	thumbs := contract.ThumbnailPrefix(id)
	e.put(tb, thumbs+"poster.jpg", sprite, "image/jpeg")
	e.put(tb, thumbs+"small.jpg", sprite, "image/jpeg")
	e.put(tb, thumbs+"sprite.jpg", sprite, "image/jpeg")
	e.put(tb, thumbs+"sprite.vtt", vtt, "text/vtt")
	now := time.Now().UTC()
	rs := []contract.Rendition{{Name: "360p", Width: 640, Height: 360, Key: contract.RenditionKey(id, "360p"), Size: 1}}
	tr := up.Transcoded(contract.Media{DurationSeconds: 2, Width: 640, Height: 360}, rs, contract.HLS{MasterKey: contract.HLSMasterKey(id)}, now)
	th := tr.Thumbnailed(contract.Thumbnails{
		Poster:       contract.Image{Key: thumbs + "poster.jpg", Width: 640, Height: 360, Size: 1},
		Small:        contract.Image{Key: thumbs + "small.jpg", Width: 320, Height: 180, Size: 1},
		Sprite:       &contract.Image{Key: thumbs + "sprite.jpg", Width: 32, Height: 9, Size: int64(len(sprite))},
		SpriteVTTKey: thumbs + "sprite.vtt",
	}, now)
	e.apply(tb, contract.TopicUploaded, 0, up)
	e.apply(tb, contract.TopicTranscoded, 0, tr)
	e.apply(tb, contract.TopicThumbnailed, 0, th)
	e.apply(tb, contract.TopicReady, 0, th.Ready(now))
}

// vttCues returns the payload lines of the cues of a WebVTT.
func vttCues(vtt []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(vtt))
	inCue := false
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "":
			inCue = false
		case strings.Contains(l, "-->"):
			inCue = true
		case inCue:
			out = append(out, l)
		}
	}
	return out
}

var xywh = regexp.MustCompile(`^xywh=\d+,\d+,\d+,\d+$`)

// TestSpriteVTTPreviewsResolve: the sprite_vtt_url of a ready video
// serves a WebVTT whose every cue names an absolute URL that storage
// answers with the sprite JPEG, keeping the #xywh fragment. (Before, it
// was a presigned URL of the stored VTT, whose relative "sprite.jpg"
// references resolved to unsigned storage URLs that storage refused.)
func TestSpriteVTTPreviewsResolve(t *testing.T) {
	e := mustEnv(t)
	sprite := spriteJPEG(t)
	up := e.uploadedEvent("alice", "sprited")
	vtt := "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nsprite.jpg#xywh=0,0,16,9\n\n" +
		"00:00:01.000 --> 00:00:02.000\nsprite.jpg#xywh=16,0,16,9\n"
	e.mustReadyWithSprite(t, up, sprite, []byte(vtt))

	v := e.getView(t, up.VideoID, aliceToken)
	if v.Thumbnails == nil || v.Thumbnails.SpriteVTT == "" {
		t.Fatalf("no sprite_vtt_url: %+v", v.Thumbnails)
	}
	vttURL := v.Thumbnails.SpriteVTT
	if strings.HasPrefix(vttURL, "/") {
		vttURL = e.URL + vttURL
	}
	base, err := url.Parse(vttURL)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(vttURL) // no token: the URL is signed
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body.String(), "WEBVTT") {
		t.Fatalf("GET sprite_vtt_url: %d %s", resp.StatusCode, body)
	}
	cues := vttCues(body.Bytes())
	if len(cues) != 2 {
		t.Fatalf("cues %q in %s", cues, body)
	}
	for i, c := range cues {
		ref, err := url.Parse(c)
		if err != nil {
			t.Fatalf("cue %d: %q: %v", i, c, err)
		}
		if !ref.IsAbs() {
			t.Errorf("cue %d names %q, not an absolute URL", i, c)
		}
		if !xywh.MatchString(ref.Fragment) {
			t.Errorf("cue %d: fragment %q, want xywh=x,y,w,h", i, ref.Fragment)
		}
		// What a player fetches: the reference resolved against the VTT's URL.
		abs := base.ResolveReference(ref)
		abs.Fragment = ""
		code, img := getURL(t, abs.String())
		if code != http.StatusOK || !bytes.Equal(img, sprite) {
			t.Fatalf("cue %d image %s: %d (%d bytes), want 200 with the sprite JPEG", i, abs, code, len(img))
		}
		if _, err := jpeg.Decode(bytes.NewReader(img)); err != nil {
			t.Fatalf("cue %d image is not a JPEG: %v", i, err)
		}
	}

	// The owner's token serves it too; anyone else's does not.
	path := spriteVTTPath(up.VideoID)
	if resp, body := e.do(t, http.MethodGet, path, aliceToken, nil, nil); resp.StatusCode != http.StatusOK ||
		resp.Header.Get("Content-Type") != "text/vtt; charset=utf-8" || len(vttCues(body)) != 2 {
		t.Fatalf("with alice's token: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	resp2, body2 := e.do(t, http.MethodGet, path, bobToken, nil, nil)
	mustErrorCode(t, resp2, body2, http.StatusNotFound, codeNotFound)
	// No token, no signature: 401; a forged or expired signature: 403,
	// like the HLS URLs.
	resp3, body3 := e.do(t, http.MethodGet, path, "", nil, nil)
	mustErrorCode(t, resp3, body3, http.StatusUnauthorized, codeUnauthorized)
	q := base.Query()
	q.Set("sig", strings.Repeat("0", len(q.Get("sig"))))
	resp4, body4 := e.do(t, http.MethodGet, path+"?"+q.Encode(), "", nil, nil)
	mustErrorCode(t, resp4, body4, http.StatusForbidden, codeForbidden)
	expired := path + "?" + signHLS(e.Opts.SigningKey, up.VideoID, time.Now().Add(-time.Minute))
	resp5, body5 := e.do(t, http.MethodGet, expired, "", nil, nil)
	mustErrorCode(t, resp5, body5, http.StatusForbidden, codeForbidden)
	// Another video's signature does not open this one.
	other := e.uploadedEvent("alice", "other")
	stolen := path + "?" + signHLS(e.Opts.SigningKey, other.VideoID, time.Now().Add(time.Hour))
	resp6, body6 := e.do(t, http.MethodGet, stolen, "", nil, nil)
	mustErrorCode(t, resp6, body6, http.StatusForbidden, codeForbidden)
}

// TestSpriteVTTRefusesForeignImages: a cue naming an object outside the
// video's own thumbnails (another video's sprite, an absolute URL, the
// video's source) is dropped, never signed; the others are served.
func TestSpriteVTTRefusesForeignImages(t *testing.T) {
	e := mustEnv(t)
	sprite := spriteJPEG(t)
	victim := e.uploadedEvent("bob", "victim")
	e.mustReadyWithSprite(t, victim, sprite, []byte("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nsprite.jpg#xywh=0,0,16,9\n"))
	up := e.uploadedEvent("alice", "sneaky")
	vtt := "WEBVTT\n\nNOTE a comment --> with an arrow\n\n" +
		"00:00:00.000 --> 00:00:01.000\nsprite.jpg#xywh=0,0,16,9\n\n" +
		"00:00:01.000 --> 00:00:02.000\n../../" + victim.VideoID + "/thumbs/sprite.jpg#xywh=0,0,16,9\n\n" +
		"00:00:02.000 --> 00:00:03.000\nhttps://elsewhere.example/x.jpg#xywh=0,0,16,9\n\n" +
		"00:00:03.000 --> 00:00:04.000\n../../../uploads/" + up.VideoID + "/source#xywh=0,0,16,9\n\n" +
		"00:00:04.000 --> 00:00:05.000\n/videos/" + up.VideoID + "/thumbs/sprite.jpg#xywh=0,0,16,9\n"
	e.mustReadyWithSprite(t, up, sprite, []byte(vtt))

	resp, body := e.do(t, http.MethodGet, spriteVTTPath(up.VideoID), aliceToken, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}
	cues := vttCues(body)
	if len(cues) != 1 || !strings.Contains(cues[0], up.VideoID+"/thumbs/sprite.jpg") {
		t.Fatalf("cues %q, want the own sprite's only:\n%s", cues, body)
	}
	for _, bad := range []string{victim.VideoID, "elsewhere.example", "source"} {
		if strings.Contains(string(body), bad) {
			t.Errorf("served VTT names %q:\n%s", bad, body)
		}
	}
	if !strings.Contains(string(body), "NOTE a comment") {
		t.Errorf("NOTE block dropped:\n%s", body)
	}
}

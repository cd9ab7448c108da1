package browser

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vidpipe/vidpipe/dev/harness"
)

// TestAudioAsset: alice uploads an MP3 through the file input; its card
// turns ready with the waveform as its picture; its page shows an <audio>
// player (not a <video>) under the waveform, which plays, and offers the
// M4A download, and passes axe-core at 1280 and 360 px.
func TestAudioAsset(t *testing.T) {
	s, _ := shared(t)
	alice := apiAs(t, "dev-alice")
	tab := signedIn(t, "dev-alice")
	mp3 := harness.MustAudio(t, s.Dir(), "mp3", 6)

	if tab.Exists("#upload-title") {
		tab.Type("#upload-title", "Evening tone")
	}
	tab.Do("choose the MP3", chromedp.SetUploadFiles(chromedp.CSS("input#file-input"), []string{mp3}))
	up := `li.upload[data-name="audio-mp3.mp3"]`
	tab.WaitJS("the upload to be done", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === "done"`, up), 2*time.Minute)
	tab.WaitJS("the upload's id", fmt.Sprintf(`document.querySelector(%q)?.dataset.videoId`, up), DefaultWait)
	id := tab.Attr(up, "data-video-id")
	card := fmt.Sprintf(`li.video-card[data-video-id=%q]`, id)
	tab.WaitJS("the card to turn ready", fmt.Sprintf(`document.querySelector(%q)?.dataset.status === "ready"`, card), 4*time.Minute)
	tab.WaitJS("the card's waveform", fmt.Sprintf(`document.querySelector(%q)?.naturalWidth > 0`, card+" img.card-poster"), DefaultWait)
	if _, v := alice.Video(t, id); fmt.Sprint(v["media"].(map[string]any)["kind"]) != "audio" {
		t.Fatalf("API media %v, want kind audio", v["media"])
	}

	tab.Click(card + fmt.Sprintf(` a.card-link[href="/videos/%s"]`, id))
	tab.WaitReady("video")
	if tab.Exists("video#player") || !tab.Exists("audio#player") {
		t.Fatalf("an audio asset's page has no audio#player (or a video#player)")
	}
	if tab.Attr("main#video-page", "data-kind") != "audio" {
		t.Errorf("main#video-page data-kind = %q, want audio", tab.Attr("main#video-page", "data-kind"))
	}
	tab.WaitJS("the waveform to load", `document.querySelector("img#waveform")?.naturalWidth > 0 && !document.querySelector("img#waveform").hidden`, DefaultWait)
	if w := Eval[int](tab, `document.querySelector("img#waveform").naturalWidth`); w != 1280 {
		t.Errorf("waveform %d px wide, want 1280", w)
	}
	play := `(async () => { const a = document.querySelector("audio#player"); a.muted = true;
		for (let i = 0; i < 150 && a.readyState < 1; i++) await new Promise(r => setTimeout(r, 100));
		if (a.readyState < 1) return "no metadata after 15 s (MediaError " + (a.error && a.error.code) + ", source " + a.currentSrc + ")";
		try { await a.play(); } catch (e) { return String(e) + " (MediaError " + (a.error && a.error.code) + ")"; }
		await new Promise(r => { const done = () => r(); a.addEventListener("timeupdate", () => a.currentTime > 0.5 && done()); setTimeout(done, 10000); });
		return a.currentTime > 0.5 ? "" : "currentTime " + a.currentTime + " after 10 s"; })()`
	if res := Eval[string](tab, play); res != "" {
		t.Errorf("audio#player (%s) does not play: %s", strings.SplitN(Eval[string](tab, `document.querySelector("audio#player").currentSrc`), "?", 2)[0], res)
	}
	// axe-core finds no serious violation on the page, wide and narrow,
	// and it does not scroll sideways at 360 px.
	for _, width := range []int64{1280, 360} {
		tab.Viewport(width, 800)
		tab.CheckAxe(fmt.Sprintf("audio asset page at %d px", width))
		if sw := Eval[int](tab, `document.documentElement.scrollWidth`); sw > int(width) {
			t.Errorf("audio asset page at %d px is %d px wide", width, sw)
		}
	}
	tab.Viewport(1280, 800)
	links := Eval[[]string](tab, `[...document.querySelectorAll("ul#downloads a[href]")].map(a => a.getAttribute("download"))`)
	if len(links) != 1 || !strings.HasSuffix(links[0], ".m4a") {
		t.Errorf("downloads %q, want one .m4a", links)
	}
}

package browser

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestJourney is a user's whole way through the app, in a real browser
// against the real stack: alice signs in, uploads a clip through the file
// input (tus), sees the progress reach 100 %, sees the card turn ready
// without a reload, opens it, plays it, hovers the scrub bar and sees the
// sprite preview, renames it, finds it by the new title, deletes it with
// confirmation, and it is gone (library and API).
func TestJourney(t *testing.T) {
	s, _ := shared(t)
	alice := apiAs(t, "dev-alice")
	tab := signedIn(t, "dev-alice")
	if who := tab.Text("#whoami"); !strings.Contains(who, "alice") {
		t.Errorf("#whoami = %q, want alice", who)
	}
	if tab.Visible(`nav a[href="/ops"]`) {
		t.Errorf("alice (not an admin) sees the ops link")
	}

	// Upload through the file input.
	clip := Clip(t, s.Dir(), "lighthouse.mp4", 640, 360, 6)
	tab.Eval(`window.__vidpipeNoReload = true`)
	hasTitle := tab.Exists("#upload-title")
	if hasTitle {
		tab.Type("#upload-title", "Lighthouse at dusk")
	}
	tab.Do("choose the clip", chromedp.SetUploadFiles(chromedp.CSS("input#file-input"), []string{clip}))
	up := `li.upload[data-name="lighthouse.mp4"]`
	tab.WaitJS("the upload to be done", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === "done"`, up), 2*time.Minute)
	if pct := tab.Text(up + " .upload-percent"); pct != "100 %" {
		t.Errorf(".upload-percent = %q, want \"100 %%\"", pct)
	}
	if v := Eval[float64](tab, fmt.Sprintf(`(() => { const p = document.querySelector(%q); return p.value / (p.max || 1); })()`, up+" progress")); v != 1 {
		t.Errorf("<progress> at %v of max, want full", v)
	}
	tab.WaitJS("the upload's video id", fmt.Sprintf(`document.querySelector(%q)?.dataset.videoId`, up), DefaultWait)
	id := tab.Attr(up, "data-video-id")
	t.Logf("uploaded video %s", id)
	if code, v := alice.Video(t, id); code != http.StatusOK || (hasTitle && v["title"] != "Lighthouse at dusk") {
		t.Errorf("API view of the uploaded video: %d %v", code, v)
	}

	// The card appears and turns ready live (the events stream), with no
	// reload of the page.
	card := fmt.Sprintf(`li.video-card[data-video-id=%q]`, id)
	tab.WaitJS("the card to turn ready", fmt.Sprintf(`document.querySelector(%q)?.dataset.status === "ready"`, card), 4*time.Minute)
	if !Eval[bool](tab, `window.__vidpipeNoReload === true`) {
		t.Errorf("the library page was reloaded while the video was processed")
	}
	if chip := tab.Text(card + " .status-chip"); chip != "ready" {
		t.Errorf("status chip = %q, want ready", chip)
	}
	tab.WaitJS("the card's poster", fmt.Sprintf(`document.querySelector(%q)?.complete && document.querySelector(%q)?.naturalWidth > 0`, card+" img.card-poster", card+" img.card-poster"), DefaultWait)
	if title := tab.Text(card + " .card-title"); title == "" {
		t.Errorf("the card has no title")
	}

	// Open it and play.
	tab.Click(card + fmt.Sprintf(` a.card-link[href="/videos/%s"]`, id))
	tab.WaitReady("video")
	if got := tab.Attr("main#video-page", "data-video-id"); got != id {
		t.Fatalf("video page for %q, want %s", got, id)
	}
	tab.WaitJS("the player's source", `document.querySelector("video#player")?.currentSrc`, DefaultWait)
	t.Logf("player source: %s", tab.Attr("video#player", "src"))
	// The app may switch sources (Auto: HLS, or the MP4 when the HLS does
	// not load): play once the player has metadata, or say why not.
	play := `(async () => { const v = document.querySelector("video#player"); v.muted = true;
		for (let i = 0; i < 150 && v.readyState < 1; i++) await new Promise(r => setTimeout(r, 100));
		if (v.readyState < 1) return "no metadata after 15 s (MediaError " + (v.error && v.error.code) + ", source " + v.currentSrc + ")";
		try { await v.play(); } catch (e) { return String(e) + " (MediaError " + (v.error && v.error.code) + ")"; }
		await new Promise(r => { const done = () => r(); v.addEventListener("timeupdate", () => v.currentTime > 0.5 && done()); setTimeout(done, 10000); });
		return v.currentTime > 0.5 ? "" : "currentTime " + v.currentTime + " after 10 s"; })()`
	// Auto is the adaptive HLS ladder: Chromium plays it natively (the
	// app asks for its storage-hosted segments in CORS mode).
	if res := Eval[string](tab, play); res != "" {
		t.Errorf("video#player with Auto (%s) does not play: %s", tab.Attr("video#player", "src"), res)
	} else if src := Eval[string](tab, `document.querySelector("video#player").currentSrc`); !strings.Contains(src, "/hls/master.m3u8") {
		t.Errorf("video#player with Auto plays %s, want the HLS master playlist", strings.SplitN(src, "?", 2)[0])
	}
	t.Logf("playing %s", Eval[string](tab, `document.querySelector("video#player").currentSrc.split("?")[0]`))
	// The quality picker switches to an MP4 rendition, which plays too.
	tab.Eval(`(() => { const s = document.querySelector("select#quality"); s.selectedIndex = s.options.length - 1; s.dispatchEvent(new Event("change", {bubbles: true})); })()`)
	tab.WaitJS("the MP4 rendition as the player's source", `!document.querySelector("video#player").currentSrc.includes("/hls/")`, DefaultWait)
	if res := Eval[string](tab, play); res != "" {
		t.Fatalf("video#player with the MP4 rendition %q does not play: %s", Eval[string](tab, `document.querySelector("select#quality").value`), res)
	}
	t.Logf("playing %s", Eval[string](tab, `document.querySelector("video#player").currentSrc.split("?")[0]`))
	if q := Eval[[]string](tab, `[...document.querySelectorAll("select#quality option")].map(o => o.textContent.trim())`); len(q) < 2 || !strings.EqualFold(q[0], "Auto") {
		t.Errorf("select#quality options = %q, want Auto then the renditions", q)
	}
	if n := Eval[int](tab, `document.querySelectorAll("ul#downloads a[href]").length`); n == 0 {
		t.Errorf("ul#downloads has no links")
	}

	// Hovering the scrub bar shows the sprite preview.
	if tab.Exists("#scrub-preview") && Eval[bool](tab, `getComputedStyle(document.querySelector("#scrub-preview")).display !== "none" && !document.querySelector("#scrub-preview").hidden`) {
		t.Errorf("#scrub-preview is shown before any hover")
	}
	tab.Do("scroll to the scrubber", chromedp.ScrollIntoView(chromedp.CSS("input#scrubber")))
	rect := Eval[struct{ X, Y, W, H float64 }](tab, `(() => { const r = document.querySelector("input#scrubber").getBoundingClientRect(); return {X: r.x, Y: r.y, W: r.width, H: r.height}; })()`)
	t.Logf("scrubber at %+v, max %s", rect, Eval[string](tab, `document.querySelector("input#scrubber").max`))
	tab.Do("hover the scrubber",
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, rect.X+rect.W*0.25, rect.Y+rect.H/2),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, rect.X+rect.W*0.6, rect.Y+rect.H/2))
	tab.WaitJS("#scrub-preview with the sprite", `(() => {
		const p = document.querySelector("#scrub-preview");
		return p && !p.hidden && getComputedStyle(p).display !== "none" && p.dataset.time !== undefined &&
			/url\(/.test(getComputedStyle(p).backgroundImage);
	})()`, DefaultWait)
	bg := Eval[string](tab, `getComputedStyle(document.querySelector("#scrub-preview")).backgroundImage`)
	t.Logf("preview at %s s: %s, position %s", tab.Attr("#scrub-preview", "data-time"), bg, Eval[string](tab, `getComputedStyle(document.querySelector("#scrub-preview")).backgroundPosition`))
	if !strings.Contains(bg, "sprite") {
		t.Errorf("#scrub-preview background %s is not the sprite", bg)
	}
	// The sprite URL loads (an image, as the page's CSP allows it).
	sprite := Eval[string](tab, `getComputedStyle(document.querySelector("#scrub-preview")).backgroundImage.replace(/^url\("?/, "").replace(/"?\)$/, "")`)
	if w := Eval[int](tab, fmt.Sprintf(`new Promise(r => { const i = new Image(); i.onload = () => r(i.naturalWidth); i.onerror = () => r(0); i.src = %s; })`, JSON(sprite))); w == 0 {
		t.Errorf("the sprite %s does not load", sprite)
	}

	// The scrub bar works from the keyboard: ArrowRight moves the player
	// and shows the preview of the new position.
	tab.Eval(`document.querySelector("video#player").pause()`)
	before := Eval[float64](tab, `document.querySelector("video#player").currentTime`)
	tab.Do("focus the scrubber and press ArrowRight",
		chromedp.Focus(chromedp.CSS("input#scrubber")),
		chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(kb.ArrowRight))
	tab.WaitJS("ArrowRight on #scrubber to move the player", fmt.Sprintf(`Math.abs(document.querySelector("video#player").currentTime - %g) > 0.05`, before), DefaultWait)
	if !Eval[bool](tab, `document.activeElement?.id === "scrubber" && getComputedStyle(document.activeElement).outlineStyle !== "none"`) {
		t.Errorf("the focused #scrubber shows no focus outline")
	}

	// Rename.
	tab.Type(`form#edit-meta input[name=title]`, "Lighthouse renamed")
	tab.Click(`form#edit-meta [type=submit]`)
	tab.WaitJS("#edit-status Saved", `/saved/i.test(document.querySelector("#edit-status")?.textContent ?? "")`, DefaultWait)
	if _, v := alice.Video(t, id); v["title"] != "Lighthouse renamed" {
		t.Errorf("API title after the edit = %v", v["title"])
	}

	// Search finds it by the new title (the catalog follows video.updated).
	tab.Click(`nav a[href="/"]`)
	tab.WaitReady("library")
	deadline := time.Now().Add(90 * time.Second)
	for {
		tab.Type(`form#search input[name=q]`, "renamed")
		tab.Submit(`form#search input[name=q]`)
		tab.WaitReady("library")
		if tab.Exists(card) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("searching \"renamed\" does not find %s", id)
		}
		time.Sleep(time.Second)
	}

	// Delete with confirmation.
	tab.Go("/videos/" + id)
	tab.WaitReady("video")
	tab.Click("button#delete-video")
	tab.WaitJS("dialog#confirm-delete open", `document.querySelector("dialog#confirm-delete")?.open`, DefaultWait)
	tab.Click("button#confirm-delete-yes")
	tab.WaitReady("library")
	if tab.Exists(card) {
		t.Errorf("the deleted video is still in the library")
	}
	if code, body := alice.Do(t, "GET", "/v1/videos/"+id, nil, ""); code != http.StatusNotFound {
		t.Errorf("GET the deleted video: %d %s, want 404", code, body)
	}
	tab.Go("/")
	if tab.Exists(card) {
		t.Errorf("the deleted video is in the library after a reload")
	}
}

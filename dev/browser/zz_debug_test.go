package browser

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

func TestZZDebug(t *testing.T) {
	id := readyVideo(t)
	tab := signedIn(t, "dev-alice")
	tab.ThrottleUpload(0)
	events := chromedp.Events(tab.Ctx, network.ResponseReceived)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			t.Logf("resp %d %s %s", ev.Response.Status, ev.Response.MimeType, ev.Response.URL)
		}
	}()
	tab.Go("/videos/" + id)
	time.Sleep(3 * time.Second)
	t.Log(Eval[string](tab, `(() => { const v = document.querySelector("video#player"); return JSON.stringify({src: v.src, cur: v.currentSrc, err: v.error && {c: v.error.code, m: v.error.message}, hls: v.canPlayType('application/vnd.apple.mpegurl'), ns: v.networkState, rs: v.readyState}); })()`))
	src := tab.Attr("video#player", "src")
	resp, err := http.Get(src)
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		t.Logf("master %d %s:\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				u := src[:strings.LastIndex(strings.SplitN(src, "?", 2)[0], "/")+1] + l
				r2, _ := http.Get(u)
				b2, _ := io.ReadAll(r2.Body)
				t.Logf("media %d %s:\n%s", r2.StatusCode, r2.Header.Get("Content-Type"), b2[:min(len(b2), 600)])
				break
			}
		}
	}
	try := func(label, url string) {
		r := Eval[string](tab, `(async () => { const v = document.createElement("video"); v.muted = true; document.body.append(v); v.src = `+JSON(url)+`;
			try { await v.play(); await new Promise(r => setTimeout(r, 1500)); return "played " + v.currentTime; } catch (e) { return "error " + e + " " + (v.error && v.error.code); } })()`)
		t.Logf("%s: %s", label, r)
	}
	base := src[:strings.LastIndex(strings.SplitN(src, "?", 2)[0], "/")+1]
	q := src[strings.Index(src, "?"):]
	try("variant 360p", base+"360p/index.m3u8"+q)
	try("master", src)
	try("mp4", Eval[string](tab, `document.querySelector("ul#downloads a").href`))
	t.Log(tab.ConsoleErrors())
}

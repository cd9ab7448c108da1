package browser

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// percent is the number in an upload's .upload-percent ("42 %" → 42; -1
// when there is none).
func percent(tab *Tab, up string) float64 {
	tab.t.Helper()
	s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(tab.Text(up+" .upload-percent")), "%"))
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return -1
	}
	return v
}

// TestUploadPauseResume uploads a clip with the tab's upload throttled:
// Pause stops it (data-state=paused), Resume finishes it (done, 100 %).
// Then another clip: the page is reloaded mid-upload and the same file is
// chosen again; the app resumes the upload it remembered (a HEAD of the
// tus upload URL, no new creation POST) and finishes it, as one video.
func TestUploadPauseResume(t *testing.T) {
	s, _ := shared(t)
	alice := apiAs(t, "dev-alice")
	tab := signedIn(t, "dev-alice")
	clip := Clip(t, s.Dir(), "pausable.mp4", 1280, 720, 8)
	st, err := os.Stat(clip)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("clip of %d bytes", st.Size())
	// About 16 s for the whole file: long enough to act mid-upload.
	rate := float64(st.Size()) / 16
	tab.ThrottleUpload(rate)

	up := `li.upload[data-name="pausable.mp4"]`
	tab.Do("choose the clip", chromedp.SetUploadFiles(chromedp.CSS("input#file-input"), []string{clip}))
	tab.WaitJS("the upload to start", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === "uploading"`, up), DefaultWait)
	tab.Click(up + " button.upload-pause")
	tab.WaitJS("the upload to pause", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === "paused"`, up), DefaultWait)
	paused := percent(tab, up)
	t.Logf("paused at %v %%", paused)
	if paused >= 100 {
		t.Fatalf("paused at %v %%: the upload was already done", paused)
	}
	tab.Click(up + " button.upload-resume")
	tab.WaitJS("the upload to go on", fmt.Sprintf(`["uploading", "done"].includes(document.querySelector(%q)?.dataset.state)`, up), DefaultWait)
	tab.ThrottleUpload(0)
	tab.WaitJS("the resumed upload to be done", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === "done"`, up), 2*time.Minute)
	if pct := percent(tab, up); pct != 100 {
		t.Errorf("after resume: %v %%, want 100", pct)
	}
	tab.WaitJS("the upload's video id", fmt.Sprintf(`document.querySelector(%q)?.dataset.videoId`, up), DefaultWait)
	id := tab.Attr(up, "data-video-id")
	if code, v := alice.Video(t, id); code != 200 || v["status"] == "failed" {
		t.Errorf("the resumed upload's video %s: %d %v", id, code, v)
	}

	// Reload mid-upload, choose the same file: it resumes.
	clip2 := Clip(t, s.Dir(), "reloaded.mp4", 1280, 720, 8)
	up2 := `li.upload[data-name="reloaded.mp4"]`
	tab.ThrottleUpload(rate)
	tab.Do("choose the second clip", chromedp.SetUploadFiles(chromedp.CSS("input#file-input"), []string{clip2}))
	tab.WaitJS("the second upload to pass 10 %", fmt.Sprintf(`parseFloat(document.querySelector(%q)?.textContent) >= 10`, up2+" .upload-percent"), 2*time.Minute)
	before := percent(tab, up2)
	var (
		mu   sync.Mutex
		reqs []string
	)
	events := chromedp.Events(tab.Ctx, network.RequestWillBeSent)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			if strings.Contains(ev.Request.URL, "/v1/uploads") {
				mu.Lock()
				reqs = append(reqs, ev.Request.Method+" "+ev.Request.URL)
				mu.Unlock()
			}
		}
	}()
	tab.Do("reload", chromedp.Reload())
	tab.WaitReady("library")
	tab.ThrottleUpload(0)
	tab.Do("choose the second clip again", chromedp.SetUploadFiles(chromedp.CSS("input#file-input"), []string{clip2}))
	tab.WaitJS("the reloaded upload to be done", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === "done"`, up2), 2*time.Minute)
	mu.Lock()
	got := append([]string(nil), reqs...)
	mu.Unlock()
	t.Logf("reloaded at %v %%; tus requests after the reload: %q", before, got)
	var heads, posts int
	for _, r := range got {
		switch {
		case strings.HasPrefix(r, "HEAD "):
			heads++
		case strings.HasPrefix(r, "POST "):
			posts++
		}
	}
	if heads == 0 || posts != 0 {
		t.Errorf("after the reload the app sent %d HEAD and %d POST to /v1/uploads, want a HEAD of the remembered upload and no new upload: %q", heads, posts, got)
	}
	tab.WaitJS("the reloaded upload's video id", fmt.Sprintf(`document.querySelector(%q)?.dataset.videoId`, up2), DefaultWait)
	if code, v := alice.Video(t, tab.Attr(up2, "data-video-id")); code != 200 {
		t.Errorf("the reloaded upload's video: %d %v", code, v)
	}
}

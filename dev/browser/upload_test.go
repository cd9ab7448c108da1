package browser

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

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

// count counts the requests of method in reqs ("METHOD URL").
func count(reqs []string, method string) int {
	n := 0
	for _, r := range reqs {
		if strings.HasPrefix(r, method+" ") {
			n++
		}
	}
	return n
}

// TestUploadPauseResume: Pause stops a tus upload mid-way
// (data-state=paused), Resume finishes it (done, 100 %, one video). Then a
// clip bigger than one 8 MiB chunk: the page is reloaded after its first
// chunk is stored, the same file is chosen again, and the app resumes the
// upload it remembered (a HEAD of the tus upload URL, no new creation
// POST) and finishes it. The tab's PATCH requests are held by the test
// (Gate) to act mid-upload without any timing.
func TestUploadPauseResume(t *testing.T) {
	s, _ := shared(t)
	alice := apiAs(t, "dev-alice")
	tab := signedIn(t, "dev-alice")
	// A PATCH aborted by Pause or by the reload shows as a failed fetch.
	tab.IgnoreConsole("net::ERR_")

	clip := Clip(t, s.Dir(), "pausable.mp4", 640, 360, 4)
	gate := tab.HoldRequests("*/v1/uploads*", "PATCH", 0)
	up := `li.upload[data-name="pausable.mp4"]`
	tab.Do("choose the clip", chromedp.SetUploadFiles(chromedp.CSS("input#file-input"), []string{clip}))
	tab.WaitJS("the upload to start", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === "uploading"`, up), DefaultWait)
	waitHeld(t, gate)
	tab.Click(up + " button.upload-pause")
	tab.WaitJS("the upload to pause", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === "paused"`, up), DefaultWait)
	if p := percent(tab, up); p >= 100 {
		t.Fatalf("paused at %v %%", p)
	}
	gate.Release()
	tab.Click(up + " button.upload-resume")
	tab.WaitJS("the resumed upload to be done", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === "done"`, up), 2*time.Minute)
	if pct := percent(tab, up); pct != 100 {
		t.Errorf("after resume: %v %%, want 100", pct)
	}
	tab.WaitJS("the upload's video id", fmt.Sprintf(`document.querySelector(%q)?.dataset.videoId`, up), DefaultWait)
	id := tab.Attr(up, "data-video-id")
	if code, v := alice.Video(t, id); code != 200 || v["status"] == "failed" {
		t.Errorf("the resumed upload's video %s: %d %v", id, code, v)
	}
	if n := count(gate.Requests(), "POST"); n != 1 {
		t.Errorf("pause and resume created %d uploads, want 1: %q", n, gate.Requests())
	}

	// Reload after the first chunk, choose the same file: it resumes.
	big := Clip(t, s.Dir(), "reloaded.mp4", 1280, 720, 20)
	st, err := os.Stat(big)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() <= 8<<20 {
		t.Fatalf("the clip has %d bytes, not more than one 8 MiB chunk", st.Size())
	}
	gate.Arm(1)
	up2 := `li.upload[data-name="reloaded.mp4"]`
	tab.Do("choose the big clip", chromedp.SetUploadFiles(chromedp.CSS("input#file-input"), []string{big}))
	tab.WaitJS("the first chunk to be stored", fmt.Sprintf(`parseFloat(document.querySelector(%q)?.textContent) > 0`, up2+" .upload-percent"), 2*time.Minute)
	waitHeld(t, gate) // the second chunk's PATCH
	before := percent(tab, up2)
	tab.Do("reload", chromedp.Reload())
	tab.WaitReady("library")
	gate.Release()
	gate.Reset()
	tab.Do("choose the big clip again", chromedp.SetUploadFiles(chromedp.CSS("input#file-input"), []string{big}))
	tab.WaitJS("the resumed upload to be done", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === "done"`, up2), 2*time.Minute)
	got := gate.Requests()
	t.Logf("reloaded at %v %%; tus requests after the reload: %q", before, got)
	if count(got, "HEAD") == 0 || count(got, "POST") != 0 || count(got, "PATCH") != 1 {
		t.Errorf("after the reload: want a HEAD of the remembered upload and one PATCH of the rest, no new upload; got %q", got)
	}
	tab.WaitJS("the resumed upload's video id", fmt.Sprintf(`document.querySelector(%q)?.dataset.videoId`, up2), DefaultWait)
	if code, v := alice.Video(t, tab.Attr(up2, "data-video-id")); code != 200 {
		t.Errorf("the resumed upload's video: %d %v", code, v)
	}
}

// waitHeld waits until the gate holds a request.
func waitHeld(t *testing.T, g *Gate) {
	t.Helper()
	for deadline := time.Now().Add(DefaultWait); g.Held() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no request was held; requests: %q", g.Requests())
		}
	}
}

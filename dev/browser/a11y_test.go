package browser

import (
	"fmt"
	"testing"
)

// TestAccessibility runs axe-core on every page of the app (signin,
// library empty and full, video, webhooks, ops as the admin, notfound) at
// 1280 and 360 px wide, in light and dark, and fails on serious or
// critical violations; at 360 px no page scrolls sideways.
func TestAccessibility(t *testing.T) {
	id := readyVideo(t)
	signin := openTab(t)
	alice := signedIn(t, "dev-alice")
	admin := signedIn(t, "dev-admin") // an admin with no videos: the empty library
	pages := []struct {
		tab        *Tab
		name, path string
		page       string
	}{
		{signin, "signin", "/signin", "signin"},
		{admin, "library (empty)", "/", "library"},
		{alice, "library", "/", "library"},
		{alice, "video", "/videos/" + id, "video"},
		{alice, "webhooks", "/webhooks", "webhooks"},
		{admin, "ops", "/ops", "ops"},
		{alice, "notfound", "/no/such/page", "notfound"},
	}
	for _, width := range []int64{1280, 360} {
		for _, scheme := range []string{"light", "dark"} {
			for _, tab := range []*Tab{signin, alice, admin} {
				tab.Viewport(width, 800)
				tab.ColorScheme(scheme)
			}
			for _, p := range pages {
				label := fmt.Sprintf("%s at %d px, %s", p.name, width, scheme)
				p.tab.Go(p.path)
				p.tab.WaitReady(p.page)
				switch p.name {
				case "library (empty)":
					if !p.tab.Exists("#library-empty") {
						t.Errorf("%s: no #library-empty", label)
					}
				case "library":
					if !p.tab.Exists(fmt.Sprintf(`li.video-card[data-video-id=%q]`, id)) {
						t.Errorf("%s: no card of %s", label, id)
					}
				}
				p.tab.CheckAxe(label)
				if width == 360 {
					if sw := Eval[int](p.tab, `document.documentElement.scrollWidth`); sw > 360 {
						t.Errorf("%s: the page is %d px wide, it scrolls sideways", label, sw)
					}
				}
			}
		}
	}
}

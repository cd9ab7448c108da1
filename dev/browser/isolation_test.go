package browser

import (
	"fmt"
	"strings"
	"testing"
)

// TestUsersIsolated: bob, signed in, never sees alice's video: not in his
// library, not in a search for its title, and its page at a direct URL
// shows "not found". The admin sees the ops link; bob does not.
func TestUsersIsolated(t *testing.T) {
	id := readyVideo(t)
	alice := signedIn(t, "dev-alice")
	card := fmt.Sprintf(`li.video-card[data-video-id=%q]`, id)
	alice.WaitJS("alice's card", fmt.Sprintf(`document.querySelector(%q)`, card), DefaultWait)

	bob := signedIn(t, "dev-bob")
	if who := bob.Text("#whoami"); !strings.Contains(who, "bob") {
		t.Errorf("#whoami = %q, want bob", who)
	}
	if bob.Exists(card) {
		t.Errorf("bob's library shows alice's video %s", id)
	}
	if bob.Visible(`nav a[href="/ops"]`) {
		t.Errorf("bob (not an admin) sees the ops link")
	}
	bob.Type(`form#search input[name=q]`, "harbour")
	bob.Submit(`form#search input[name=q]`)
	bob.WaitReady("library")
	if bob.Exists(card) {
		t.Errorf("bob's search for harbour shows alice's video")
	}
	bob.Go("/videos/" + id)
	if page := Eval[string](bob, `document.body.dataset.page`); page != "notfound" {
		t.Errorf("bob at /videos/%s: page %q, want notfound", id, page)
	}
	if bob.Exists("video#player") || strings.Contains(Eval[string](bob, `document.body.innerText`), "Harbour at noon") {
		t.Errorf("bob at /videos/%s sees alice's video", id)
	}

	admin := signedIn(t, "dev-admin")
	if !admin.Visible(`nav a[href="/ops"]`) {
		t.Errorf("the admin does not see the ops link")
	}
	if admin.Exists(card) {
		t.Errorf("the admin's library shows alice's video (a library is the caller's own)")
	}
}

package browser

import (
	"strings"
	"testing"
)

// TestSignInOut: a wrong token is refused with the reason in words next
// to the form (role=alert) and nothing kept; the right one signs in and is
// kept in sessionStorage only; Sign out forgets it and shows the sign-in
// page; a page opened signed out asks to sign in.
func TestSignInOut(t *testing.T) {
	tab := openTab(t)
	// The 401 of the wrong token is the test's doing.
	tab.IgnoreConsole("401")
	tab.Go("/")
	if page := Eval[string](tab, `document.body.dataset.page`); page != "signin" {
		t.Fatalf("signed out, / shows page %q, want signin", page)
	}
	if Eval[string](tab, `document.querySelector("form#signin input[name=token]").type`) != "password" {
		t.Errorf("the token input is not type=password")
	}
	if !Eval[bool](tab, `(() => { const i = document.querySelector("form#signin input[name=token]"); return i.labels.length > 0 || !!i.getAttribute("aria-label"); })()`) {
		t.Errorf("the token input has no label")
	}
	tab.Type(`form#signin input[name=token]`, "not-a-token")
	tab.Submit(`form#signin input[name=token]`)
	tab.WaitJS("#signin-error", `document.querySelector("#signin-error")?.textContent.trim()`, DefaultWait)
	if role := tab.Attr("#signin-error", "role"); role != "alert" {
		t.Errorf("#signin-error role = %q, want alert", role)
	}
	t.Logf("wrong token: %q", tab.Text("#signin-error"))
	if page := Eval[string](tab, `document.body.dataset.page`); page != "signin" {
		t.Errorf("after a wrong token the page is %q, want signin", page)
	}
	if n := Eval[int](tab, `localStorage.length + [...Array(sessionStorage.length).keys()].filter(i => sessionStorage.getItem(sessionStorage.key(i)) === "not-a-token").length`); n != 0 {
		t.Errorf("the wrong token was kept (%d storage entries)", n)
	}

	tab.SignIn("dev-alice")
	kept := Eval[bool](tab, `[...Array(sessionStorage.length).keys()].some(i => sessionStorage.getItem(sessionStorage.key(i)).includes("dev-alice"))`)
	inLocal := Eval[bool](tab, `[...Array(localStorage.length).keys()].some(i => (localStorage.getItem(localStorage.key(i)) ?? "").includes("dev-alice"))`)
	if !kept || inLocal {
		t.Errorf("token in sessionStorage: %v, in localStorage: %v; want only sessionStorage", kept, inLocal)
	}
	tab.Click("button#signout")
	tab.WaitReady("signin")
	if Eval[bool](tab, `[...Array(sessionStorage.length).keys()].some(i => sessionStorage.getItem(sessionStorage.key(i)).includes("dev-alice"))`) {
		t.Errorf("the token is still in sessionStorage after Sign out")
	}
	if strings.Contains(tab.Text("#whoami"), "alice") {
		t.Errorf("#whoami still shows alice after Sign out")
	}
}

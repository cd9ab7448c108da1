package browser

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// The app tests share one dev stack and one browser per test binary
// (starting them takes most of a test's time on a 2-core machine); each
// test opens its own tabs, each tab its own browser context.
var (
	sharedOnce    sync.Once
	sharedStack   *Stack
	sharedBrowser *Browser
	sharedErr     error
	stackLog      lockedBuffer
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedBrowser != nil {
		sharedBrowser.Close()
	}
	if sharedStack != nil {
		if err := sharedStack.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the dev stack: %v\n", err)
			code = 1
		}
	}
	if code != 0 && stackLog.b.Len() > 0 {
		log := stackLog.String()
		if len(log) > 200_000 {
			log = "…" + log[len(log)-200_000:]
		}
		fmt.Fprintf(os.Stderr, "--- dev stack log (tail) ---\n%s\n", log)
	}
	os.Exit(code)
}

// shared returns the dev stack and the browser, starting them on first
// use; a failure to start fails every test that needs them.
func shared(t *testing.T) (*Stack, *Browser) {
	t.Helper()
	sharedOnce.Do(func() {
		// Fail fast on a missing tool, before the stack's build.
		if _, sharedErr = ChromiumPath(); sharedErr != nil {
			return
		}
		if _, sharedErr = AxeSource(); sharedErr != nil {
			return
		}
		if sharedStack, sharedErr = StartStack(context.Background(), &stackLog); sharedErr != nil {
			return
		}
		sharedBrowser, sharedErr = Start(context.Background(), nil)
	})
	if sharedErr != nil {
		t.Fatalf("%v", sharedErr)
	}
	return sharedStack, sharedBrowser
}

// signedIn opens a tab on the app signed in with token (dev-alice,
// dev-bob, dev-admin); the tab's console must stay free of errors
// (checked when the test ends).
func signedIn(t *testing.T, token string) *Tab {
	t.Helper()
	tab := openTab(t)
	tab.SignIn(token)
	return tab
}

// openTab opens a tab on the app, not signed in.
func openTab(t *testing.T) *Tab {
	t.Helper()
	s, b := shared(t)
	tab := b.NewTab(t, s.Endpoints.APIURL)
	t.Cleanup(func() {
		tab.CheckConsole()
		tab.Close()
	})
	return tab
}

func apiAs(t *testing.T, token string) API {
	t.Helper()
	s, _ := shared(t)
	return API{Base: s.Endpoints.APIURL, Token: token}
}

var (
	readyOnce sync.Once
	readyID   string
)

// readyVideo is a video of alice's ("Harbour at noon"), uploaded through
// the API and ready; made once per test binary.
func readyVideo(t *testing.T) string {
	t.Helper()
	s, _ := shared(t)
	readyOnce.Do(func() {
		alice := apiAs(t, "dev-alice")
		path := Clip(t, s.Dir(), "harbour.mp4", 640, 360, 4)
		id := alice.Upload(t, path, "Harbour at noon", "harbour,noon")
		alice.WaitStatus(t, id, "ready", 4*time.Minute)
		readyID = id
	})
	if readyID == "" {
		t.Fatal("the shared ready video could not be made (see the first test that asked for it)")
	}
	return readyID
}

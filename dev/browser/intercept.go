package browser

import (
	"encoding/json"
	"strings"
	"sync"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
)

// Gate holds a tab's requests to URLs matching a pattern at will, so a
// test can act while an upload is mid-way (Chromium's upload throttling
// does not slow fetch() bodies, this does): it lets the first Allow
// requests of method Method through, then holds the next ones until
// Release. It records every intercepted request ("METHOD URL").
type Gate struct {
	tab    *Tab
	method string

	mu       sync.Mutex
	allow    int
	open     bool
	held     []fetch.RequestID
	requests []string
}

// HoldRequests starts intercepting the tab's requests whose URL matches
// urlPattern (wildcards * and ?): requests of method pass while fewer than
// allow of them have passed, then are held; other methods pass. Stop it
// with Release; re-arm it with Arm (one Gate per tab).
func (tab *Tab) HoldRequests(urlPattern, method string, allow int) *Gate {
	tab.t.Helper()
	g := &Gate{tab: tab, method: method, allow: allow}
	// The raw events: chromedp's typed decoding of Fetch.requestPaused
	// fails on a binary request body (postData is not valid UTF-16), so
	// only the fields needed here are read, leniently, by encoding/json.
	target := chromedp.FromContext(tab.Ctx).Target
	paused, unsubscribe := target.Subscribe("Fetch.requestPaused")
	if _, err := chromedp.Call(tab.Ctx, fetch.Enable, fetch.EnableParams{
		Patterns: []*fetch.RequestPattern{{URLPattern: urlPattern, RequestStage: fetch.RequestStageRequest}},
	}); err != nil {
		unsubscribe()
		tab.t.Fatalf("browser: fetch.enable: %v", err)
	}
	go func() {
		defer unsubscribe()
		for {
			var raw []byte
			select {
			case <-tab.Ctx.Done():
				return
			case v, ok := <-paused:
				if !ok {
					return
				}
				raw = v
			}
			var ev struct {
				RequestID fetch.RequestID `json:"requestId"`
				Request   struct{ Method, URL string }
			}
			if err := json.Unmarshal(raw, &ev); err != nil {
				tab.t.Logf("browser: decode Fetch.requestPaused: %v", err)
				continue
			}
			g.mu.Lock()
			g.requests = append(g.requests, ev.Request.Method+" "+ev.Request.URL)
			hold := !g.open && strings.EqualFold(ev.Request.Method, g.method) && g.allow <= 0
			if hold {
				g.held = append(g.held, ev.RequestID)
			} else if strings.EqualFold(ev.Request.Method, g.method) {
				g.allow--
			}
			g.mu.Unlock()
			if !hold {
				// An error means the request went away (a reload).
				if _, err := chromedp.Call(tab.Ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID}); err != nil {
					tab.t.Logf("browser: continue %s %s: %v", ev.Request.Method, ev.Request.URL, err)
				}
			}
		}
	}()
	return g
}

// Held is the number of requests held now.
func (g *Gate) Held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.held)
}

// Requests are the intercepted requests so far, "METHOD URL".
func (g *Gate) Requests() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.requests...)
}

// Arm forgets the recorded requests and holds again: the next allow
// requests of the gate's method pass, the later ones are held until
// Release.
func (g *Gate) Arm(allow int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests, g.allow, g.open = nil, allow, false
}

// Reset forgets the recorded requests.
func (g *Gate) Reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests = nil
}

// Release lets the held requests go on (those still wanted by the page)
// and every later one pass; the interception itself stays on.
func (g *Gate) Release() {
	g.mu.Lock()
	held := g.held
	g.held, g.open = nil, true
	g.mu.Unlock()
	for _, id := range held {
		_, _ = chromedp.Call(g.tab.Ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id})
	}
}

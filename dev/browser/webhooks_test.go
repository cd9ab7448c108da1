package browser

import (
	"fmt"
	"strings"
	"testing"
)

// TestWebhooksPage: an empty URL is refused in words; an endpoint added
// through form#webhook-create shows its secret once (#webhook-secret) and
// is listed (li.webhook) with its deliveries table and a replay control;
// deleting it removes it.
func TestWebhooksPage(t *testing.T) {
	tab := signedIn(t, "dev-bob")
	tab.Go("/webhooks")
	tab.WaitReady("webhooks")
	tab.Submit(`form#webhook-create input[name=url]`)
	tab.WaitJS("the refusal of an empty URL", `document.querySelector("form#webhook-create [role=alert]")?.textContent.trim()`, DefaultWait)

	tab.Type(`form#webhook-create input[name=url]`, "http://127.0.0.1:9/bob-hooks")
	if n := Eval[int](tab, `document.querySelectorAll("form#webhook-create input[name=events]:checked").length`); n == 0 {
		tab.Click(`form#webhook-create input[name=events]`)
	}
	tab.Submit(`form#webhook-create input[name=url]`)
	tab.WaitJS("#webhook-secret", `/whsec_/.test(document.querySelector("#webhook-secret")?.textContent ?? "")`, DefaultWait)
	item := `[...document.querySelectorAll("li.webhook[data-webhook-id]")].find(li => li.textContent.includes("bob-hooks"))`
	tab.WaitJS("the new endpoint in the list", item, DefaultWait)
	id := Eval[string](tab, item+`.dataset.webhookId`)
	li := fmt.Sprintf(`li.webhook[data-webhook-id=%q]`, id)
	if !tab.Exists(li+" button.webhook-replay") || !tab.Exists("table#deliveries") {
		t.Errorf("the endpoint has no button.webhook-replay or the page no table#deliveries")
	}
	tab.Go("/webhooks")
	tab.WaitReady("webhooks")
	if s := tab.Text("#webhook-secret"); strings.Contains(s, "whsec_") {
		t.Errorf("the secret is shown again after a reload")
	}
	tab.Click(li + " button.webhook-delete")
	tab.WaitJS("the endpoint to go", fmt.Sprintf(`!document.querySelector(%q)`, li), DefaultWait)
}

package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// TestTextFieldsRefuseInvisibleFormatting: titles, descriptions and tags
// with bidirectional controls, other invisible format characters or line
// separators are refused (400 invalid_field); text is normalized to NFC;
// joiners (emoji sequences) pass.
func TestTextFieldsRefuseInvisibleFormatting(t *testing.T) {
	bad := map[string]string{"RLO": "\u202E", "LRI": "\u2066", "RLM": "\u200F", "ALM": "\u061C", "BOM": "\uFEFF",
		"zero width space": "\u200B", "tag character": "\U000E0041", "line separator": "\u2028", "paragraph separator": "\u2029",
		"soft hyphen": "\u00AD"}
	for name, c := range bad {
		s := "invoice" + c + "fdp.exe"
		if _, err := parseTitle(s); err == nil {
			t.Errorf("title with %s accepted", name)
		}
		if _, err := parseDescription("line\n" + s); err == nil {
			t.Errorf("description with %s accepted", name)
		}
		if _, err := parseTags("ok," + s); err == nil {
			t.Errorf("tag with %s accepted", name)
		}
		if got := cleanFilename(s); got != "invoicefdp.exe" {
			t.Errorf("cleanFilename with %s = %q, want invoicefdp.exe", name, got)
		}
	}
	decomposed, composed := "Cafe\u0301", "Caf\u00e9"
	if got, err := parseTitle(decomposed); err != nil || got != composed {
		t.Errorf("parseTitle(decomposed) = %q, %v; want NFC %q", got, err, composed)
	}
	if got, err := parseDescription(decomposed); err != nil || got != composed {
		t.Errorf("parseDescription(decomposed) = %q, %v", got, err)
	}
	if got, err := parseTags(composed + "," + decomposed + ",x"); err != nil || len(got) != 2 || got[0] != composed {
		t.Errorf("parseTags: %q, %v; want the two spellings of one tag merged, in NFC", got, err)
	}
	if got := cleanFilename(decomposed + ".mp4"); got != composed+".mp4" {
		t.Errorf("cleanFilename(decomposed) = %q", got)
	}
	family := "family 👨\u200d👩\u200d👧"
	if got, err := parseTitle(family); err != nil || got != family {
		t.Errorf("parseTitle(emoji ZWJ sequence) = %q, %v", got, err)
	}
}

// TestUploadRefusesBidiTitle: through the API, a multipart upload with a
// right-to-left override in its title is refused and publishes nothing;
// one with it in its file name is accepted with the character removed, and
// the event carries NFC text.
func TestUploadRefusesBidiTitle(t *testing.T) {
	e := mustEnv(t)
	clip := mustClip(t)
	resp, body := e.upload(t, aliceToken, formPart{name: "title", data: []byte("holiday\u202Evid.exe")},
		formPart{name: "file", filename: "a.mp4", data: clip})
	mustErrorCode(t, resp, body, http.StatusBadRequest, codeInvalidField)
	resp, body = e.upload(t, aliceToken, formPart{name: "tags", data: []byte("Cafe\u0301")},
		formPart{name: "file", filename: "invoice\u202E4pm.exe", data: clip})
	acc := mustAccepted(t, resp, body)
	msgs := e.Kafka.ReadAll(t, contract.TopicUploaded, 1, 10*time.Second)
	if len(msgs) != 1 || string(msgs[0].Key) != acc.ID {
		t.Fatalf("video.uploaded holds %d records, want only %s", len(msgs), acc.ID)
	}
	ev, err := contract.Decode[contract.VideoUploaded](msgs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Source.Filename != "invoice4pm.exe" || strings.ContainsRune(ev.Title, '\u202E') || len(ev.Tags) != 1 || ev.Tags[0] != "Caf\u00e9" {
		t.Errorf("event filename %q title %q tags %q", ev.Source.Filename, ev.Title, ev.Tags)
	}
}

package apienums_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/deploy/apienums"
)

func MustDoc(tb testing.TB) []byte {
	tb.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", apienums.Path))
	if err != nil {
		tb.Fatal(err)
	}
	return doc
}

func MustCaptions(tb testing.TB) contract.Pipeline {
	tb.Helper()
	p, err := contract.DefaultPipeline().With(contract.StageSpec{
		Name: "captions", Input: contract.TopicReady, DLQ: "video.captions.dlq",
		Output: contract.Step{Topic: "video.captioned", Type: "dev.vidpipe.video.captioned.v1", Status: "captioned", Decode: contract.DecodeAs[contract.VideoReady]},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// The committed document is what make docs writes: rewriting it changes
// nothing.
func TestDocumentIsCurrent(t *testing.T) {
	t.Parallel()
	doc := MustDoc(t)
	out, err := apienums.Rewrite(doc, contract.DefaultPipeline())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, doc) {
		t.Errorf("%s is stale: run make docs", apienums.Path)
	}
	if err := apienums.Check(doc, contract.DefaultPipeline()); err != nil {
		t.Error(err)
	}
}

// A new stage changes exactly the two enum lines it concerns; every other
// byte stays.
func TestRewriteNewStage(t *testing.T) {
	t.Parallel()
	doc := MustDoc(t)
	p := MustCaptions(t)
	if err := apienums.Check(doc, p); err == nil {
		t.Fatal("Check: the document passes for a pipeline with a captions stage")
	}
	out, err := apienums.Rewrite(doc, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := apienums.Check(out, p); err != nil {
		t.Error(err)
	}
	before, after := strings.Split(string(doc), "\n"), strings.Split(string(out), "\n")
	if len(before) != len(after) {
		t.Fatalf("%d lines became %d", len(before), len(after))
	}
	var changed []string
	for i := range before {
		if before[i] != after[i] {
			changed = append(changed, strings.TrimSpace(after[i]))
		}
	}
	want := []string{
		"status: {type: string, enum: [uploaded, playable, transcoded, thumbnailed, ready, captioned, failed]}",
		"stage: {type: string, enum: [transcode, thumbnail, indexer, captions]}",
	}
	if strings.Join(changed, "\n") != strings.Join(want, "\n") {
		t.Errorf("changed lines:\n%s\nwant:\n%s", strings.Join(changed, "\n"), strings.Join(want, "\n"))
	}
}

func TestRewriteRefusesOtherLayouts(t *testing.T) {
	t.Parallel()
	const block = `components:
  schemas:
    Accepted:
      properties:
        status: {type: string, enum: [uploaded]}
    Video:
      properties:
        status:
          type: string
          enum:
            - uploaded
        failure:
          properties:
            stage: {type: string, enum: [transcode]}
`
	_, err := apienums.Rewrite([]byte(block), contract.DefaultPipeline())
	if err == nil || !strings.Contains(err.Error(), "components.schemas.Video.properties.status.enum must be a flow sequence") {
		t.Errorf("block-style enum: %v, want an error naming it", err)
	}
	_, err = apienums.Rewrite([]byte("components: {}\n"), contract.DefaultPipeline())
	if err == nil || !strings.Contains(err.Error(), `missing "schemas"`) {
		t.Errorf("no schemas: %v, want an error naming the missing key", err)
	}
}

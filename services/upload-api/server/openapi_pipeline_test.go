package server

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// openAPIEnum returns the enum at path (keys separated by dots) of the
// embedded openapi.yaml.
func openAPIEnum(t *testing.T, path string) []string {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	var node any = doc
	for _, key := range strings.Split(path, ".") {
		m, ok := node.(map[string]any)
		if !ok {
			t.Fatalf("openapi.yaml: %s: %q is not under a mapping", path, key)
		}
		if node, ok = m[key]; !ok {
			t.Fatalf("openapi.yaml has no %s (missing %q)", path, key)
		}
	}
	list, ok := node.([]any)
	if !ok {
		t.Fatalf("openapi.yaml: %s is not a list", path)
	}
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = fmt.Sprint(v)
	}
	return out
}

const (
	statusEnumPath = "components.schemas.Video.properties.status.enum"
	stageEnumPath  = "components.schemas.Video.properties.failure.properties.stage.enum"
)

// enumMismatch names, one per line, how the enums of openapi.yaml differ
// from the statuses and stage names of p: each missing value, then each
// value no longer in p. The enums are generated (make docs runs
// deploy/cmd/apienums), so every message says to regenerate them.
func enumMismatch(p contract.Pipeline, statusEnum, stageEnum []string) []string {
	wantStatus := append(p.Statuses(), string(projection.StatusFailed))
	var wantStage []string
	for _, s := range p.StageNames() {
		wantStage = append(wantStage, string(s))
	}
	var out []string
	check := func(path, what string, want, have []string) {
		n := len(out)
		for _, w := range want {
			if !slices.Contains(have, w) {
				out = append(out, fmt.Sprintf("openapi.yaml: %s lacks %q, a %s of the pipeline table (contract.DefaultPipeline): run make docs", path, w, what))
			}
		}
		for _, h := range have {
			if !slices.Contains(want, h) {
				out = append(out, fmt.Sprintf("openapi.yaml: %s lists %q, which is no %s of the pipeline table (contract.DefaultPipeline): run make docs", path, h, what))
			}
		}
		if len(out) == n && !slices.Equal(want, have) {
			out = append(out, fmt.Sprintf("openapi.yaml: %s is %v, want the pipeline table's order %v: run make docs", path, have, want))
		}
	}
	check(statusEnumPath, "status", wantStatus, statusEnum)
	check(stageEnumPath, "stage name", wantStage, stageEnum)
	return out
}

// TestOpenAPIStatusesMatchPipeline: the Video schema's status and
// failure.stage enums list exactly the pipeline's statuses (plus failed)
// and stage names, in the table's order, and Accepted.status the entry
// step's status. `make docs` writes them from the table
// (deploy/cmd/apienums); this test fails when they are stale, telling the
// reader to run it.
func TestOpenAPIStatusesMatchPipeline(t *testing.T) {
	statuses, stages := openAPIEnum(t, statusEnumPath), openAPIEnum(t, stageEnumPath)
	for _, msg := range enumMismatch(contract.DefaultPipeline(), statuses, stages) {
		t.Error(msg)
	}
	if entry := openAPIEnum(t, "components.schemas.Accepted.properties.status.enum"); !slices.Equal(entry, []string{contract.DefaultPipeline().Entry.Status}) {
		t.Errorf("openapi.yaml: Accepted.status enum = %v, want the entry step's status [%s]: run make docs", entry, contract.DefaultPipeline().Entry.Status)
	}

	// A stage declared in the table but not yet in openapi.yaml is named.
	def := contract.DefaultPipeline()
	last, _ := def.StepAt(def.MaxRank())
	p, err := def.With(contract.StageSpec{Name: "captions", Input: last.Topic, DLQ: "video.captions.dlq",
		Output: contract.Step{Topic: "video.captioned", Type: "dev.vidpipe.video.captioned.v1", Status: "captioned", Decode: contract.DecodeAs[contract.VideoReady]}})
	if err != nil {
		t.Fatal(err)
	}
	got := enumMismatch(p, statuses, stages)
	want := []string{
		`openapi.yaml: ` + statusEnumPath + ` lacks "captioned", a status of the pipeline table (contract.DefaultPipeline): run make docs`,
		`openapi.yaml: ` + stageEnumPath + ` lacks "captions", a stage name of the pipeline table (contract.DefaultPipeline): run make docs`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("with a captions stage the test would say:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The same values in another order.
	if got := enumMismatch(def, []string{"failed", "uploaded", "playable", "transcoded", "thumbnailed", "ready"}, stages); len(got) != 1 || !strings.Contains(got[0], "want the pipeline table's order") {
		t.Errorf("reordered statuses: %q, want one message about the order", got)
	}
}

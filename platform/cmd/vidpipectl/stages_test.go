package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/contract"
)

// TestStageNamesFromPipeline: the help and the stage errors name every
// stage of the pipeline table, in order, and nothing else.
func TestStageNamesFromPipeline(t *testing.T) {
	names := stageNames()
	if len(names) != len(contract.DefaultPipeline().Stages) {
		t.Fatalf("stageNames() = %v, want the %d stages of the table", names, len(contract.DefaultPipeline().Stages))
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatal(err)
	}
	if want := "(" + strings.Join(names, "|") + "|webhooks)"; !strings.Contains(out.String(), want) {
		t.Errorf("help lacks %q:\n%s", want, out.String())
	}
	getenv := func(string) string { return "" }
	withHooks := append(names, string(contract.StageWebhooks))
	err := run(context.Background(), []string{"dlq", "list", "nosuch"}, getenv, &out, &out)
	if err == nil || !strings.Contains(err.Error(), `unknown stage "nosuch": want `+oneOf(withHooks)) {
		t.Errorf("dlq list nosuch: %v", err)
	}
	err = run(context.Background(), []string{"dlq", "redrive"}, getenv, &out, &out)
	if err == nil || err.Error() != "want one stage: "+oneOf(withHooks) {
		t.Errorf("dlq redrive without a stage: %v", err)
	}
	if got := oneOf([]string{"transcode", "thumbnail", "indexer"}); got != "transcode, thumbnail or indexer" {
		t.Errorf("oneOf = %q", got)
	}
}

package contract_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/contract"
)

// The default pipeline starts with vidpipe's four steps and three stages,
// named by the package's constants; a stage added to the table (see
// docs/adding-a-stage.md) goes after them and needs no change here.
func TestDefaultPipelineIsValidAndMatchesTheTopicConstants(t *testing.T) {
	p := contract.DefaultPipeline()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	steps := []string{contract.TopicUploaded, contract.TopicPlayable, contract.TopicTranscoded, contract.TopicThumbnailed, contract.TopicReady}
	if got := p.StageTopics(); len(got) < len(steps) || !slices.Equal(got[:len(steps)], steps) {
		t.Errorf("StageTopics = %v, want it to start with %v", got, steps)
	}
	dlqs := []string{contract.TopicTranscodeDLQ, contract.TopicThumbnailDLQ, contract.TopicIndexerDLQ}
	if got := p.DLQTopics(); len(got) < len(dlqs) || !slices.Equal(got[:len(dlqs)], dlqs) {
		t.Errorf("DLQTopics = %v, want it to start with %v", got, dlqs)
	}
	work := []string{contract.TopicTranscodeChunks, contract.TopicTranscodeChunksDone}
	if got := p.WorkTopics(); !slices.Equal(got, work) {
		t.Errorf("WorkTopics = %v, want %v", got, work)
	}
	want := append(append(append(p.StageTopics(), p.WorkTopics()...), contract.LifecycleTopics()...), p.DLQTopics()...)
	want = append(want, contract.WebhookTopics()...)
	if got := p.AllTopics(); !slices.Equal(got, want) {
		t.Errorf("AllTopics = %v, want the step topics, the work topics, the lifecycle topics, the DLQs then the webhook topics %v", got, want)
	}
	if st, s, ok := p.WorkStep(contract.TopicTranscodeChunks); !ok || s.Name != contract.StageTranscode || st.Status != "" {
		t.Errorf("WorkStep(%s) = %v %v %v", contract.TopicTranscodeChunks, st.Topic, s.Name, ok)
	}
	if r := p.Rank(contract.TopicTranscodeChunks); r != 0 {
		t.Errorf("a work topic has rank %d, want none", r)
	}
	statuses := []string{"uploaded", "playable", "transcoded", "thumbnailed", "ready"}
	if got := p.Statuses(); len(got) < len(statuses) || !slices.Equal(got[:len(statuses)], statuses) {
		t.Errorf("Statuses = %v, want it to start with %v", got, statuses)
	}
	for i, topic := range p.StageTopics() {
		if r := p.Rank(topic); r != i+1 {
			t.Errorf("Rank(%s) = %d, want %d", topic, r, i+1)
		}
	}
	if p.Rank(contract.TopicIndexerDLQ) != 0 || p.MaxRank() != len(p.StageTopics()) {
		t.Errorf("Rank(dlq) = %d, MaxRank = %d; want 0 and %d", p.Rank(contract.TopicIndexerDLQ), p.MaxRank(), len(p.StageTopics()))
	}
	if names := p.StageNames(); !slices.Equal(names, contract.Stages) ||
		!slices.Equal(names[:3], []contract.Stage{contract.StageTranscode, contract.StageThumbnail, contract.StageIndexer}) {
		t.Errorf("StageNames = %v, contract.Stages = %v; want both to start with transcode, thumbnail, indexer", names, contract.Stages)
	}
	for _, s := range contract.Stages {
		spec, ok := p.Stage(s)
		if !ok || spec.Input != s.InputTopic() || spec.Output.Topic != s.OutputTopic() || spec.DLQ != s.DLQTopic() {
			t.Errorf("stage %s: spec %+v disagrees with the package helpers", s, spec)
		}
	}
}

func TestStepDecodeReturnsTheVideo(t *testing.T) {
	e := sampleReady("5b0f3c1e-8a5d-4c3e-9f1a-2b7c6d8e9f01").Video
	u := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: e}
	value, err := contract.Encode(u)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := contract.DefaultPipeline().StepFor(contract.TopicUploaded)
	ev, v, err := st.Decode(value)
	if err != nil || v.VideoID != e.VideoID || ev.EventType() != contract.TypeUploaded {
		t.Fatalf("Decode = %v, %+v, %v", ev, v, err)
	}
	if _, _, err := st.Decode([]byte(`{"schema_version":1}`)); err == nil {
		t.Fatal("Decode of an invalid value succeeded")
	}
}

func TestPipelineWithAppendsAStageAndRejectsBrokenChains(t *testing.T) {
	p := contract.DefaultPipeline()
	noop := contract.StageSpec{Name: "noop", Input: contract.TopicReady, DLQ: "video.noop.dlq",
		Output: contract.Step{Topic: "video.nooped", Type: "dev.vidpipe.video.nooped.v1", Status: "nooped",
			Decode: contract.DecodeAs[contract.VideoReady]}}
	q, err := p.With(noop)
	if err != nil {
		t.Fatal(err)
	}
	if q.Rank("video.nooped") != p.MaxRank()+1 || len(p.Stages) != 3 || !slices.Contains(q.AllTopics(), "video.noop.dlq") {
		t.Fatalf("With: rank %d, original stages %d, topics %v", q.Rank("video.nooped"), len(p.Stages), q.AllTopics())
	}
	broken := map[string]func(*contract.StageSpec){
		"does not chain":  func(s *contract.StageSpec) { s.Input = contract.TopicUploaded },
		"duplicate topic": func(s *contract.StageSpec) { s.DLQ = contract.TopicTranscodeDLQ },
		"duplicate name":  func(s *contract.StageSpec) { s.Name = contract.StageIndexer },
		"bad name":        func(s *contract.StageSpec) { s.Name = "No Op" },
		"no decoder":      func(s *contract.StageSpec) { s.Output.Decode = nil },
		"status reused":   func(s *contract.StageSpec) { s.Output.Status = "ready" },
		"milestone reuses a status": func(s *contract.StageSpec) {
			s.Milestones = []contract.Step{{Topic: "video.noop.half", Type: "t", Status: "playable", Decode: s.Output.Decode}}
		},
		"work topic with a status": func(s *contract.StageSpec) {
			s.Work = []contract.Step{{Topic: "video.noop.work", Type: "t", Status: "working", Decode: s.Output.Decode}}
		},
		"work topic reused": func(s *contract.StageSpec) {
			s.Work = []contract.Step{{Topic: contract.TopicTranscodeChunks, Type: "t", Decode: s.Output.Decode}}
		},
		"status failed": func(s *contract.StageSpec) { s.Output.Status = "failed" },
	}
	for name, edit := range broken {
		t.Run(name, func(t *testing.T) {
			s := noop
			edit(&s)
			if _, err := p.With(s); err == nil || !strings.Contains(err.Error(), "pipeline:") {
				t.Fatalf("With = %v, want a pipeline error", err)
			}
		})
	}
}

// TestModuleHasNoRequirements keeps the contract importable without pulling
// a Kafka client, an S3 SDK or anything else: its go.mod has no require.
func TestModuleHasNoRequirements(t *testing.T) {
	data, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 && (f[0] == "require" || f[0] == "replace" || f[0] == "toolchain") {
			t.Errorf("go.mod:%d: %q: the contract module must not depend on anything", i+1, line)
		}
	}
	if _, err := os.Stat("go.sum"); err == nil {
		t.Error("go.sum exists: the contract module must not depend on anything")
	}
}

package contract

import (
	"fmt"
	"regexp"
	"slices"
)

// Step is one topic of the pipeline and the event on it: the entry topic the
// API publishes, or a stage's output.
type Step struct {
	// Topic the event is published to, e.g. "video.transcoded".
	Topic string
	// Type is the CloudEvents type of its events.
	Type string
	// Status is the state a video is in once this event is published
	// ("uploaded", "transcoded", …); the status projection shows it.
	Status string
	// Decode decodes and validates a value of Topic and returns the event
	// and the video it is about. Errors match [ErrDecode] or [ErrInvalid].
	Decode func(value []byte) (Event, Video, error)
}

// StatusFailed is the status of a video that a stage dead-lettered. It is
// the one status that is no step's: no row may take it.
const StatusFailed = "failed"

// StageSpec declares one processing stage: a worker that consumes Input and
// publishes Output.Topic, or a dead letter to DLQ.
type StageSpec struct {
	// Name is the stage's name: its consumer group, its service binary
	// (services/NAME/cmd/NAME), its configuration key prefix and its image.
	Name Stage
	// Input is the topic the stage consumes: the previous step's topic.
	Input string
	// DLQ is the stage's dead-letter topic.
	DLQ string
	// Output is what the stage publishes.
	Output Step
	// Milestones are events the stage publishes on their own topics before
	// its Output, in order (transcode: video.playable). Each is a step with
	// its own status, ranked after the input's and before the output's.
	Milestones []Step
	// Work are the stage's internal topics (transcode: its work items and
	// their completions): created with the others, watched, and read by the
	// projection for progress, but no status of their own (Status is "").
	Work []Step
}

// Pipeline declares the whole choreography: the entry step that upload-api
// publishes, then the stages in order, each consuming the previous step.
// Topics, dead-letter topics, status ranks, the projection's decoding, the
// admin CLI's stage names and the dev stack's processes all derive from it;
// [DefaultPipeline] is vidpipe's.
type Pipeline struct {
	Entry  Step
	Stages []StageSpec
}

// DecodeAs decodes and validates a value as the event type T. It is the
// [Step.Decode] of a stage whose output is T: a new stage's event type only
// needs to embed [Video] and implement [Event].
func DecodeAs[T interface {
	Event
	Base() Video
}](value []byte) (Event, Video, error) {
	e, err := Decode[T](value)
	if err != nil {
		return nil, Video{}, err
	}
	return e, e.Base(), nil
}

// Base returns the upload's fields that every event carries.
func (v Video) Base() Video { return v }

// DefaultPipeline returns vidpipe's pipeline: video.uploaded → transcode
// (video.playable on the way, work items on video.transcode.chunks and
// video.transcode.chunks-done) → video.transcoded → thumbnail → video.thumbnailed → indexer → video.ready.
// Each call returns a fresh copy; [Pipeline.With] extends it.
func DefaultPipeline() Pipeline {
	return Pipeline{
		Entry: Step{Topic: TopicUploaded, Type: TypeUploaded, Status: "uploaded", Decode: DecodeAs[VideoUploaded]},
		Stages: []StageSpec{
			{Name: StageTranscode, Input: TopicUploaded, DLQ: TopicTranscodeDLQ,
				Milestones: []Step{{Topic: TopicPlayable, Type: TypePlayable, Status: "playable", Decode: DecodeAs[VideoPlayable]}},
				Work: []Step{
					{Topic: TopicTranscodeChunks, Type: TypeTranscodeChunk, Decode: DecodeAs[TranscodeChunk]},
					{Topic: TopicTranscodeChunksDone, Type: TypeTranscodeChunkDone, Decode: DecodeAs[TranscodeChunkDone]},
				},
				Output: Step{Topic: TopicTranscoded, Type: TypeTranscoded, Status: "transcoded", Decode: DecodeAs[VideoTranscoded]}},
			{Name: StageThumbnail, Input: TopicTranscoded, DLQ: TopicThumbnailDLQ,
				Output: Step{Topic: TopicThumbnailed, Type: TypeThumbnailed, Status: "thumbnailed", Decode: DecodeAs[VideoThumbnailed]}},
			{Name: StageIndexer, Input: TopicThumbnailed, DLQ: TopicIndexerDLQ,
				Output: Step{Topic: TopicReady, Type: TypeReady, Status: "ready", Decode: DecodeAs[VideoReady]}},
		},
	}
}

// defaultPipeline backs the package-level helpers ([Stages], [StageTopics],
// [Stage.InputTopic], …). It is never modified.
var defaultPipeline = DefaultPipeline()

// With returns a copy of p with s appended as its last stage. s.Input must be
// the topic of p's last step. It is how a test declares an extra stage.
func (p Pipeline) With(s StageSpec) (Pipeline, error) {
	q := Pipeline{Entry: p.Entry, Stages: append(slices.Clip(p.Stages), s)}
	if err := q.Validate(); err != nil {
		return Pipeline{}, err
	}
	return q, nil
}

var stageNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

// Validate checks that the stages chain (each consumes the previous step's
// topic), that names and topics are unique and well-formed, and that every
// step declares a type, a status and a decoder.
func (p Pipeline) Validate() error {
	seenTopic := map[string]string{}
	claim := func(topic, what string) error {
		if topic == "" {
			return fmt.Errorf("pipeline: %s has no topic", what)
		}
		if prev, ok := seenTopic[topic]; ok {
			return fmt.Errorf("pipeline: topic %q is both %s and %s", topic, prev, what)
		}
		seenTopic[topic] = what
		return nil
	}
	seenStatus := map[string]bool{}
	checkStep := func(st Step, what string) error {
		if err := claim(st.Topic, what); err != nil {
			return err
		}
		if st.Type == "" || st.Status == "" || st.Decode == nil {
			return fmt.Errorf("pipeline: %s (%s) needs a type, a status and a decoder", what, st.Topic)
		}
		if seenStatus[st.Status] || st.Status == StatusFailed {
			return fmt.Errorf("pipeline: status %q of %s is not unique", st.Status, what)
		}
		seenStatus[st.Status] = true
		return nil
	}
	if err := checkStep(p.Entry, "the entry step"); err != nil {
		return err
	}
	prev := p.Entry.Topic
	names := map[Stage]bool{}
	for i, s := range p.Stages {
		if !stageNameRE.MatchString(string(s.Name)) {
			return fmt.Errorf("pipeline: stage %d: name %q must match %s", i, s.Name, stageNameRE)
		}
		if names[s.Name] {
			return fmt.Errorf("pipeline: stage %q declared twice", s.Name)
		}
		names[s.Name] = true
		if s.Input != prev {
			return fmt.Errorf("pipeline: stage %q consumes %q, want the previous step's topic %q", s.Name, s.Input, prev)
		}
		if err := claim(s.DLQ, "the dead-letter topic of "+string(s.Name)); err != nil {
			return err
		}
		for _, m := range s.Milestones {
			if err := checkStep(m, "a milestone of "+string(s.Name)); err != nil {
				return err
			}
		}
		for _, w := range s.Work {
			if err := claim(w.Topic, "a work topic of "+string(s.Name)); err != nil {
				return err
			}
			if w.Type == "" || w.Decode == nil || w.Status != "" {
				return fmt.Errorf("pipeline: work topic %s of %s needs a type and a decoder, and no status", w.Topic, s.Name)
			}
		}
		if err := checkStep(s.Output, "the output of "+string(s.Name)); err != nil {
			return err
		}
		prev = s.Output.Topic
	}
	return nil
}

// Steps lists the entry step and then every stage's milestones and
// output, in order.
func (p Pipeline) Steps() []Step {
	out := []Step{p.Entry}
	for _, s := range p.Stages {
		out = append(out, s.Milestones...)
		out = append(out, s.Output)
	}
	return out
}

// Rank is how far along the pipeline an event on topic proves a video is:
// 1 for the entry topic, 2 for the first stage's output, and so on; 0 for a
// topic that is not a step. The status never moves to a lower rank.
func (p Pipeline) Rank(topic string) int {
	for i, st := range p.Steps() {
		if st.Topic == topic {
			return i + 1
		}
	}
	return 0
}

// MaxRank is the rank of the last step (the video is complete).
func (p Pipeline) MaxRank() int { return len(p.Steps()) }

// StepAt returns the step of a rank from [Pipeline.Rank], or false.
func (p Pipeline) StepAt(rank int) (Step, bool) {
	steps := p.Steps()
	if rank < 1 || rank > len(steps) {
		return Step{}, false
	}
	return steps[rank-1], true
}

// StepFor returns the step published to topic, or false.
func (p Pipeline) StepFor(topic string) (Step, bool) { return p.StepAt(p.Rank(topic)) }

// Stage returns the stage called name, or false.
func (p Pipeline) Stage(name Stage) (StageSpec, bool) {
	for _, s := range p.Stages {
		if s.Name == name {
			return s, true
		}
	}
	return StageSpec{}, false
}

// StageForDLQ returns the stage whose dead-letter topic is topic, or false.
func (p Pipeline) StageForDLQ(topic string) (StageSpec, bool) {
	for _, s := range p.Stages {
		if s.DLQ == topic {
			return s, true
		}
	}
	return StageSpec{}, false
}

// StageNames lists the stages' names in order.
func (p Pipeline) StageNames() []Stage {
	out := make([]Stage, len(p.Stages))
	for i, s := range p.Stages {
		out[i] = s.Name
	}
	return out
}

// StageTopics lists the steps' topics in order.
func (p Pipeline) StageTopics() []string {
	var out []string
	for _, st := range p.Steps() {
		out = append(out, st.Topic)
	}
	return out
}

// DLQTopics lists the dead-letter topics in stage order.
func (p Pipeline) DLQTopics() []string {
	out := make([]string, len(p.Stages))
	for i, s := range p.Stages {
		out[i] = s.DLQ
	}
	return out
}

// WorkTopics lists the stages' internal work topics in stage order.
func (p Pipeline) WorkTopics() []string {
	var out []string
	for _, s := range p.Stages {
		for _, w := range s.Work {
			out = append(out, w.Topic)
		}
	}
	return out
}

// WorkStep returns the work topic's step and its stage, or false.
func (p Pipeline) WorkStep(topic string) (Step, StageSpec, bool) {
	for _, s := range p.Stages {
		for _, w := range s.Work {
			if w.Topic == topic {
				return w, s, true
			}
		}
	}
	return Step{}, StageSpec{}, false
}

// AllTopics lists every topic: the steps' topics, the work topics, the
// lifecycle topics ([LifecycleTopics]), the dead-letter topics, then the
// webhooks service's topics ([WebhookTopics]), which are outside the
// pipeline's stages.
func (p Pipeline) AllTopics() []string {
	out := append(append(append(p.StageTopics(), p.WorkTopics()...), LifecycleTopics()...), p.DLQTopics()...)
	return append(out, WebhookTopics()...)
}

// Statuses lists the steps' statuses in rank order.
func (p Pipeline) Statuses() []string {
	var out []string
	for _, st := range p.Steps() {
		out = append(out, st.Status)
	}
	return out
}

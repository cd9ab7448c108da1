package contract

// Stage topics.
const (
	TopicUploaded    = "video.uploaded"
	TopicTranscoded  = "video.transcoded"
	TopicThumbnailed = "video.thumbnailed"
	TopicReady       = "video.ready"
)

// Dead-letter topics, one per stage.
const (
	TopicTranscodeDLQ = "video.transcode.dlq"
	TopicThumbnailDLQ = "video.thumbnail.dlq"
	TopicIndexerDLQ   = "video.indexer.dlq"
)

// Stage names a processing stage. Its consumer group has the same name.
type Stage string

// The three processing stages.
const (
	StageTranscode Stage = "transcode"
	StageThumbnail Stage = "thumbnail"
	StageIndexer   Stage = "indexer"
)

// Stages lists the processing stages of [DefaultPipeline] in pipeline order.
var Stages = defaultPipeline.StageNames()

// StageTopics lists the stage topics of [DefaultPipeline] in pipeline order.
func StageTopics() []string { return defaultPipeline.StageTopics() }

// DLQTopics lists the dead-letter topics of [DefaultPipeline] in pipeline order.
func DLQTopics() []string { return defaultPipeline.DLQTopics() }

// AllTopics lists every topic of [DefaultPipeline]: stage topics, then DLQs.
func AllTopics() []string { return defaultPipeline.AllTopics() }

// InputTopic is the topic the stage consumes ("" for an unknown stage).
func (s Stage) InputTopic() string { spec, _ := defaultPipeline.Stage(s); return spec.Input }

// OutputTopic is the topic the stage publishes to ("" for an unknown stage).
func (s Stage) OutputTopic() string { spec, _ := defaultPipeline.Stage(s); return spec.Output.Topic }

// DLQTopic is the stage's dead-letter topic ("" for an unknown stage).
func (s Stage) DLQTopic() string { spec, _ := defaultPipeline.Stage(s); return spec.DLQ }

// Group is the stage's consumer group id.
func (s Stage) Group() string { return string(s) }

// Valid reports whether s is one of the stages of [DefaultPipeline].
func (s Stage) Valid() bool { _, ok := defaultPipeline.Stage(s); return ok }

// ParseStage returns the stage named name, or false.
func ParseStage(name string) (Stage, bool) {
	s := Stage(name)
	return s, s.Valid()
}

// StageForDLQ returns the stage whose dead-letter topic is topic, or false.
func StageForDLQ(topic string) (Stage, bool) {
	spec, ok := defaultPipeline.StageForDLQ(topic)
	return spec.Name, ok
}

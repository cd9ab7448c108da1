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

// Stages lists the processing stages in pipeline order.
var Stages = []Stage{StageTranscode, StageThumbnail, StageIndexer}

// StageTopics lists the stage topics in pipeline order.
func StageTopics() []string {
	return []string{TopicUploaded, TopicTranscoded, TopicThumbnailed, TopicReady}
}

// DLQTopics lists the dead-letter topics in pipeline order.
func DLQTopics() []string {
	return []string{TopicTranscodeDLQ, TopicThumbnailDLQ, TopicIndexerDLQ}
}

// AllTopics lists every topic of the pipeline: stage topics, then DLQs.
func AllTopics() []string { return append(StageTopics(), DLQTopics()...) }

// InputTopic is the topic the stage consumes.
func (s Stage) InputTopic() string {
	switch s {
	case StageTranscode:
		return TopicUploaded
	case StageThumbnail:
		return TopicTranscoded
	case StageIndexer:
		return TopicThumbnailed
	}
	return ""
}

// OutputTopic is the topic the stage publishes to.
func (s Stage) OutputTopic() string {
	switch s {
	case StageTranscode:
		return TopicTranscoded
	case StageThumbnail:
		return TopicThumbnailed
	case StageIndexer:
		return TopicReady
	}
	return ""
}

// DLQTopic is the stage's dead-letter topic.
func (s Stage) DLQTopic() string {
	switch s {
	case StageTranscode:
		return TopicTranscodeDLQ
	case StageThumbnail:
		return TopicThumbnailDLQ
	case StageIndexer:
		return TopicIndexerDLQ
	}
	return ""
}

// Group is the stage's consumer group id.
func (s Stage) Group() string { return string(s) }

// Valid reports whether s is one of the known stages.
func (s Stage) Valid() bool { return s.InputTopic() != "" }

// ParseStage returns the stage named name, or false.
func ParseStage(name string) (Stage, bool) {
	s := Stage(name)
	return s, s.Valid()
}

// StageForDLQ returns the stage whose dead-letter topic is topic, or false.
func StageForDLQ(topic string) (Stage, bool) {
	for _, s := range Stages {
		if s.DLQTopic() == topic {
			return s, true
		}
	}
	return "", false
}

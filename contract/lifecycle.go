package contract

import "time"

// Lifecycle events. upload-api publishes them when an owner deletes or
// edits a video (DELETE and PATCH /v1/videos/{id}). They are not pipeline
// steps: they have no rank and no status of their own, and every service
// that owns data of a video consumes them with a group of its own
// ([LifecycleGroup]).

// Lifecycle topics, keyed by the video id.
const (
	// TopicDeleted carries [VideoDeleted]: every owner of the video's data
	// removes what it owns.
	TopicDeleted = "video.deleted"
	// TopicUpdated carries [VideoUpdated]: the video's metadata changed.
	TopicUpdated = "video.updated"
)

// CloudEvents types of the lifecycle events.
const (
	TypeDeleted = "dev.vidpipe.video.deleted.v1"
	TypeUpdated = "dev.vidpipe.video.updated.v1"
)

// LifecycleGroup is the consumer group in which service (a stage name or
// "upload-api") consumes the lifecycle topics: "<service>-lifecycle".
func LifecycleGroup(service string) string { return service + "-lifecycle" }

// TombstoneKey is the object written before video.deleted is published. It
// outlives the video: a stage that finds it after writing outputs removes
// them and publishes nothing, so no stage recreates a deleted video's
// objects. It is outside OutputPrefix so that listing videos/{id}/ after a
// delete finds nothing.
func TombstoneKey(videoID string) string { return "tombstones/" + videoID }

// VideoDeleted is published by upload-api when the owner deletes a video
// (also one whose upload never finished, so it carries only the id and the
// owner).
type VideoDeleted struct {
	SchemaVersion int       `json:"schema_version"`
	VideoID       string    `json:"video_id"`
	Owner         string    `json:"owner"`
	DeletedAt     time.Time `json:"deleted_at"`
}

// VideoUpdated is published by upload-api when the owner edits a video's
// metadata: Video holds the new title, description and tags.
type VideoUpdated struct {
	SchemaVersion int `json:"schema_version"`
	Video
	UpdatedAt time.Time `json:"updated_at"`
}

func (e VideoDeleted) EventType() string { return TypeDeleted }
func (e VideoUpdated) EventType() string { return TypeUpdated }

func (e VideoDeleted) Topic() string { return TopicDeleted }
func (e VideoUpdated) Topic() string { return TopicUpdated }

func (e VideoDeleted) Key() string { return e.VideoID }
func (e VideoUpdated) Key() string { return e.VideoID }

// Validate reports the first missing or insane field.
func (e VideoDeleted) Validate() error {
	c := checker{typ: TypeDeleted}
	c.version(e.SchemaVersion)
	if !IsUUID(e.VideoID) {
		c.fail("video_id", "must be a lowercase UUID, got %q", truncate(e.VideoID, 64))
	}
	c.text("owner", e.Owner, true, MaxOwnerLen, false)
	c.time("deleted_at", e.DeletedAt)
	return c.err
}

// Validate reports the first missing or insane field.
func (e VideoUpdated) Validate() error {
	c := checker{typ: TypeUpdated}
	c.version(e.SchemaVersion)
	c.video(&e.Video)
	c.time("updated_at", e.UpdatedAt)
	return c.err
}

var (
	_ Event = VideoDeleted{}
	_ Event = VideoUpdated{}
)

// LifecycleTopics lists the lifecycle topics: video.deleted,
// video.updated, video.captions ([TopicCaptions]). They are created with
// the pipeline's topics ([Pipeline.AllTopics]).
func LifecycleTopics() []string { return []string{TopicDeleted, TopicUpdated, TopicCaptions} }

// IsLifecycleTopic reports whether topic is one of [LifecycleTopics].
func IsLifecycleTopic(topic string) bool {
	return topic == TopicDeleted || topic == TopicUpdated || topic == TopicCaptions
}

// EventVideoID returns the id of the video e is about: its video_id (a
// work item's record key names the item too, e.g. "<id>/v00003"; this is
// the id alone).
func EventVideoID(e Event) string {
	switch v := e.(type) {
	case interface{ Base() Video }:
		return v.Base().VideoID
	case VideoDeleted:
		return v.VideoID
	}
	return e.Key()
}

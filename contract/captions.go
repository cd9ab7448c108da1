package contract

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Caption tracks. upload-api stores each caption track of a video, one per
// language, as a WebVTT under CaptionsPrefix(id): it belongs to the video
// (VideoOwnsKey), not to an output generation (it lies in no "g{N}/"
// folder and in none of the stages' folders, so the generation GC of
// transcode and thumbnail never removes it), and upload-api removes it
// when the video is deleted.

// CaptionsPrefix is the prefix of a video's caption tracks:
// "videos/{id}/captions/".
func CaptionsPrefix(videoID string) string { return OutputPrefix(videoID) + "captions/" }

// CaptionKey is the object key of the caption track of video videoID in
// language (a canonical BCP 47 tag): "videos/{id}/captions/{language}.vtt".
func CaptionKey(videoID, language string) string {
	return CaptionsPrefix(videoID) + language + ".vtt"
}

// TopicCaptions carries [VideoCaptions]: upload-api publishes one when the
// owner stores, replaces or deletes a caption track (POST and DELETE
// /v1/videos/{id}/captions…), keyed by the video id. It is a lifecycle
// topic ([LifecycleTopics]): the indexer consumes it (group
// indexer-lifecycle) to index the cues' text for search.
const TopicCaptions = "video.captions"

// TypeCaptions is the CloudEvents type of [VideoCaptions].
const TypeCaptions = "dev.vidpipe.video.captions.v1"

// Caption limits carried by [VideoCaptions].
const (
	// MaxCaptionCues bounds the cues of one track.
	MaxCaptionCues = 20_000
	// MaxCaptionCueLen bounds the text of one cue, in bytes.
	MaxCaptionCueLen = 4096
	// MaxCaptionLabelLen bounds a track label, in characters.
	MaxCaptionLabelLen = 64
	// MaxLanguageLen bounds a BCP 47 language tag.
	MaxLanguageLen = 35
)

// VideoCaptions says that the caption track of one language of a video
// changed: it carries the track's cues (plain text, markup removed) after
// the change, or Deleted. A consumer keeps, per video and language, the
// newest by UpdatedAt (an older or equal one is a replay), so that the
// cues it indexes are the track's last state whatever the delivery order.
type VideoCaptions struct {
	SchemaVersion int    `json:"schema_version"`
	VideoID       string `json:"video_id"`
	Owner         string `json:"owner"`
	// Language is the track's canonical BCP 47 tag.
	Language string `json:"language"`
	// Label is the track's name ("" when Deleted).
	Label string `json:"label,omitempty"`
	// ObjectKey is the track's WebVTT, CaptionKey(VideoID, Language).
	ObjectKey string `json:"key"`
	// Deleted is true when the track was removed (Cues is then empty).
	Deleted bool `json:"deleted,omitempty"`
	// Cues are the track's cues in order (none when Deleted).
	Cues      []CaptionCue `json:"cues,omitempty"`
	UpdatedAt time.Time    `json:"updated_at"`
}

// CaptionCue is one cue of a caption track: shown from StartMS to EndMS
// (milliseconds from the start of the video), its text without markup.
type CaptionCue struct {
	StartMS int64  `json:"start_ms"`
	EndMS   int64  `json:"end_ms"`
	Text    string `json:"text"`
}

func (e VideoCaptions) EventType() string { return TypeCaptions }
func (e VideoCaptions) Topic() string     { return TopicCaptions }
func (e VideoCaptions) Key() string       { return e.VideoID }

// Validate reports the first missing or insane field.
func (e VideoCaptions) Validate() error {
	c := checker{typ: TypeCaptions}
	c.version(e.SchemaVersion)
	if !IsUUID(e.VideoID) {
		c.fail("video_id", "must be a lowercase UUID, got %q", truncate(e.VideoID, 64))
	}
	c.text("owner", e.Owner, true, MaxOwnerLen, false)
	switch {
	case e.Language == "" || len(e.Language) > MaxLanguageLen:
		c.fail("language", "must be a BCP 47 tag of 1 to %d characters", MaxLanguageLen)
	case strings.Trim(e.Language, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" ||
		strings.HasPrefix(e.Language, "-") || strings.HasSuffix(e.Language, "-") || strings.Contains(e.Language, "--"):
		c.fail("language", "%q is not a BCP 47 tag", truncate(e.Language, 64))
	}
	c.text("label", e.Label, !e.Deleted, MaxCaptionLabelLen, false)
	if c.err == nil && e.ObjectKey != CaptionKey(e.VideoID, e.Language) {
		c.fail("key", "%q is not this track's key %q", truncate(e.ObjectKey, 128), CaptionKey(e.VideoID, e.Language))
	}
	switch {
	case e.Deleted && len(e.Cues) > 0:
		c.fail("cues", "must be empty when deleted")
	case !e.Deleted && len(e.Cues) == 0:
		c.fail("cues", "must not be empty")
	case len(e.Cues) > MaxCaptionCues:
		c.fail("cues", "more than %d", MaxCaptionCues)
	}
	for i, cue := range e.Cues {
		if c.err != nil {
			break
		}
		switch {
		case cue.StartMS < 0 || cue.EndMS <= cue.StartMS:
			c.fail(fmt.Sprintf("cues[%d]", i), "must end after it starts, at or after 0 (%d..%d ms)", cue.StartMS, cue.EndMS)
		case !utf8.ValidString(cue.Text) || len(cue.Text) > MaxCaptionCueLen:
			c.fail(fmt.Sprintf("cues[%d].text", i), "must be UTF-8 of at most %d bytes", MaxCaptionCueLen)
		}
	}
	c.time("updated_at", e.UpdatedAt)
	return c.err
}

var _ Event = VideoCaptions{}

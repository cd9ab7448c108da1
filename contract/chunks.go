package contract

import (
	"fmt"
	"time"
)

// Segments as the unit of work (transcode). The transcode stage plans a
// video.uploaded into work items on [TopicTranscodeChunks]: one per chunk
// of the timeline (every rung of that time span, one decode) and one for
// the audio of the whole timeline. Every member of the transcode group
// encodes work items; each finished item is announced on
// [TopicTranscodeChunksDone], keyed by the video id, so that the fan-in of
// one video runs in one place at a time. The fan-in publishes
// video.playable once the first chunk and the start of the audio are in
// storage, and video.transcoded once every item is.

// Internal topics of the transcode stage.
const (
	// TopicTranscodeChunks holds the work items ([TranscodeChunk]); keys
	// are "<video id>/<item>", and records are spread over the partitions
	// so that every member of the transcode group gets work.
	TopicTranscodeChunks = "video.transcode.chunks"
	// TopicTranscodeChunksDone announces finished work items
	// ([TranscodeChunkDone]), keyed by the video id.
	TopicTranscodeChunksDone = "video.transcode.chunks-done"
	// TopicPlayable carries [VideoPlayable].
	TopicPlayable = "video.playable"
)

// Consumer groups of the transcode stage's work topics (its planner uses
// the stage's own group, "transcode"). Video chunks and audio items share
// video.transcode.chunks but not a group, so a long audio encode never
// holds up video chunks.
const (
	GroupTranscodeChunks   = "transcode-chunks"
	GroupTranscodeAudio    = "transcode-audio"
	GroupTranscodeAssemble = "transcode-assemble"
)

// CloudEvents types of the segment pipeline.
const (
	TypePlayable           = "dev.vidpipe.video.playable.v1"
	TypeTranscodeChunk     = "dev.vidpipe.video.transcode.chunk.v1"
	TypeTranscodeChunkDone = "dev.vidpipe.video.transcode.chunk-done.v1"
)

// Kinds of transcode work item.
const (
	// ChunkVideo is one time span of the video, encoded into every rung.
	ChunkVideo = "video"
	// ChunkAudio is the audio of the whole timeline, encoded once per
	// distinct audio bitrate of the ladder.
	ChunkAudio = "audio"
)

// MaxChunks bounds the number of video chunks of one video.
const MaxChunks = 100_000

// VideoPlayable is published by transcode as soon as the master playlist,
// every rung's media playlist and their first segments (and the first audio
// segments) are in storage. The media playlists are HLS EVENT playlists that
// grow as segments land and end with #EXT-X-ENDLIST when the video is
// transcoded.
type VideoPlayable struct {
	SchemaVersion int `json:"schema_version"`
	Video
	Media Media `json:"media"`
	HLS   HLS   `json:"hls"`
	// Chunks is the number of video chunks (0 for an audio asset, which
	// has none); Segments the number of media segments per rung (for an
	// audio asset: per audio rendition) once complete.
	Chunks     int       `json:"chunks"`
	Segments   int       `json:"segments"`
	PlayableAt time.Time `json:"playable_at"`
}

// TranscodeChunk is one transcode work item: a time span of the source to
// encode into every rung ([ChunkVideo]) or the audio track ([ChunkAudio]).
type TranscodeChunk struct {
	SchemaVersion int `json:"schema_version"`
	Video
	// Run identifies the plan: the id of the video.uploaded event it was
	// made from. Work of an older run is ignored by the fan-in.
	Run string `json:"run"`
	// Kind is ChunkVideo or ChunkAudio.
	Kind string `json:"kind"`
	// Index is the video chunk's index (0 for audio); Chunks the number of
	// video chunks of the run (0 only in the audio item of an audio
	// asset's run, which has no video chunks).
	Index  int `json:"index"`
	Chunks int `json:"chunks"`
	// PlanKey is the object holding the run's plan (renditions, encoding
	// settings, chunk boundaries, the probed source).
	PlanKey string `json:"plan_key"`
}

// TranscodeChunkDone announces that a work item's outputs are in storage.
type TranscodeChunkDone struct {
	SchemaVersion int `json:"schema_version"`
	Video
	Run    string `json:"run"`
	Kind   string `json:"kind"`
	Index  int    `json:"index"`
	Chunks int    `json:"chunks"`
	// Segments is the number of media segments the item has in storage so
	// far (audio reports progress before it completes); Complete reports
	// that the item is finished.
	Segments int  `json:"segments"`
	Complete bool `json:"complete"`
	// SegmentsTotal is the number of video segments per rung of the run.
	SegmentsTotal int `json:"segments_total"`
}

func (e VideoPlayable) EventType() string      { return TypePlayable }
func (e TranscodeChunk) EventType() string     { return TypeTranscodeChunk }
func (e TranscodeChunkDone) EventType() string { return TypeTranscodeChunkDone }

func (e VideoPlayable) Topic() string      { return TopicPlayable }
func (e TranscodeChunk) Topic() string     { return TopicTranscodeChunks }
func (e TranscodeChunkDone) Topic() string { return TopicTranscodeChunksDone }

func (e VideoPlayable) Key() string      { return e.VideoID }
func (e TranscodeChunkDone) Key() string { return e.VideoID }

// Key is "<video id>/<item>": "<video id>/v00003" for video chunk 3,
// "<video id>/audio" for the audio.
func (e TranscodeChunk) Key() string { return ChunkKey(e.VideoID, e.Kind, e.Index) }

// ChunkKey is the record key of a work item.
func ChunkKey(videoID, kind string, index int) string {
	if kind == ChunkAudio {
		return videoID + "/audio"
	}
	return fmt.Sprintf("%s/v%05d", videoID, index)
}

// ChunkWorkPrefix is the prefix of a transcode run's work state (plan,
// completion markers), kept with the outputs so a re-run finds it.
func ChunkWorkPrefix(videoID, run string) string { return OutputPrefix(videoID) + "work/" + run + "/" }

// Playable builds the video.playable event from u.
func (u VideoUploaded) Playable(m Media, hls HLS, chunks, segments int, at time.Time) VideoPlayable {
	return VideoPlayable{SchemaVersion: SchemaVersion, Video: u.Video, Media: m, HLS: hls, Chunks: chunks, Segments: segments, PlayableAt: at.UTC()}
}

// Validate reports the first missing or insane field.
func (e VideoPlayable) Validate() error {
	c := checker{typ: TypePlayable}
	c.version(e.SchemaVersion)
	c.video(&e.Video)
	c.media(&e.Media)
	c.outputKey("hls.master_key", e.VideoID, e.HLS.MasterKey)
	if !(e.Media.IsAudio() && e.Chunks == 0) { // an audio asset has no video chunks
		c.chunkCount(e.Chunks)
	}
	if e.Segments < 1 {
		c.fail("segments", "must be at least 1, got %d", e.Segments)
	}
	c.time("playable_at", e.PlayableAt)
	return c.err
}

// Validate reports the first missing or insane field.
func (e TranscodeChunk) Validate() error {
	c := checker{typ: TypeTranscodeChunk}
	c.version(e.SchemaVersion)
	c.video(&e.Video)
	c.run(e.Run)
	c.chunkItem(e.Kind, e.Index, e.Chunks)
	if c.err == nil && e.PlanKey != ChunkWorkPrefix(e.VideoID, e.Run)+"plan.json" {
		c.fail("plan_key", "%q is not this run's plan key", truncate(e.PlanKey, 128))
	}
	return c.err
}

// Validate reports the first missing or insane field.
func (e TranscodeChunkDone) Validate() error {
	c := checker{typ: TypeTranscodeChunkDone}
	c.version(e.SchemaVersion)
	c.video(&e.Video)
	c.run(e.Run)
	c.chunkItem(e.Kind, e.Index, e.Chunks)
	if e.Segments < 0 || e.SegmentsTotal < 0 {
		c.fail("segments", "must not be negative")
	}
	return c.err
}

func (c *checker) run(run string) {
	if !IsUUID(run) {
		c.fail("run", "must be a lowercase UUID, got %q", truncate(run, 64))
	}
}

func (c *checker) chunkCount(n int) {
	if n < 1 || n > MaxChunks {
		c.fail("chunks", "must be in [1, %d], got %d", MaxChunks, n)
	}
}

func (c *checker) chunkItem(kind string, index, chunks int) {
	if !(kind == ChunkAudio && chunks == 0) { // an audio asset's run has no video chunks
		c.chunkCount(chunks)
	}
	switch kind {
	case ChunkVideo:
		if index < 0 || index >= chunks {
			c.fail("index", "must be in [0, %d), got %d", chunks, index)
		}
	case ChunkAudio:
		if index != 0 {
			c.fail("index", "must be 0 for audio, got %d", index)
		}
	default:
		c.fail("kind", "must be %q or %q, got %q", ChunkVideo, ChunkAudio, truncate(kind, 32))
	}
}

var (
	_ Event = VideoPlayable{}
	_ Event = TranscodeChunk{}
	_ Event = TranscodeChunkDone{}
)

package contract

import "time"

// SchemaVersion is the version of the event values this package writes and
// accepts. A value with another version is rejected as permanent.
const SchemaVersion = 1

// Event is implemented by the four event types.
type Event interface {
	// EventType is the CloudEvents type, e.g. "dev.vidpipe.video.uploaded.v1".
	EventType() string
	// Topic is the topic the event is published to.
	Topic() string
	// Key is the record key: the video id.
	Key() string
	// Validate reports the first missing or insane field.
	Validate() error
}

// SourceObject is the uploaded original in object storage.
type SourceObject struct {
	Bucket      string `json:"bucket"`
	Key         string `json:"key"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	// Filename is the client's original file name, for display only: it is
	// never used to build a path or an object key.
	Filename string `json:"filename,omitempty"`
}

// Video is what the upload says about a video; every event carries it.
type Video struct {
	VideoID     string       `json:"video_id"`
	Owner       string       `json:"owner"`
	Title       string       `json:"title"`
	Description string       `json:"description,omitempty"`
	Tags        []string     `json:"tags,omitempty"`
	Source      SourceObject `json:"source"`
	UploadedAt  time.Time    `json:"uploaded_at"`
	// Generation is the output generation this run of the pipeline writes
	// (see GenerationPrefix): 0 (omitted) for the upload's own run, N > 0
	// for the N-th reprocess. Every stage copies it to its output and
	// builds its object keys from it (Video.Outputs).
	Generation int `json:"generation,omitempty"`
}

// Media kinds (Media.Kind).
const (
	// MediaKindVideo is a video asset: H.264 rungs, a poster frame.
	MediaKindVideo = "video"
	// MediaKindAudio is an audio-only asset (M4A, MP3, WAV, FLAC, Ogg):
	// an AAC audio ladder in HLS, one M4A download as its only rendition
	// (named AudioRenditionName, at Outputs.AudioDownloadKey, width and
	// height 0) and a waveform image as its poster.
	MediaKindAudio = "audio"
)

// Media is what probing the source found.
type Media struct {
	// Kind is MediaKindVideo or MediaKindAudio; "" (omitted, as in events
	// written before audio assets existed) means MediaKindVideo.
	Kind string `json:"kind,omitempty"`
	// DurationSeconds is the source duration.
	DurationSeconds float64 `json:"duration_seconds"`
	// Width and Height are the display dimensions (rotation applied);
	// 0 for an audio asset.
	Width  int `json:"width"`
	Height int `json:"height"`
	// Format is ffprobe's format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
	Format     string `json:"format,omitempty"`
	VideoCodec string `json:"video_codec,omitempty"`
	AudioCodec string `json:"audio_codec,omitempty"`
	// FrameRate in frames per second, 0 if unknown.
	FrameRate float64 `json:"frame_rate,omitempty"`
	// Bitrate of the source in bits per second, 0 if unknown.
	Bitrate int64 `json:"bitrate,omitempty"`
	// Loudness is the EBU R128 measurement of the audio (see Loudness);
	// nil when there is no audio or it was not measured.
	Loudness *Loudness `json:"loudness,omitempty"`
}

// IsAudio reports whether m describes an audio asset (Kind MediaKindAudio).
func (m Media) IsAudio() bool { return m.Kind == MediaKindAudio }

// AudioRenditionName names the only rendition of an audio asset: its M4A
// download (the same name as the audio folder of the HLS package, which
// no ladder rung may take).
const AudioRenditionName = "audio"

// Rendition is one rung of the encoding ladder, or an audio asset's M4A
// download (Name AudioRenditionName, Width and Height 0).
type Rendition struct {
	// Name of the rung, e.g. "720p".
	Name   string `json:"name"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	// Bitrate is the target video+audio bitrate in bits per second.
	Bitrate int64 `json:"bitrate"`
	// Key is the object key of the progressive MP4.
	Key string `json:"key"`
	// Size of the MP4 object in bytes.
	Size int64 `json:"size"`
	// PlaylistKey is the object key of the rung's HLS media playlist.
	PlaylistKey string `json:"playlist_key,omitempty"`
	// Codec is the rung's video codec: one of [VideoCodecs] ("h264",
	// "hevc", "av1"). Empty (events written before rungs had codecs)
	// means "h264".
	Codec string `json:"codec,omitempty"`
}

// VideoCodecs are the values of Rendition.Codec.
var VideoCodecs = []string{"h264", "hevc", "av1"}

// HLS is the adaptive-streaming package.
type HLS struct {
	// MasterKey is the object key of the master playlist.
	MasterKey string `json:"master_key"`
}

// DASH is the MPEG-DASH manifest of the adaptive-streaming package: a
// static MPD next to the HLS master that references the same CMAF
// segment objects (no second copy in storage).
type DASH struct {
	// ManifestKey is the object key of the MPD.
	ManifestKey string `json:"manifest_key"`
}

// Image is one still image in object storage.
type Image struct {
	Key    string `json:"key"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Size   int64  `json:"size"`
}

// Thumbnails are the stills made from a rendition.
type Thumbnails struct {
	// Poster is a full-size frame at the source aspect ratio.
	Poster Image `json:"poster"`
	// Small is a small thumbnail (320 px wide by default).
	Small Image `json:"small"`
	// Sprite is an optional sprite sheet of scrubbing previews.
	Sprite *Image `json:"sprite,omitempty"`
	// SpriteVTTKey is the WebVTT file that maps times to sprite tiles.
	SpriteVTTKey string `json:"sprite_vtt_key,omitempty"`
}

// VideoUploaded is published by upload-api once the source is stored.
type VideoUploaded struct {
	SchemaVersion int `json:"schema_version"`
	Video
}

// VideoTranscoded is published by transcode.
type VideoTranscoded struct {
	SchemaVersion int `json:"schema_version"`
	Video
	Media      Media       `json:"media"`
	Renditions []Rendition `json:"renditions"`
	HLS        HLS         `json:"hls"`
	// DASH is the MPD of the same package; nil for outputs written before
	// the package was CMAF (MPEG-TS HLS only).
	DASH         *DASH     `json:"dash,omitempty"`
	TranscodedAt time.Time `json:"transcoded_at"`
}

// VideoThumbnailed is published by thumbnail.
type VideoThumbnailed struct {
	SchemaVersion int `json:"schema_version"`
	Video
	Media         Media       `json:"media"`
	Renditions    []Rendition `json:"renditions"`
	HLS           HLS         `json:"hls"`
	DASH          *DASH       `json:"dash,omitempty"`
	Thumbnails    Thumbnails  `json:"thumbnails"`
	TranscodedAt  time.Time   `json:"transcoded_at"`
	ThumbnailedAt time.Time   `json:"thumbnailed_at"`
}

// VideoReady is published by indexer: the full video document.
type VideoReady struct {
	SchemaVersion int `json:"schema_version"`
	Video
	Media         Media       `json:"media"`
	Renditions    []Rendition `json:"renditions"`
	HLS           HLS         `json:"hls"`
	DASH          *DASH       `json:"dash,omitempty"`
	Thumbnails    Thumbnails  `json:"thumbnails"`
	TranscodedAt  time.Time   `json:"transcoded_at"`
	ThumbnailedAt time.Time   `json:"thumbnailed_at"`
	ReadyAt       time.Time   `json:"ready_at"`
}

// CloudEvents types.
const (
	TypeUploaded    = "dev.vidpipe.video.uploaded.v1"
	TypeTranscoded  = "dev.vidpipe.video.transcoded.v1"
	TypeThumbnailed = "dev.vidpipe.video.thumbnailed.v1"
	TypeReady       = "dev.vidpipe.video.ready.v1"
)

func (e VideoUploaded) EventType() string    { return TypeUploaded }
func (e VideoTranscoded) EventType() string  { return TypeTranscoded }
func (e VideoThumbnailed) EventType() string { return TypeThumbnailed }
func (e VideoReady) EventType() string       { return TypeReady }

func (e VideoUploaded) Topic() string    { return TopicUploaded }
func (e VideoTranscoded) Topic() string  { return TopicTranscoded }
func (e VideoThumbnailed) Topic() string { return TopicThumbnailed }
func (e VideoReady) Topic() string       { return TopicReady }

func (e VideoUploaded) Key() string    { return e.VideoID }
func (e VideoTranscoded) Key() string  { return e.VideoID }
func (e VideoThumbnailed) Key() string { return e.VideoID }
func (e VideoReady) Key() string       { return e.VideoID }

// Transcoded builds the next event from u; the caller fills in the rest.
func (u VideoUploaded) Transcoded(m Media, rs []Rendition, hls HLS, at time.Time) VideoTranscoded {
	return VideoTranscoded{SchemaVersion: SchemaVersion, Video: u.Video, Media: m, Renditions: rs, HLS: hls, TranscodedAt: at.UTC()}
}

// Thumbnailed builds the next event from t.
func (t VideoTranscoded) Thumbnailed(th Thumbnails, at time.Time) VideoThumbnailed {
	return VideoThumbnailed{SchemaVersion: SchemaVersion, Video: t.Video, Media: t.Media, Renditions: t.Renditions, HLS: t.HLS, DASH: t.DASH,
		Thumbnails: th, TranscodedAt: t.TranscodedAt, ThumbnailedAt: at.UTC()}
}

// Ready builds the final event from t.
func (t VideoThumbnailed) Ready(at time.Time) VideoReady {
	return VideoReady{SchemaVersion: SchemaVersion, Video: t.Video, Media: t.Media, Renditions: t.Renditions, HLS: t.HLS, DASH: t.DASH,
		Thumbnails: t.Thumbnails, TranscodedAt: t.TranscodedAt, ThumbnailedAt: t.ThumbnailedAt, ReadyAt: at.UTC()}
}

var (
	_ Event = VideoUploaded{}
	_ Event = VideoTranscoded{}
	_ Event = VideoThumbnailed{}
	_ Event = VideoReady{}
)

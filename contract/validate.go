package contract

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits enforced by Validate.
const (
	MaxOwnerLen       = 128
	MaxTitleLen       = 300
	MaxDescriptionLen = 5000
	MaxTags           = 32
	MaxTagLen         = 64
	MaxRenditions     = 16
	// MaxDimension bounds any width or height carried by an event.
	MaxDimension = 16384
)

// FieldError says which field of which event is wrong.
type FieldError struct {
	Type   string // CloudEvents type of the event
	Field  string // JSON path of the field, e.g. "source.size"
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("invalid %s: %s: %s", e.Type, e.Field, e.Reason)
}

// ErrInvalid matches every validation error with errors.Is.
var ErrInvalid = errors.New("invalid event")

func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

type checker struct {
	typ string
	err error
	// gen is the event's Video.Generation (set by video): output keys must
	// lie in that generation's folder.
	gen int
}

func (c *checker) fail(field, format string, args ...any) {
	if c.err == nil {
		c.err = &FieldError{Type: c.typ, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
}

// IsUUID reports whether s is a canonical lowercase UUID
// (8-4-4-4-12 hex digits), the form vidpipe uses for video ids.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

func (c *checker) text(field, s string, required bool, max int, multiline bool) {
	switch {
	case required && strings.TrimSpace(s) == "":
		c.fail(field, "must not be empty")
	case !utf8.ValidString(s):
		c.fail(field, "must be valid UTF-8")
	case utf8.RuneCountInString(s) > max:
		c.fail(field, "longer than %d characters", max)
	default:
		for _, r := range s {
			if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r')) {
				c.fail(field, "contains control character %U", r)
				return
			}
			if UnsafeTextRune(r) {
				c.fail(field, "contains invisible formatting character %U", r)
				return
			}
		}
	}
}

// UnsafeTextRune reports whether r may not appear in user text (titles,
// descriptions, tags, file names): bidirectional controls (U+061C, U+200E,
// U+200F, U+202A..U+202E, U+2066..U+2069) and every other format character
// (Unicode category Cf: U+00AD, U+FEFF, the invisible tag characters
// U+E0000..U+E007F, ...) except the zero-width joiner and non-joiner
// (U+200C, U+200D) that emoji sequences and several scripts need, and the
// line and paragraph separators U+2028, U+2029 (category Zl and Zp). They
// let a text look different from what it is (a reversed file extension, a
// hidden instruction, a line break where none may be).
func UnsafeTextRune(r rune) bool {
	switch {
	case r == '\u200C' || r == '\u200D':
		return false
	case r < 0xAD:
		return false
	}
	return unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

func (c *checker) time(field string, t time.Time) {
	if t.IsZero() {
		c.fail(field, "must be set")
	}
}

func (c *checker) version(v int) {
	if v != SchemaVersion {
		c.fail("schema_version", "unsupported version %d (want %d)", v, SchemaVersion)
	}
}

func (c *checker) video(v *Video) {
	if !IsUUID(v.VideoID) {
		c.fail("video_id", "must be a lowercase UUID, got %q", truncate(v.VideoID, 64))
	}
	c.text("owner", v.Owner, true, MaxOwnerLen, false)
	c.text("title", v.Title, true, MaxTitleLen, false)
	c.text("description", v.Description, false, MaxDescriptionLen, true)
	if len(v.Tags) > MaxTags {
		c.fail("tags", "more than %d tags", MaxTags)
	}
	for i, t := range v.Tags {
		c.text(fmt.Sprintf("tags[%d]", i), t, true, MaxTagLen, false)
	}
	c.objectKey("source.key", v.Source.Key)
	if c.err == nil && v.Source.Key != SourceKey(v.VideoID) {
		c.fail("source.key", "%q is not this video's source key %q", truncate(v.Source.Key, 128), SourceKey(v.VideoID))
	}
	if v.Source.Bucket == "" {
		c.fail("source.bucket", "must not be empty")
	}
	if v.Source.Size <= 0 {
		c.fail("source.size", "must be positive, got %d", v.Source.Size)
	}
	c.text("source.content_type", v.Source.ContentType, true, 255, false)
	c.text("source.filename", v.Source.Filename, false, 1024, false)
	c.time("uploaded_at", v.UploadedAt)
	if v.Generation < 0 || v.Generation > MaxGeneration {
		c.fail("generation", "must be in [0, %d], got %d", MaxGeneration, v.Generation)
	}
	c.gen = v.Generation
}

func (c *checker) objectKey(field, k string) {
	switch {
	case k == "":
		c.fail(field, "must not be empty")
	case strings.HasPrefix(k, "/") || strings.Contains(k, "..") || strings.ContainsAny(k, "\\\x00"):
		c.fail(field, "unsafe object key %q", truncate(k, 128))
	case len(k) > 1024:
		c.fail(field, "longer than 1024 bytes")
	}
}

// outputKey checks the key of an output object of video id: a safe key
// under OutputPrefix(id), in the folder of the event's generation
// (GenerationPrefix(id, c.gen); a generation-0 key is in no "g{N}/" folder).
func (c *checker) outputKey(field, id, k string) {
	c.objectKey(field, k)
	if c.err == nil && !strings.HasPrefix(k, OutputPrefix(id)) {
		c.fail(field, "%q is outside this video's prefix %q", truncate(k, 128), OutputPrefix(id))
	}
	if c.err == nil {
		if g, _ := KeyGeneration(id, k); g != c.gen {
			c.fail(field, "%q is not in the folder of generation %d (%q)", truncate(k, 128), c.gen, GenerationPrefix(id, c.gen))
		}
	}
}

// VideoOwnsKey reports whether key may be read or presigned for video id:
// it is the video's source (SourceKey) or a safe key (no "..", no leading
// "/", no backslash or NUL) under its OutputPrefix, of any generation. Validate requires every
// key an event carries to pass it, so a forged event cannot point a worker
// or the API at another video's objects.
func VideoOwnsKey(id, key string) bool {
	if !IsUUID(id) {
		return false
	}
	if key == SourceKey(id) {
		return true
	}
	g, _ := KeyGeneration(id, key) // any generation's output is the video's
	c := checker{gen: g}
	c.outputKey("key", id, key)
	return c.err == nil
}

func (c *checker) dims(field string, w, h int) {
	if w <= 0 || h <= 0 || w > MaxDimension || h > MaxDimension {
		c.fail(field, "dimensions %dx%d out of range 1..%d", w, h, MaxDimension)
	}
}

func (c *checker) media(m *Media) {
	if !(m.DurationSeconds > 0) || m.DurationSeconds > 7*24*3600 {
		c.fail("media.duration_seconds", "must be positive and under a week, got %v", m.DurationSeconds)
	}
	switch m.Kind {
	case "", MediaKindVideo:
		c.dims("media", m.Width, m.Height)
	case MediaKindAudio:
		if m.Width != 0 || m.Height != 0 {
			c.fail("media", "an audio asset has no dimensions, got %dx%d", m.Width, m.Height)
		}
	default:
		c.fail("media.kind", "must be %q or %q, got %q", MediaKindVideo, MediaKindAudio, truncate(m.Kind, 32))
	}
	c.loudness(m.Loudness)
}

// renditions checks the renditions of an asset of media m: an audio
// asset's (its M4A) have no dimensions.
func (c *checker) renditions(id string, m *Media, rs []Rendition) {
	if len(rs) == 0 {
		c.fail("renditions", "must not be empty")
	}
	if len(rs) > MaxRenditions {
		c.fail("renditions", "more than %d", MaxRenditions)
	}
	for i, r := range rs {
		f := fmt.Sprintf("renditions[%d]", i)
		c.text(f+".name", r.Name, true, 32, false)
		if m.IsAudio() {
			if r.Width != 0 || r.Height != 0 {
				c.fail(f, "an audio rendition has no dimensions, got %dx%d", r.Width, r.Height)
			}
		} else {
			c.dims(f, r.Width, r.Height)
		}
		c.outputKey(f+".key", id, r.Key)
		if r.PlaylistKey != "" {
			c.outputKey(f+".playlist_key", id, r.PlaylistKey)
		}
		if r.Size <= 0 {
			c.fail(f+".size", "must be positive, got %d", r.Size)
		}
		if r.Bitrate < 0 {
			c.fail(f+".bitrate", "must not be negative")
		}
		if r.Codec != "" && !slices.Contains(VideoCodecs, r.Codec) {
			c.fail(f+".codec", "must be one of %v, got %q", VideoCodecs, r.Codec)
		}
	}
}

func (c *checker) image(field, id string, im Image) {
	c.outputKey(field+".key", id, im.Key)
	c.dims(field, im.Width, im.Height)
	if im.Size <= 0 {
		c.fail(field+".size", "must be positive, got %d", im.Size)
	}
}

func (c *checker) thumbnails(id string, t *Thumbnails) {
	c.image("thumbnails.poster", id, t.Poster)
	c.image("thumbnails.small", id, t.Small)
	if t.Sprite != nil {
		c.image("thumbnails.sprite", id, *t.Sprite)
	}
	if t.SpriteVTTKey != "" {
		c.outputKey("thumbnails.sprite_vtt_key", id, t.SpriteVTTKey)
	}
}

// Validate reports the first missing or insane field.
func (e VideoUploaded) Validate() error {
	c := checker{typ: TypeUploaded}
	c.version(e.SchemaVersion)
	c.video(&e.Video)
	return c.err
}

// Validate reports the first missing or insane field.
func (e VideoTranscoded) Validate() error {
	c := checker{typ: TypeTranscoded}
	c.version(e.SchemaVersion)
	c.video(&e.Video)
	c.media(&e.Media)
	c.renditions(e.VideoID, &e.Media, e.Renditions)
	c.outputKey("hls.master_key", e.VideoID, e.HLS.MasterKey)
	if e.DASH != nil {
		c.outputKey("dash.manifest_key", e.VideoID, e.DASH.ManifestKey)
	}
	c.time("transcoded_at", e.TranscodedAt)
	return c.err
}

// Validate reports the first missing or insane field.
func (e VideoThumbnailed) Validate() error {
	c := checker{typ: TypeThumbnailed}
	c.version(e.SchemaVersion)
	c.video(&e.Video)
	c.media(&e.Media)
	c.renditions(e.VideoID, &e.Media, e.Renditions)
	c.outputKey("hls.master_key", e.VideoID, e.HLS.MasterKey)
	if e.DASH != nil {
		c.outputKey("dash.manifest_key", e.VideoID, e.DASH.ManifestKey)
	}
	c.thumbnails(e.VideoID, &e.Thumbnails)
	c.time("transcoded_at", e.TranscodedAt)
	c.time("thumbnailed_at", e.ThumbnailedAt)
	return c.err
}

// Validate reports the first missing or insane field.
func (e VideoReady) Validate() error {
	c := checker{typ: TypeReady}
	c.version(e.SchemaVersion)
	c.video(&e.Video)
	c.media(&e.Media)
	c.renditions(e.VideoID, &e.Media, e.Renditions)
	c.outputKey("hls.master_key", e.VideoID, e.HLS.MasterKey)
	if e.DASH != nil {
		c.outputKey("dash.manifest_key", e.VideoID, e.DASH.ManifestKey)
	}
	c.thumbnails(e.VideoID, &e.Thumbnails)
	c.time("transcoded_at", e.TranscodedAt)
	c.time("thumbnailed_at", e.ThumbnailedAt)
	c.time("ready_at", e.ReadyAt)
	return c.err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

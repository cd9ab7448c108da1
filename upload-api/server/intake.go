package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vidpipe/vidpipe/events"
	"github.com/vidpipe/vidpipe/events/storage"
	"github.com/vidpipe/vidpipe/upload-api/projection"
	"github.com/vidpipe/vidpipe/upload-api/publish"
)

// intake turns a stored source object into an accepted video. Both upload
// protocols end here.
type intake struct {
	log     *slog.Logger
	objects *storage.Store
	pub     *publish.Publisher
	status  *projection.Store
	metrics *Metrics
}

const (
	// cleanupTimeout bounds removing a rejected upload's objects.
	cleanupTimeout = 30 * time.Second
	// projectionApplyTimeout bounds recording an accepted upload in the
	// projection; past it the consumer records it instead.
	projectionApplyTimeout = 5 * time.Second
)

// submit publishes video.uploaded for ev and waits for the acknowledgement
// of every in-sync replica. When Kafka does not acknowledge, the source
// object is removed (no orphan) and the error is a 503. The request's
// cancellation does not cut the publish short: once the bytes are stored,
// the outcome is decided by Kafka, not by the client hanging up.
//
// After the ack the event is also applied to the status projection, so
// that GET /v1/videos/{id} knows the video at once (read-your-writes); the
// projection consumer applies the same record later, idempotently.
func (in *intake) submit(ctx context.Context, ev events.VideoUploaded) error {
	ctx = context.WithoutCancel(ctx)
	msg, err := in.pub.Publish(ctx, ev)
	if err != nil {
		in.metrics.published.WithLabelValues("error").Inc()
		in.removeSource(ctx, ev.VideoID)
		return unavailable(codeBrokerUnavailable, "the event broker did not acknowledge the upload; nothing was kept, try again later", err)
	}
	in.metrics.published.WithLabelValues("ok").Inc()
	hs := make([]events.Header, len(msg.Headers))
	for i, h := range msg.Headers {
		hs[i] = events.Header{Key: h.Key, Value: h.Value}
	}
	if in.status != nil {
		rec := projection.Record{Topic: msg.Topic, Partition: -1, Offset: -1, Value: msg.Value, Headers: hs}
		actx, cancel := context.WithTimeout(ctx, projectionApplyTimeout)
		err := in.status.Apply(actx, rec)
		cancel()
		if err != nil {
			// Not fatal: the consumer will deliver the same record.
			in.log.WarnContext(ctx, "record upload in projection", "video_id", ev.VideoID, "err", err)
		}
	}
	in.log.InfoContext(ctx, "video uploaded", "video_id", ev.VideoID, "owner", ev.Owner,
		"size", ev.Source.Size, "content_type", ev.Source.ContentType)
	return nil
}

// removeSource deletes a rejected upload's source object.
func (in *intake) removeSource(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := in.objects.Remove(ctx, events.SourceKey(id)); err != nil {
		in.log.ErrorContext(ctx, "remove rejected upload; a bucket lifecycle rule on uploads/ must collect it",
			"video_id", id, "key", events.SourceKey(id), "err", err)
	}
}

// newVideoID returns a new video id: a random (v4) lowercase UUID.
func newVideoID() string { return events.NewID() }

// videoFields are the user-supplied descriptive fields of an upload.
type videoFields struct {
	Title       string
	Description string
	Tags        []string
	Filename    string
}

// Field limits (from the event contract).
const maxFilenameLen = 255

// parseTitle checks a user-supplied title (trimmed; "" means not given).
func parseTitle(s string) (string, error) {
	s = strings.TrimSpace(s)
	if err := checkText(s, events.MaxTitleLen, false); err != nil {
		return "", fmt.Errorf("title: %w", err)
	}
	return s, nil
}

// parseDescription checks a description; newlines and tabs are allowed.
func parseDescription(s string) (string, error) {
	s = strings.TrimSpace(s)
	if err := checkText(s, events.MaxDescriptionLen, true); err != nil {
		return "", fmt.Errorf("description: %w", err)
	}
	return s, nil
}

// parseTags splits comma-separated tags, trims them, drops empty ones and
// duplicates (the first spelling wins; comparison ignores case).
func parseTags(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for t := range strings.SplitSeq(s, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if err := checkText(t, events.MaxTagLen, false); err != nil {
			return nil, fmt.Errorf("tag %q: %w", clip(t, 32), err)
		}
		k := strings.ToLower(t)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, t)
		if len(out) > events.MaxTags {
			return nil, fmt.Errorf("tags: more than %d", events.MaxTags)
		}
	}
	return out, nil
}

var errControl = errors.New("contains a control character")

func checkText(s string, maxRunes int, multiline bool) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > maxRunes {
		return fmt.Errorf("is %d characters long, the limit is %d", n, maxRunes)
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			return errControl
		}
	}
	return nil
}

// cleanFilename makes a client file name safe to display: the last path
// element only (after "/" or "\\"), valid UTF-8, no control characters,
// no surrounding spaces, at most 255 characters, never "." or "..".
// Cleaning a clean name changes nothing. It is never used to build a key
// or a path.
func cleanFilename(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r):
			return -1
		case r == '\\':
			return '/'
		}
		return r
	}, name)
	name = path.Base(strings.TrimSpace(name))
	name = strings.TrimSpace(clip(strings.TrimSpace(name), maxFilenameLen))
	if name == "." || name == ".." || name == "/" {
		return ""
	}
	return name
}

// defaultTitle is the title of a video uploaded without one: its file
// name without extension, else "Untitled".
func defaultTitle(filename string) string {
	t := strings.TrimSpace(strings.TrimSuffix(filename, path.Ext(filename)))
	t = clip(t, events.MaxTitleLen)
	if t == "" {
		return "Untitled"
	}
	return t
}

// clip cuts s to at most n runes.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// uploadedEvent builds the video.uploaded event of a stored source.
func uploadedEvent(id, owner, bucket string, f videoFields, size int64, contentType string) events.VideoUploaded {
	title := f.Title
	if title == "" {
		title = defaultTitle(f.Filename)
	}
	return events.VideoUploaded{
		SchemaVersion: events.SchemaVersion,
		Video: events.Video{
			VideoID:     id,
			Owner:       owner,
			Title:       title,
			Description: f.Description,
			Tags:        f.Tags,
			Source: events.SourceObject{
				Bucket:      bucket,
				Key:         events.SourceKey(id),
				Size:        size,
				ContentType: contentType,
				Filename:    f.Filename,
			},
			UploadedAt: time.Now().UTC(),
		},
	}
}

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"
	"golang.org/x/text/unicode/norm"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
	"github.com/vidpipe/vidpipe/services/upload-api/publish"
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

// onFailure says what submit does with the stored source when the
// event cannot be published.
type onFailure int

const (
	// withdraw (multipart): remove the source once Kafka is known not to
	// hold the event; when that is unknown, keep it under a pending marker
	// that resolvePending settles later.
	withdraw onFailure = iota
	// keep (tus): never remove anything; the finished, unannounced tus
	// upload is its own marker and is announced by the next request on it
	// or by the background sweep.
	keep
)

// pendingPrefix holds one small JSON object per multipart upload whose
// video.uploaded is being published or whose publication could not be
// confirmed: pending/uploads/{id}.json (a pendingMarker).
const pendingPrefix = "pending/uploads/"

func pendingKey(id string) string { return pendingPrefix + id + ".json" }

// pendingMarker is what resolvePending needs to read the partition back.
type pendingMarker struct {
	VideoID string          `json:"video_id"`
	Attempt publish.Attempt `json:"attempt"`
	Created time.Time       `json:"created"`
}

// submit publishes video.uploaded for ev and waits for the acknowledgement
// of every in-sync replica (or a read-back proving the record was written:
// then it is a success too). The request's cancellation does not cut the
// publish short: once the bytes are stored, the outcome is decided by
// Kafka, not by the client hanging up.
//
// On failure the answer is a 503, and the source is handled by mode:
//   - withdraw: a pending marker (partition and high watermark before the
//     publish) is written before the record is sent. Known not written:
//     source and marker are removed ("nothing was kept"). Unknown (the
//     broker took the request but could not be read back): both stay, and
//     resolvePending later reads the partition back; written → the video
//     is accepted after all (marker removed), not written → the source is
//     removed. A crash mid-publish leaves the marker too.
//   - keep: nothing is removed (see keep).
//
// After success the event is also applied to the status projection, so
// that GET /v1/videos/{id} knows the video at once (read-your-writes); the
// projection consumer applies the same record later, idempotently.
func (in *intake) submit(ctx context.Context, ev contract.VideoUploaded, mode onFailure) error {
	ctx = context.WithoutCancel(ctx)
	id := ev.VideoID
	a, err := in.pub.Prepare(ctx, ev)
	if err != nil {
		in.metrics.published.WithLabelValues("error").Inc()
		if mode == withdraw {
			in.removeSource(ctx, id)
			return unavailable(codeBrokerUnavailable, "the event broker is unavailable; nothing was kept, try again later", err)
		}
		return unavailable(codeBrokerUnavailable, "the event broker is unavailable; the upload is kept, try again later", err)
	}
	if mode == withdraw {
		if err := in.putPending(ctx, pendingMarker{VideoID: id, Attempt: a, Created: time.Now().UTC()}); err != nil {
			in.metrics.published.WithLabelValues("error").Inc()
			in.removeSource(ctx, id)
			return unavailable(codeStorageUnavailable, "object storage is unavailable; nothing was kept, try again later", err)
		}
	}
	if err := in.pub.Send(ctx, a); err != nil {
		in.metrics.published.WithLabelValues("error").Inc()
		outcome := publish.OutcomeOf(err)
		switch {
		case mode == keep:
			return unavailable(codeBrokerUnavailable, "the event broker did not acknowledge the upload; the upload is kept, try again later", err)
		case outcome == publish.NotWritten:
			in.removeSource(ctx, id)
			in.removePending(ctx, id)
			return unavailable(codeBrokerUnavailable, "the event broker did not acknowledge the upload; nothing was kept, try again later", err)
		default:
			in.log.WarnContext(ctx, "video.uploaded unconfirmed: source kept until the broker can be read back",
				"video_id", id, "partition", a.Partition, "from_offset", a.From, "err", err)
			return unavailable(codeBrokerUnavailable, fmt.Sprintf("the event broker could not confirm the upload of video %s; "+
				"it is either processed (GET /v1/videos/%s) or removed automatically once the broker answers", id, id), err)
		}
	}
	in.metrics.published.WithLabelValues("ok").Inc()
	if mode == withdraw {
		// A marker left behind is removed by resolvePending (it reads
		// the record back).
		in.removePending(ctx, id)
	}
	in.project(ctx, id, a.Msg)
	in.log.InfoContext(ctx, "video uploaded", "video_id", ev.VideoID, "owner", ev.Owner,
		"size", ev.Source.Size, "content_type", ev.Source.ContentType)
	return nil
}

// project applies a published record to the status projection.
func (in *intake) project(ctx context.Context, id string, msg kafka.Message) {
	if in.status == nil {
		return
	}
	hs := make([]contract.Header, len(msg.Headers))
	for i, h := range msg.Headers {
		hs[i] = contract.Header{Key: h.Key, Value: h.Value}
	}
	rec := projection.Record{Topic: msg.Topic, Partition: -1, Offset: -1, Value: msg.Value, Headers: hs}
	actx, cancel := context.WithTimeout(ctx, projectionApplyTimeout)
	err := in.status.Apply(actx, rec)
	cancel()
	if err != nil {
		// Not fatal: the consumer will deliver the same record.
		in.log.WarnContext(ctx, "record upload in projection", "video_id", id, "err", err)
	}
}

// announced reports whether the status projection knows video id, which
// only a written video.uploaded makes it do.
func (in *intake) announced(ctx context.Context, owner, id string) bool {
	if in.status == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, projectionApplyTimeout)
	defer cancel()
	_, err := in.status.Get(ctx, owner, id)
	return err == nil
}

func (in *intake) putPending(ctx context.Context, m pendingMarker) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
	defer cancel()
	if _, err := in.objects.Put(ctx, pendingKey(m.VideoID), bytes.NewReader(b), int64(len(b)), "application/json"); err != nil {
		return fmt.Errorf("write pending marker of %s: %w", m.VideoID, err)
	}
	return nil
}

func (in *intake) removePending(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := in.objects.Remove(ctx, pendingKey(id)); err != nil {
		in.log.WarnContext(ctx, "remove pending marker; the recovery sweep retries", "video_id", id, "err", err)
	}
}

// resolvePending settles the pending markers older than minAge (younger
// ones may belong to a publish still running, here or in another
// replica): it reads the record's partition back. Written: the video was
// accepted after all, the marker goes. Not written: the source and the
// marker go (the client was answered 503, so announcing it now would
// surprise the user with a video they uploaded again). Broker still
// unreachable: left for the next sweep. It returns how many it settled.
func (in *intake) resolvePending(ctx context.Context, minAge time.Duration) (int, error) {
	infos, err := in.objects.List(ctx, pendingPrefix)
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, info := range infos {
		if time.Since(info.LastModified) < minAge || !strings.HasSuffix(info.Key, ".json") {
			continue
		}
		m, err := in.readPending(ctx, info.Key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		written, err := in.pub.Written(ctx, m.Attempt)
		if err != nil {
			errs = append(errs, fmt.Errorf("video %s: %w", m.VideoID, err))
			continue
		}
		if written {
			in.log.InfoContext(ctx, "unconfirmed upload was published: kept", "video_id", m.VideoID)
		} else {
			in.log.InfoContext(ctx, "unconfirmed upload was not published: source removed", "video_id", m.VideoID)
			if err := in.objects.Remove(ctx, contract.SourceKey(m.VideoID)); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := in.objects.Remove(ctx, info.Key); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

func (in *intake) readPending(ctx context.Context, key string) (pendingMarker, error) {
	var m pendingMarker
	rc, err := in.objects.Get(ctx, key)
	if err != nil {
		return m, err
	}
	defer rc.Close()
	if err := json.NewDecoder(io.LimitReader(rc, 64<<10)).Decode(&m); err != nil {
		return m, fmt.Errorf("pending marker %s: %w", key, err)
	}
	if !contract.IsUUID(m.VideoID) || pendingKey(m.VideoID) != key || m.Attempt.Key != m.VideoID {
		return m, fmt.Errorf("pending marker %s: does not match its key", key)
	}
	return m, nil
}

// removeSource deletes a rejected upload's source object.
func (in *intake) removeSource(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := in.objects.Remove(ctx, contract.SourceKey(id)); err != nil {
		in.log.ErrorContext(ctx, "remove rejected upload; a bucket lifecycle rule on uploads/ must collect it",
			"video_id", id, "key", contract.SourceKey(id), "err", err)
	}
}

// newVideoID returns a new video id: a random (v4) lowercase UUID.
func newVideoID() string { return contract.NewID() }

// videoFields are the user-supplied descriptive fields of an upload.
type videoFields struct {
	Title       string
	Description string
	Tags        []string
	Filename    string
}

// Field limits (from the event contract).
const maxFilenameLen = 255

// parseTitle checks a user-supplied title (trimmed, NFC; "" means not given).
func parseTitle(s string) (string, error) {
	s, err := checkText(strings.TrimSpace(s), contract.MaxTitleLen, false)
	if err != nil {
		return "", fmt.Errorf("title: %w", err)
	}
	return s, nil
}

// parseDescription checks a description (trimmed, NFC); newlines and tabs
// are allowed.
func parseDescription(s string) (string, error) {
	s, err := checkText(strings.TrimSpace(s), contract.MaxDescriptionLen, true)
	if err != nil {
		return "", fmt.Errorf("description: %w", err)
	}
	return s, nil
}

// parseTags splits comma-separated tags, trims them, normalizes them to
// NFC, drops empty ones and duplicates (the first spelling wins; comparison
// ignores case).
func parseTags(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for t := range strings.SplitSeq(s, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		t, err := checkText(t, contract.MaxTagLen, false)
		if err != nil {
			return nil, fmt.Errorf("tag %q: %w", clip(strings.ToValidUTF8(t, "\uFFFD"), 32), err)
		}
		k := strings.ToLower(t)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, t)
		if len(out) > contract.MaxTags {
			return nil, fmt.Errorf("tags: more than %d", contract.MaxTags)
		}
	}
	return out, nil
}

var errControl = errors.New("contains a control character")

// checkText returns s in Unicode normalization form C after checking it:
// valid UTF-8, at most maxRunes characters, no control characters (but
// newline, return and tab when multiline), and none of the characters
// that make a text look different from what it is (contract.UnsafeTextRune:
// bidirectional controls, other invisible format characters, line and
// paragraph separators).
func checkText(s string, maxRunes int, multiline bool) (string, error) {
	if !utf8.ValidString(s) {
		return s, errors.New("is not valid UTF-8")
	}
	s = norm.NFC.String(s)
	if n := utf8.RuneCountInString(s); n > maxRunes {
		return s, fmt.Errorf("is %d characters long, the limit is %d", n, maxRunes)
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			return s, errControl
		}
		if contract.UnsafeTextRune(r) {
			return s, fmt.Errorf("contains the invisible formatting character %U", r)
		}
	}
	return s, nil
}

// cleanFilename makes a client file name safe to display: the last path
// element only (after "/" or "\\"), valid UTF-8 in normalization form C, no
// control characters, no bidirectional controls or other invisible format
// characters or line separators (contract.UnsafeTextRune: removed, so
// "invoice\u202Efdp.exe" shows as what it is), no surrounding spaces, at
// most 255 characters, never "." or "..". Cleaning a clean name changes
// nothing. It is never used to build a key or a path.
func cleanFilename(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), contract.UnsafeTextRune(r):
			return -1
		case r == '\\':
			return '/'
		}
		return r
	}, name)
	name = path.Base(strings.TrimSpace(norm.NFC.String(name)))
	name = strings.TrimSpace(clip(strings.TrimSpace(name), maxFilenameLen))
	// Cutting can leave a tail that composes differently: normalize and
	// cut again until nothing changes (bounded).
	for i := 0; i < 4 && !norm.NFC.IsNormalString(name); i++ {
		name = strings.TrimSpace(clip(norm.NFC.String(name), maxFilenameLen))
	}
	if name == "." || name == ".." || name == "/" {
		return ""
	}
	return name
}

// defaultTitle is the title of a video uploaded without one: its file
// name without extension, else "Untitled".
func defaultTitle(filename string) string {
	t := strings.TrimSpace(strings.TrimSuffix(filename, path.Ext(filename)))
	t = clip(t, contract.MaxTitleLen)
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
func uploadedEvent(id, owner, bucket string, f videoFields, size int64, contentType string) contract.VideoUploaded {
	title := f.Title
	if title == "" {
		title = defaultTitle(f.Filename)
	}
	return contract.VideoUploaded{
		SchemaVersion: contract.SchemaVersion,
		Video: contract.Video{
			VideoID:     id,
			Owner:       owner,
			Title:       title,
			Description: f.Description,
			Tags:        f.Tags,
			Source: contract.SourceObject{
				Bucket:      bucket,
				Key:         contract.SourceKey(id),
				Size:        size,
				ContentType: contentType,
				Filename:    f.Filename,
			},
			UploadedAt: time.Now().UTC(),
		},
	}
}

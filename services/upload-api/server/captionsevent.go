package server

import (
	"context"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/catalog"
	"github.com/vidpipe/vidpipe/services/upload-api/captions"
	"github.com/vidpipe/vidpipe/services/upload-api/publish"
)

// Caption tracks are indexed for search by the indexer (it owns the
// catalog): after each stored, replaced or deleted track the API publishes
// video.captions (contract.VideoCaptions) with the track's cues as plain
// text, acknowledged by Kafka before it answers. The event carries the
// cues themselves (event-carried state), so the indexer needs no access
// to object storage.

// maxCaptionEventBytes bounds an encoded video.captions: below Kafka's
// default record size limit (1 MiB, message.max.bytes) with room for the
// headers. A track whose cues do not fit is refused (413).
const maxCaptionEventBytes = 900 << 10

// captionsPublisher returns what publishes video.captions; nil (nothing
// is published) without a publisher.
func captionsPublisher(p *publish.Publisher) func(ctx context.Context, ev contract.VideoCaptions) error {
	if p == nil {
		return nil
	}
	return func(ctx context.Context, ev contract.VideoCaptions) error {
		_, err := p.Publish(ctx, ev)
		return err
	}
}

// captionsEvent returns the video.captions of track t (language, label)
// of owner's video id, UpdatedAt unset.
func captionsEvent(owner, id, language, label string, t captions.Track) contract.VideoCaptions {
	ev := contract.VideoCaptions{SchemaVersion: contract.SchemaVersion, VideoID: id, Owner: owner,
		Language: language, Label: label, ObjectKey: contract.CaptionKey(id, language)}
	ev.Cues = make([]contract.CaptionCue, 0, len(t.Cues))
	for _, c := range t.Cues {
		text := c.PlainText()
		if len(text) > contract.MaxCaptionCueLen {
			n := contract.MaxCaptionCueLen
			for n > 0 && !utf8.RuneStart(text[n]) {
				n--
			}
			text = text[:n]
		}
		ev.Cues = append(ev.Cues, contract.CaptionCue{StartMS: c.Start.Milliseconds(), EndMS: c.End.Milliseconds(), Text: text})
	}
	return ev
}

// checkCaptionsEvent refuses a track whose event would be too large.
func checkCaptionsEvent(ev contract.VideoCaptions) error {
	ev.UpdatedAt = time.Now()
	b, err := contract.Encode(ev)
	if err != nil {
		return errorf(http.StatusUnprocessableEntity, codeInvalidCaptions, "the caption track cannot be indexed: %s", err.Error())
	}
	if len(b) > maxCaptionEventBytes {
		return errorf(http.StatusRequestEntityTooLarge, codeFileTooLarge, "the caption text is too large to index (%d bytes as an event, at most %d)", len(b), maxCaptionEventBytes)
	}
	return nil
}

// captionHitView is a caption cue that matches a search (GET
// /v1/videos?q=): its track's language, its start in seconds from the
// start of the video (a player seeks there) and its text.
type captionHitView struct {
	Language string  `json:"language"`
	Start    float64 `json:"start"`
	Text     string  `json:"text"`
}

func captionHitViews(hits []catalog.CaptionHit) []captionHitView {
	if len(hits) == 0 {
		return nil
	}
	out := make([]captionHitView, len(hits))
	for i, h := range hits {
		out[i] = captionHitView{Language: h.Language, Start: float64(h.StartMS) / 1000, Text: h.Text}
	}
	return out
}

package contract

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"strconv"
	"strings"
)

// NewID returns a random (version 4) UUID in canonical lowercase form. It is
// used for video ids and CloudEvents ids.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux (Go ≥1.24 panics instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

// NewTraceparent returns a W3C traceparent for a new span: it continues the
// trace of parent when parent is a valid traceparent, else it starts a new
// trace. The sampled flag is carried over from parent (default sampled).
func NewTraceparent(parent string) string {
	traceID, flags := "", "01"
	if p := strings.Split(parent, "-"); len(p) == 4 && p[0] == "00" &&
		len(p[1]) == 32 && isHex(p[1]) && p[1] != strings.Repeat("0", 32) &&
		len(p[2]) == 16 && isHex(p[2]) && len(p[3]) == 2 && isHex(p[3]) {
		traceID, flags = p[1], p[3]
	}
	if traceID == "" {
		traceID = randomHex(16)
	}
	return "00-" + traceID + "-" + randomHex(8) + "-" + flags
}

// TraceID returns the trace id of a traceparent, or "".
func TraceID(traceparent string) string {
	if p := strings.Split(traceparent, "-"); len(p) == 4 && len(p[1]) == 32 {
		return p[1]
	}
	return ""
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// idNamespace is the UUID namespace of vidpipe's derived event ids
// (a random version 4 UUID fixed forever: changing it changes every id).
var idNamespace = [16]byte{0x6f, 0x1c, 0x2e, 0x4a, 0x93, 0x0d, 0x4b, 0x5e, 0x8a, 0x71, 0x3c, 0x52, 0xd4, 0x09, 0xe8, 0x16}

// DeriveID returns a name-based (version 5, SHA-1) UUID of parts, in
// canonical lowercase form: the same parts always give the same id. It is
// how vidpipe names a logical event, so that every redelivery duplicate of
// it carries the same CloudEvents id ("same source + id = same event").
func DeriveID(parts ...string) string {
	h := sha1.New()
	h.Write(idNamespace[:])
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0}) // parts are joined unambiguously
		}
		h.Write([]byte(p))
	}
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

// UploadedEventID is the ce_id of the video.uploaded event of videoID: one
// upload is one logical event, however often its publication is retried
// or recovered.
func UploadedEventID(videoID string) string { return DeriveID(TopicUploaded, videoID) }

// OutputEventID is the ce_id of the event a stage publishes for the input
// event whose ce_id is inputID: every attempt and every redelivery of that
// input yields the same id. A deliberate re-run gets a new input id (see
// [RedriveEventID]) and therefore new output ids.
func OutputEventID(stage Stage, inputID string) string { return DeriveID(string(stage), inputID) }

// MilestoneEventID is the ce_id of a milestone (a step a stage publishes
// on its way to its output, e.g. transcode's video.playable, see
// StageSpec.Milestones) for the input event whose ce_id is inputID: like
// [OutputEventID], the same for every attempt and redelivery.
func MilestoneEventID(stage Stage, topic, inputID string) string {
	return DeriveID(string(stage), topic, inputID)
}

// WorkEventID is the ce_id of a record a stage publishes on one of its
// work topics (StageSpec.Work) for the input event whose ce_id is inputID:
// item names the record within that input, e.g. a work item's key, or
// its key and "done" for the item's completion. The same item of the same
// input always gets the same id.
func WorkEventID(stage Stage, inputID string, item ...string) string {
	return DeriveID(append([]string{string(stage), "work", inputID}, item...)...)
}

// RedriveEventID is the ce_id given to a record redriven from a dead-letter
// topic for the count-th time (count ≥ 1): a redrive is a new logical event,
// and the same redrive retried keeps the same id.
func RedriveEventID(originalID string, count int) string {
	return DeriveID("redrive", originalID, strconv.Itoa(count))
}

func formatUUID(b [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

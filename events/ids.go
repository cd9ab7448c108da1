package events

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// NewID returns a random (version 4) UUID in canonical lowercase form. It is
// used for video ids and CloudEvents ids.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux (Go ≥1.24 panics instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
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

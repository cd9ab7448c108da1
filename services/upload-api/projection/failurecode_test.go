package projection

import (
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// codedDLQ is the dead letter of stage st for in with dlq.error_code code
// ("" for a dead letter written before the header existed).
func codedDLQ(tb testing.TB, st contract.Stage, in contract.Event, reason, class, code string, attempts int) Record {
	tb.Helper()
	orig := eventRecord(tb, in)
	dl := contract.DeadLetter{Stage: st, Topic: in.Topic(), Group: st.Group(), Err: reason, Class: class, Code: code,
		Attempts: attempts, FailedAt: time.Now()}
	hs := dl.Headers(orig.Headers)
	if code == "" {
		hs = stripHeader(hs, contract.HeaderDLQErrorCode)
	}
	return Record{Topic: st.DLQTopic(), Offset: -1, Value: orig.Value, Headers: hs}
}

func stripHeader(hs []contract.Header, key string) []contract.Header {
	var out []contract.Header
	for _, h := range hs {
		if h.Key != key {
			out = append(out, h)
		}
	}
	return out
}

// TestStoreKeepsFailureCode: the projection stores a failed video's
// dlq.error_code next to the raw reason; an unknown code is internal, a
// dead letter without the header gets a code from its other headers, and a
// later success clears it.
func TestStoreKeepsFailureCode(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	tests := map[string]struct {
		reason, class, code string
		attempts            int
		want                string
	}{
		"coded":                      {"ffprobe: format png_pipe not allowed", contract.ErrorClassPermanent, contract.ErrorCodeUnsupportedFormat, 1, contract.ErrorCodeUnsupportedFormat},
		"unknown code":               {"x", contract.ErrorClassPermanent, "<script>alert(1)</script>", 1, contract.ErrorCodeInternal},
		"old: source missing":        {"source missing: uploads/x/source does not exist", contract.ErrorClassPermanent, "", 1, contract.ErrorCodeSourceMissing},
		"old: refused before trying": {"invalid dev.vidpipe.video.uploaded.v1: owner: must not be empty", contract.ErrorClassPermanent, "", 0, contract.ErrorCodeInvalidEvent},
		"old: exhausted":             {"minio unreachable at 10.1.2.3", contract.ErrorClassExhausted, "", 5, contract.ErrorCodeInternal},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := newChain(t, "alice")
			mustApply(t, s, eventRecord(t, c.up))
			mustApply(t, s, codedDLQ(t, contract.StageTranscode, c.up, tc.reason, tc.class, tc.code, tc.attempts))
			st := mustGet(t, s, "alice", c.up.VideoID)
			if st.Status != StatusFailed || st.ErrorCode != tc.want || st.Reason != tc.reason {
				t.Fatalf("status %q code %q reason %q, want failed %q %q", st.Status, st.ErrorCode, st.Reason, tc.want, tc.reason)
			}
			// The redriven record succeeded: the failure and its code go.
			mustApply(t, s, eventRecord(t, c.tr))
			if st := mustGet(t, s, "alice", c.up.VideoID); st.Status != StatusTranscoded || st.ErrorCode != "" {
				t.Fatalf("after success: status %q code %q", st.Status, st.ErrorCode)
			}
		})
	}
	// Another failure of the same video with another code is a change.
	c := newChain(t, "alice")
	mustApply(t, s, codedDLQ(t, contract.StageTranscode, c.up, "r", contract.ErrorClassPermanent, contract.ErrorCodeCorruptMedia, 1))
	v := mustGet(t, s, "alice", c.up.VideoID).Version
	mustApply(t, s, codedDLQ(t, contract.StageTranscode, c.up, "r", contract.ErrorClassPermanent, contract.ErrorCodeTooLarge, 1))
	if st := mustGet(t, s, "alice", c.up.VideoID); st.ErrorCode != contract.ErrorCodeTooLarge || st.Version != v+1 {
		t.Fatalf("code %q version %d, want too_large, %d", st.ErrorCode, st.Version, v+1)
	}
	// A dead letter without value (dlq.value_ref) keeps its code too.
	c = newChain(t, "alice")
	mustApply(t, s, eventRecord(t, c.up))
	dl := codedDLQ(t, contract.StageTranscode, c.up, "value moved", contract.ErrorClassPermanent, contract.ErrorCodeTooLarge, 1)
	dl.Key, dl.Value = []byte(c.up.VideoID), nil
	dl.Headers = append(dl.Headers, contract.Header{Key: contract.HeaderDLQValueRef, Value: []byte("s3://vidpipe/deadletters/x")})
	mustApply(t, s, dl)
	if st := mustGet(t, s, "alice", c.up.VideoID); st.ErrorCode != contract.ErrorCodeTooLarge {
		t.Fatalf("dead letter without value: code %q", st.ErrorCode)
	}
}

package projection

import (
	"testing"
)

// TestApplyProgressAudioAsset: an audio asset's run has no video chunks;
// its progress is the audio item's segments, and its status goes
// uploaded → playable → transcoded as a video's.
func TestApplyProgressAudioAsset(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	c := newChain(t, "alice")
	id := c.up.VideoID
	mustApply(t, s, at(eventRecord(t, c.up), 0))
	audio := func(segments int, complete bool) Record {
		d := c.done(-1, segments, complete)
		d.Chunks = 0
		return eventRecord(t, d)
	}
	mustApply(t, s, at(audio(2, false), 0))
	st := mustGet(t, s, "alice", id)
	if st.Progress == nil || *st.Progress != (Progress{SegmentsDone: 2, SegmentsTotal: 5}) || st.Status != StatusUploaded {
		t.Fatalf("audio 2/5: %s progress %+v", st.Status, st.Progress)
	}
	mustApply(t, s, at(audio(1, false), 1)) // an older progress record: never backwards
	mustApply(t, s, at(eventRecord(t, c.pl), 0))
	mustApply(t, s, at(audio(5, true), 2))
	st = mustGet(t, s, "alice", id)
	if st.Progress == nil || *st.Progress != (Progress{SegmentsDone: 5, SegmentsTotal: 5, AudioComplete: true}) || st.Status != StatusPlayable {
		t.Fatalf("audio complete: %s progress %+v", st.Status, st.Progress)
	}
	mustApply(t, s, at(eventRecord(t, c.tr), 0))
	if st := mustGet(t, s, "alice", id); st.Status != StatusTranscoded || st.Progress != nil {
		t.Fatalf("transcoded: %s progress %+v", st.Status, st.Progress)
	}
}

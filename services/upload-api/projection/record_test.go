package projection

import (
	"errors"
	"testing"

	"github.com/vidpipe/vidpipe/contract"
)

func TestObserveUndecodable(t *testing.T) {
	c := newChain(t, "alice")
	invalid := c.up
	invalid.Title = "" // fails Validate
	invalidJSON := []byte(`{"schema_version":1,"video_id":"` + c.up.VideoID + `","owner":"alice"}`)
	cases := map[string]Record{
		"empty value":               {Topic: contract.TopicUploaded},
		"not json":                  {Topic: contract.TopicTranscoded, Value: []byte("{not json")},
		"invalid event":             {Topic: contract.TopicUploaded, Value: invalidJSON},
		"wrong type for topic":      {Topic: contract.TopicReady, Value: mustEncode(t, c.up)},
		"unknown topic":             {Topic: "video.deleted", Value: mustEncode(t, c.up)},
		"dead letter not json":      {Topic: contract.TopicTranscodeDLQ, Value: []byte("\xff\xfe")},
		"dead letter without id":    {Topic: contract.TopicThumbnailDLQ, Value: []byte(`{"owner":"alice"}`)},
		"dead letter id not a uuid": {Topic: contract.TopicIndexerDLQ, Value: []byte(`{"video_id":"../etc","owner":"alice"}`)},
	}
	for name, rec := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := observe(testPipeline, rec); !errors.Is(err, ErrUndecodable) {
				t.Fatalf("observe = %v, want ErrUndecodable", err)
			}
		})
	}
}

func TestObserveDeadLetter(t *testing.T) {
	c := newChain(t, "alice")
	cases := map[string]struct {
		rec       Record
		wantRank  int
		wantStage contract.Stage
		wantVideo bool
		reason    string
		class     string
	}{
		"transcode": {dlqRecord(t, contract.StageTranscode, c.up, "probe failed", contract.ErrorClassPermanent),
			testPipeline.Rank(contract.TopicUploaded), contract.StageTranscode, true, "probe failed", contract.ErrorClassPermanent},
		"thumbnail": {dlqRecord(t, contract.StageThumbnail, c.tr, "no frame", contract.ErrorClassExhausted),
			testPipeline.Rank(contract.TopicTranscoded), contract.StageThumbnail, true, "no frame", contract.ErrorClassExhausted},
		"indexer": {dlqRecord(t, contract.StageIndexer, c.th, "catalog down", contract.ErrorClassExhausted),
			testPipeline.Rank(contract.TopicThumbnailed), contract.StageIndexer, true, "catalog down", contract.ErrorClassExhausted},
		"invalid value keeps id and owner": {Record{Topic: contract.TopicTranscodeDLQ,
			Value: []byte(`{"schema_version":1,"video_id":"` + c.up.VideoID + `","owner":"alice"}`)},
			testPipeline.Rank(contract.TopicUploaded), contract.StageTranscode, false, "unknown error (the dead letter carries no dlq.error header)", ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ob, err := observe(testPipeline, tc.rec)
			if err != nil {
				t.Fatalf("observe: %v", err)
			}
			if ob.videoID != c.up.VideoID || ob.owner != "alice" {
				t.Fatalf("video/owner = %q/%q, want %q/alice", ob.videoID, ob.owner, c.up.VideoID)
			}
			if ob.rank != tc.wantRank || ob.failedStage != tc.wantStage {
				t.Fatalf("rank/stage = %d/%q, want %d/%q", ob.rank, ob.failedStage, tc.wantRank, tc.wantStage)
			}
			if (ob.video != nil) != tc.wantVideo {
				t.Fatalf("video decoded = %v, want %v", ob.video != nil, tc.wantVideo)
			}
			if ob.reason != tc.reason || ob.errorClass != tc.class {
				t.Fatalf("reason/class = %q/%q, want %q/%q", ob.reason, ob.errorClass, tc.reason, tc.class)
			}
			if tc.wantVideo && ob.attempts != 3 {
				t.Fatalf("attempts = %d, want 3", ob.attempts)
			}
		})
	}
}

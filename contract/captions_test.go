package contract

import (
	"strings"
	"testing"
	"time"
)

func TestVideoCaptionsValidate(t *testing.T) {
	id := "0b7c2a8e-1d2f-4c3b-9a8e-7f6d5c4b3a21"
	ok := func() VideoCaptions {
		return VideoCaptions{SchemaVersion: SchemaVersion, VideoID: id, Owner: "alice", Language: "en-US", Label: "English",
			ObjectKey: CaptionKey(id, "en-US"), Cues: []CaptionCue{{StartMS: 0, EndMS: 1000, Text: "hello"}}, UpdatedAt: time.Now()}
	}
	tests := map[string]struct {
		edit func(*VideoCaptions)
		want string // "" valid
	}{
		"valid":           {edit: func(*VideoCaptions) {}},
		"deleted":         {edit: func(e *VideoCaptions) { e.Deleted, e.Cues, e.Label = true, nil, "" }},
		"deleted w/ cues": {edit: func(e *VideoCaptions) { e.Deleted = true }, want: "cues"},
		"no cues":         {edit: func(e *VideoCaptions) { e.Cues = nil }, want: "cues"},
		"other key":       {edit: func(e *VideoCaptions) { e.ObjectKey = CaptionKey(id, "fr") }, want: "key"},
		"traversal lang":  {edit: func(e *VideoCaptions) { e.Language = "../x"; e.ObjectKey = CaptionKey(id, e.Language) }, want: "language"},
		"end before":      {edit: func(e *VideoCaptions) { e.Cues[0].EndMS = 0 }, want: "cues[0]"},
		"long cue":        {edit: func(e *VideoCaptions) { e.Cues[0].Text = strings.Repeat("x", MaxCaptionCueLen+1) }, want: "cues[0].text"},
		"no label":        {edit: func(e *VideoCaptions) { e.Label = "" }, want: "label"},
		"bad id":          {edit: func(e *VideoCaptions) { e.VideoID = "x" }, want: "video_id"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := ok()
			tc.edit(&e)
			err := e.Validate()
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
	if e := ok(); e.Topic() != TopicCaptions || e.Key() != id || EventVideoID(e) != id || !IsLifecycleTopic(TopicCaptions) {
		t.Fatal("topic, key or lifecycle")
	}
	if !VideoOwnsKey(id, CaptionKey(id, "en-US")) {
		t.Fatal("a caption key is not the video's")
	}
	if g, ok := KeyGeneration(id, CaptionKey(id, "en")); !ok || g != 0 {
		t.Fatal("a caption key lies in a generation folder")
	}
}

package contract

import (
	"errors"
	"testing"
	"time"
)

func TestLifecycleEventsRoundTrip(t *testing.T) {
	id := NewID()
	del := VideoDeleted{SchemaVersion: SchemaVersion, VideoID: id, Owner: "alice", DeletedAt: time.Now().UTC()}
	if err := del.Validate(); err != nil {
		t.Fatalf("valid delete: %v", err)
	}
	if del.Key() != id || del.Topic() != TopicDeleted || del.EventType() != TypeDeleted {
		t.Fatalf("delete routing: key %q topic %q type %q", del.Key(), del.Topic(), del.EventType())
	}
	bad := del
	bad.VideoID = "../x"
	if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad id: got %v, want ErrInvalid", err)
	}
	bad = del
	bad.Owner = ""
	if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no owner: got %v, want ErrInvalid", err)
	}
	up := VideoUpdated{SchemaVersion: SchemaVersion, Video: Video{VideoID: id, Owner: "alice", Title: "t",
		Source: SourceObject{Bucket: "b", Key: SourceKey(id), Size: 1, ContentType: "video/mp4"}, UploadedAt: time.Now()}, UpdatedAt: time.Now()}
	if err := up.Validate(); err != nil {
		t.Fatalf("valid update: %v", err)
	}
	up.Title = ""
	if err := up.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no title: got %v, want ErrInvalid", err)
	}
	if k := TombstoneKey(id); VideoOwnsKey(id, k) {
		t.Fatalf("tombstone %q must be outside the video's prefix", k)
	}
}

func TestEventVideoID(t *testing.T) {
	id := NewID()
	v := Video{VideoID: id}
	for name, e := range map[string]Event{
		"uploaded":   VideoUploaded{Video: v},
		"chunk":      TranscodeChunk{Video: v, Kind: ChunkVideo, Index: 3},
		"chunk done": TranscodeChunkDone{Video: v},
		"deleted":    VideoDeleted{VideoID: id},
		"updated":    VideoUpdated{Video: v},
	} {
		if got := EventVideoID(e); got != id {
			t.Errorf("%s: EventVideoID = %q, want %q (key %q)", name, got, id, e.Key())
		}
	}
	if !IsLifecycleTopic(TopicDeleted) || !IsLifecycleTopic(TopicUpdated) || IsLifecycleTopic(TopicReady) {
		t.Error("IsLifecycleTopic")
	}
}

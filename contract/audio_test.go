package contract_test

import (
	"errors"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// sampleAudioReady is an audio asset's video.ready: media.kind "audio",
// no dimensions, the M4A download as its only rendition.
func sampleAudioReady(id string) contract.VideoReady {
	e := sampleReady(id)
	o := e.Outputs()
	e.Media = contract.Media{Kind: contract.MediaKindAudio, DurationSeconds: 10.5, Format: "mp3", AudioCodec: "mp3"}
	e.Renditions = []contract.Rendition{{Name: contract.AudioRenditionName, Bitrate: 160_000, Key: o.AudioDownloadKey(), Size: 100,
		PlaylistKey: o.HLSPrefix() + "audio/160k/index.m3u8"}}
	return e
}

func TestAudioAssetValidate(t *testing.T) {
	id := contract.NewID()
	if err := sampleAudioReady(id).Validate(); err != nil {
		t.Fatalf("valid audio asset rejected: %v", err)
	}
	if got, want := sampleAudioReady(id).Outputs().AudioDownloadKey(), "videos/"+id+"/mp4/audio.m4a"; got != want {
		t.Fatalf("AudioDownloadKey = %q, want %q", got, want)
	}
	tests := map[string]struct {
		mutate func(*contract.VideoReady)
		field  string
	}{
		"unknown kind":            {func(e *contract.VideoReady) { e.Media.Kind = "image" }, "media.kind"},
		"audio with dimensions":   {func(e *contract.VideoReady) { e.Media.Width, e.Media.Height = 640, 360 }, "media"},
		"audio rendition w/ dims": {func(e *contract.VideoReady) { e.Renditions[0].Width = 640 }, "renditions[0]"},
		"video without dims":      {func(e *contract.VideoReady) { e.Media.Kind = contract.MediaKindVideo }, "media"},
		"download outside":        {func(e *contract.VideoReady) { e.Renditions[0].Key = "videos/x/audio.m4a" }, "renditions[0].key"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := sampleAudioReady(id)
			tc.mutate(&e)
			var fe *contract.FieldError
			if err := e.Validate(); !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("Validate() = %v, want a FieldError on %q", err, tc.field)
			}
		})
	}
	// A video event without a kind stays valid (additive field).
	v := sampleReady(id)
	if v.Media.Kind != "" || v.Validate() != nil {
		t.Fatalf("video without media.kind: %v", v.Validate())
	}
}

func TestAudioAssetChunks(t *testing.T) {
	id := contract.NewID()
	ready := sampleAudioReady(id)
	up := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: ready.Video}
	run := contract.NewID()
	item := contract.TranscodeChunk{SchemaVersion: contract.SchemaVersion, Video: up.Video, Run: run, Kind: contract.ChunkAudio,
		Chunks: 0, PlanKey: contract.ChunkWorkPrefix(id, run) + "plan.json"}
	if err := item.Validate(); err != nil {
		t.Fatalf("audio item of an audio asset (0 chunks) rejected: %v", err)
	}
	video := item
	video.Kind = contract.ChunkVideo
	if video.Validate() == nil {
		t.Fatal("video chunk with 0 chunks accepted")
	}
	pl := up.Playable(ready.Media, ready.HLS, 0, 6, time.Now())
	if err := pl.Validate(); err != nil {
		t.Fatalf("audio asset's playable (0 chunks) rejected: %v", err)
	}
	pl.Media = sampleReady(id).Media
	if pl.Validate() == nil {
		t.Fatal("video's playable with 0 chunks accepted")
	}
}

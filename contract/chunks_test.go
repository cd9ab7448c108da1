package contract_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// The segment pipeline's records round-trip, are keyed as documented
// (work items by video and item, completions and video.playable by video)
// and refuse what would break the fan-in: an index outside the run, an
// unknown kind, a run that is no id, a plan key of another video or run.
func TestChunkRecords(t *testing.T) {
	id, run := contract.NewID(), contract.NewID()
	v := sampleReady(id).Video
	up := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: v}
	item := contract.TranscodeChunk{SchemaVersion: contract.SchemaVersion, Video: v, Run: run, Kind: contract.ChunkVideo,
		Index: 3, Chunks: 10, PlanKey: contract.ChunkWorkPrefix(id, run) + "plan.json"}
	done := contract.TranscodeChunkDone{SchemaVersion: contract.SchemaVersion, Video: v, Run: run, Kind: contract.ChunkVideo,
		Index: 3, Chunks: 10, Segments: 3, Complete: true, SegmentsTotal: 28}
	playable := up.Playable(sampleReady(id).Media, contract.HLS{MasterKey: contract.HLSMasterKey(id)}, 10, 28, time.Now())

	for _, ev := range []contract.Event{item, done, playable} {
		b, err := contract.Encode(ev)
		if err != nil {
			t.Fatalf("%s: %v", ev.EventType(), err)
		}
		st, ok := contract.DefaultPipeline().StepFor(ev.Topic())
		if !ok {
			var s contract.StageSpec
			st, s, ok = contract.DefaultPipeline().WorkStep(ev.Topic())
			if !ok || s.Name != contract.StageTranscode {
				t.Fatalf("%s: no step or work topic for %s", ev.EventType(), ev.Topic())
			}
		}
		got, video, err := st.Decode(b)
		if err != nil || video.VideoID != id || got.EventType() != ev.EventType() {
			t.Fatalf("%s: decode through the table: %v %v", ev.EventType(), video.VideoID, err)
		}
	}
	if item.Key() != id+"/v00003" || done.Key() != id || playable.Key() != id {
		t.Errorf("keys %q %q %q", item.Key(), done.Key(), playable.Key())
	}
	audio := item
	audio.Kind, audio.Index = contract.ChunkAudio, 0
	if audio.Key() != id+"/audio" || audio.Validate() != nil {
		t.Errorf("audio item %q: %v", audio.Key(), audio.Validate())
	}

	bad := map[string]func(*contract.TranscodeChunk){
		"index past the run":  func(c *contract.TranscodeChunk) { c.Index = 10 },
		"negative index":      func(c *contract.TranscodeChunk) { c.Index = -1 },
		"no chunks":           func(c *contract.TranscodeChunk) { c.Chunks = 0 },
		"unknown kind":        func(c *contract.TranscodeChunk) { c.Kind = "subtitles" },
		"audio with an index": func(c *contract.TranscodeChunk) { c.Kind = contract.ChunkAudio },
		"run is no id":        func(c *contract.TranscodeChunk) { c.Run = "../../etc" },
		"another run's plan": func(c *contract.TranscodeChunk) {
			c.PlanKey = contract.ChunkWorkPrefix(id, contract.NewID()) + "plan.json"
		},
		"another video's plan": func(c *contract.TranscodeChunk) {
			c.PlanKey = contract.ChunkWorkPrefix(contract.NewID(), run) + "plan.json"
		},
	}
	for name, mutate := range bad {
		c := item
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), contract.TypeTranscodeChunk) && !strings.Contains(err.Error(), "chunk") {
			t.Logf("%s: %v", name, err)
		}
	}
	d := done
	d.Segments = -1
	if d.Validate() == nil {
		t.Error("negative segments accepted")
	}
	p := playable
	p.Segments = 0
	if p.Validate() == nil {
		t.Error("playable without segments accepted")
	}
}

package projection

import (
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// regen is c made again as output generation gen of the same video (a
// reprocess): the same upload, every key under the generation's folder.
func regen(tb testing.TB, c chain, gen int) chain {
	tb.Helper()
	o := contract.Outputs{VideoID: c.up.VideoID, Generation: gen}
	at := c.up.UploadedAt.Add(time.Duration(gen) * time.Hour)
	up := c.up
	up.Generation = gen
	tr := up.Transcoded(c.tr.Media, []contract.Rendition{{Name: "360p", Width: 640, Height: 360, Bitrate: 800_000,
		Key: o.RenditionKey("360p"), Size: 1000}}, contract.HLS{MasterKey: o.HLSMasterKey()}, at.Add(time.Second))
	th := tr.Thumbnailed(contract.Thumbnails{
		Poster: contract.Image{Key: o.ThumbnailPrefix() + "poster.jpg", Width: 640, Height: 360, Size: 100},
		Small:  contract.Image{Key: o.ThumbnailPrefix() + "small.jpg", Width: 320, Height: 180, Size: 50},
	}, at.Add(2*time.Second))
	pl := up.Playable(tr.Media, tr.HLS, 2, 5, at.Add(time.Second/2))
	out := chain{up: up, pl: pl, tr: tr, th: th, ready: th.Ready(at.Add(3 * time.Second))}
	for _, e := range []contract.Event{out.up, out.pl, out.tr, out.th, out.ready} {
		if err := e.Validate(); err != nil {
			tb.Fatalf("generation %d event: %v", gen, err)
		}
	}
	return out
}

// TestStoreGenerations replays reprocess scenarios against PostgreSQL:
// the served generation stays while a newer one runs (its progress and
// failure in Reprocessing), the newer one replaces it when ready, and
// records of older generations change nothing.
func TestStoreGenerations(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	type check struct {
		status     Status
		generation int
		master     int // generation of HLSMasterKey and of the ready document's master key
		reproc     *Reprocessing
		terminal   bool
	}
	gens := func(c chain) map[int]chain { return map[int]chain{0: c, 1: regen(t, c, 1), 2: regen(t, c, 2)} }
	type rec struct {
		gen  int
		step step
		want *check // nil: not checked after this record
	}
	all := func(gen int) []rec {
		return []rec{{gen, up, nil}, {gen, pl, nil}, {gen, tr, nil}, {gen, th, nil}, {gen, ready, nil}}
	}
	for name, steps := range map[string][]rec{
		"reprocess swaps when ready": append(all(0),
			rec{1, up, &check{status: StatusReady, reproc: &Reprocessing{Generation: 1, Status: StatusUploaded}}},
			rec{1, pl, &check{status: StatusReady, reproc: &Reprocessing{Generation: 1, Status: StatusPlayable}}},
			rec{1, tr, nil},
			rec{1, th, &check{status: StatusReady, reproc: &Reprocessing{Generation: 1, Status: StatusThumbnailed}}},
			rec{1, ready, &check{status: StatusReady, generation: 1, master: 1, terminal: true}},
			// Late records of generation 0 change nothing.
			rec{0, ready, &check{status: StatusReady, generation: 1, master: 1, terminal: true}},
			rec{0, dlq(contract.StageTranscode, "late"), &check{status: StatusReady, generation: 1, master: 1, terminal: true}},
			rec{0, up, &check{status: StatusReady, generation: 1, master: 1, terminal: true}},
		),
		"failed reprocess keeps the video ready, a retry resumes it": append(all(0),
			rec{1, up, nil},
			rec{1, dlq(contract.StageTranscode, "boom"), &check{status: StatusReady, terminal: true,
				reproc: &Reprocessing{Generation: 1, Status: StatusFailed, FailedStage: contract.StageTranscode, Reason: "boom",
					ErrorClass: contract.ErrorClassExhausted, ErrorCode: contract.ErrorCodeInternal, Attempts: 3}}},
			rec{1, pl, &check{status: StatusReady, reproc: &Reprocessing{Generation: 1, Status: StatusPlayable}}},
			rec{1, tr, nil}, rec{1, th, nil},
			rec{1, ready, &check{status: StatusReady, generation: 1, master: 1, terminal: true}},
		),
		"the ready of the new generation first": append(all(0),
			rec{1, ready, &check{status: StatusReady, generation: 1, master: 1, terminal: true}},
			rec{1, up, &check{status: StatusReady, generation: 1, master: 1, terminal: true}},
			rec{1, th, &check{status: StatusReady, generation: 1, master: 1, terminal: true}},
		),
		"reprocess of a failed video takes over at once": {
			{0, up, nil}, {0, pl, nil},
			{0, dlq(contract.StageTranscode, "boom"), &check{status: StatusFailed, master: 0, terminal: true}},
			{1, up, &check{status: StatusUploaded, generation: 1, master: -1}},
			{0, tr, &check{status: StatusUploaded, generation: 1, master: -1}},
			{1, pl, &check{status: StatusPlayable, generation: 1, master: 1}},
			{1, tr, nil}, {1, th, nil},
			{1, ready, &check{status: StatusReady, generation: 1, master: 1, terminal: true}},
		},
		"a newer reprocess replaces a failed one": append(all(0),
			rec{1, up, nil},
			rec{1, dlq(contract.StageThumbnail, "boom"), nil},
			rec{2, up, &check{status: StatusReady, reproc: &Reprocessing{Generation: 2, Status: StatusUploaded}}},
			rec{1, pl, &check{status: StatusReady, reproc: &Reprocessing{Generation: 2, Status: StatusUploaded}}},
			rec{1, ready, &check{status: StatusReady, reproc: &Reprocessing{Generation: 2, Status: StatusUploaded}}},
			rec{2, pl, nil}, rec{2, tr, nil}, rec{2, th, nil},
			rec{2, ready, &check{status: StatusReady, generation: 2, master: 2, terminal: true}},
		),
	} {
		t.Run(name, func(t *testing.T) {
			c := newChain(t, "alice")
			cs := gens(c)
			next := map[string]int64{}
			for i, r := range steps {
				record := r.step(t, cs[r.gen])
				record.Offset = next[record.Topic]
				next[record.Topic]++
				mustApply(t, s, record)
				if r.want == nil {
					continue
				}
				st := mustGet(t, s, "alice", c.up.VideoID)
				w := r.want
				if st.Status != w.status || st.Generation != w.generation || st.Terminal() != w.terminal {
					t.Fatalf("record %d (generation %d): status %s generation %d terminal %v, want %s %d %v",
						i, r.gen, st.Status, st.Generation, st.Terminal(), w.status, w.generation, w.terminal)
				}
				wantMaster := ""
				if w.master >= 0 {
					wantMaster = contract.Outputs{VideoID: c.up.VideoID, Generation: w.master}.HLSMasterKey()
				}
				if st.HLSMasterKey != wantMaster {
					t.Fatalf("record %d: HLS master %q, want %q", i, st.HLSMasterKey, wantMaster)
				}
				if st.Status == StatusReady && (st.Ready == nil || st.Ready.HLS.MasterKey != wantMaster || st.Ready.Generation != w.master) {
					t.Fatalf("record %d: ready document %+v, want generation %d's", i, st.Ready, w.master)
				}
				switch {
				case w.reproc == nil && st.Reprocessing != nil:
					t.Fatalf("record %d: reprocessing %+v, want none", i, *st.Reprocessing)
				case w.reproc != nil && st.Reprocessing == nil:
					t.Fatalf("record %d: no reprocessing, want %+v", i, *w.reproc)
				case w.reproc != nil:
					got := *st.Reprocessing
					got.Progress = nil
					if got != *w.reproc {
						t.Fatalf("record %d: reprocessing %+v, want %+v", i, got, *w.reproc)
					}
				}
			}
		})
	}
}

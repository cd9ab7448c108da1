package catalog_test

import (
	"context"
	"testing"

	"github.com/vidpipe/vidpipe/contract"
)

// regenerate returns doc as generation gen wrote it (its keys under
// contract.GenerationPrefix).
func regenerate(doc contract.VideoReady, gen int) contract.VideoReady {
	o := contract.Outputs{VideoID: doc.VideoID, Generation: gen}
	doc.Generation = gen
	doc.Renditions = append([]contract.Rendition(nil), doc.Renditions...)
	for i := range doc.Renditions {
		doc.Renditions[i].Key = o.RenditionKey(doc.Renditions[i].Name)
		if doc.Renditions[i].PlaylistKey != "" {
			doc.Renditions[i].PlaylistKey = o.HLSPrefix() + doc.Renditions[i].Name + "/index.m3u8"
		}
	}
	doc.HLS.MasterKey = o.HLSMasterKey()
	doc.Thumbnails.Poster.Key = o.ThumbnailPrefix() + "poster.jpg"
	doc.Thumbnails.Small.Key = o.ThumbnailPrefix() + "thumb.jpg"
	return doc
}

// TestUpsertGenerations: a newer output generation replaces the stored
// document; a late document of an older generation does not, and the
// stored (newer) one is returned.
func TestUpsertGenerations(t *testing.T) {
	ctx := context.Background()
	c := MustCatalog(t)
	gen0 := newDoc("alice", "Reprocessed", "")
	MustUpsert(t, c, gen0)
	gen1 := regenerate(gen0, 1)
	got, changed, err := c.Upsert(ctx, gen1)
	if err != nil || !changed || got.Generation != 1 || got.HLS.MasterKey != gen1.HLS.MasterKey {
		t.Fatalf("upsert generation 1: changed=%v err=%v generation=%d master=%s", changed, err, got.Generation, got.HLS.MasterKey)
	}
	got, changed, err = c.Upsert(ctx, gen0)
	if err != nil || changed {
		t.Fatalf("late upsert of generation 0: changed=%v err=%v, want unchanged", changed, err)
	}
	if got.Generation != 1 || got.HLS.MasterKey != gen1.HLS.MasterKey {
		t.Errorf("after a late generation 0: stored generation %d master %s, want generation 1 %s", got.Generation, got.HLS.MasterKey, gen1.HLS.MasterKey)
	}
	stored, err := c.Get(ctx, "alice", gen0.VideoID)
	if err != nil || stored.Generation != 1 {
		t.Fatalf("Get: generation %d err %v, want 1", stored.Generation, err)
	}
}

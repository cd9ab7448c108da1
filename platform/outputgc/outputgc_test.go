package outputgc_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/outputgc"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/platform/storage"
)

func TestMain(m *testing.M) { harness.Main(m) }

func mustStore(tb testing.TB) *storage.Store {
	tb.Helper()
	mi := harness.SharedMinIO(tb)
	st, err := storage.New(mi.S3Config(harness.MustBucket(tb, mi)))
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

func keys(tb testing.TB, st *storage.Store, prefix string) []string {
	tb.Helper()
	objs, err := st.List(context.Background(), prefix)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.Key)
	}
	slices.Sort(out)
	return out
}

// TestSweep: a sweep for generation 2 removes the listed folders of
// generations 0 and 1 and nothing else: not generation 2 or 3, not the
// work state, not another stage's folders, not the source, not another
// video's objects.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	st := mustStore(t)
	id, other := contract.NewID(), contract.NewID()
	gen := func(g int) contract.Outputs { return contract.Outputs{VideoID: id, Generation: g} }
	var all []string
	for g := range 4 {
		o := gen(g)
		all = append(all, o.HLSMasterKey(), o.HLSPrefix()+"360p/seg_00000.m4s", o.RenditionKey("360p"), o.ThumbnailPrefix()+"poster.jpg")
	}
	all = append(all, contract.SourceKey(id), contract.OutputPrefix(id)+"work/run/plan.json",
		contract.HLSMasterKey(other), contract.Outputs{VideoID: other, Generation: 1}.HLSMasterKey())
	for _, k := range all {
		if _, err := st.Put(ctx, k, strings.NewReader("x"), 1, "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
	}
	n, err := outputgc.Sweep(ctx, st, id, 2, []string{"mp4/", "hls/"})
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if n != 6 {
		t.Errorf("Sweep removed %d objects, want 6 (hls master, segment and mp4 of generations 0 and 1)", n)
	}
	var want []string
	for _, k := range all {
		g, ok := contract.KeyGeneration(id, k)
		rest := strings.TrimPrefix(k, contract.GenerationPrefix(id, g))
		if ok && g < 2 && (strings.HasPrefix(rest, "mp4/") || strings.HasPrefix(rest, "hls/")) {
			continue
		}
		want = append(want, k)
	}
	slices.Sort(want)
	got := append(keys(t, st, "videos/"), keys(t, st, "uploads/")...)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("after the sweep:\n got %q\nwant %q", got, want)
	}
	// Idempotent; generation 0 supersedes nothing.
	if n, err := outputgc.Sweep(ctx, st, id, 2, []string{"mp4/", "hls/"}); err != nil || n != 0 {
		t.Errorf("second sweep: %d, %v; want 0, nil", n, err)
	}
	if n, err := outputgc.Sweep(ctx, st, id, 0, []string{"thumbs/"}); err != nil || n != 0 {
		t.Errorf("sweep of generation 0: %d, %v; want 0, nil", n, err)
	}
	// RemoveAll: the folders of every generation (4 thumbnails), nothing else.
	if n, err := outputgc.RemoveAll(ctx, st, id, []string{"thumbs/"}); err != nil || n != 4 {
		t.Errorf("RemoveAll thumbs/: %d, %v; want 4, nil", n, err)
	}
	for _, k := range keys(t, st, "videos/"+id+"/") {
		if strings.Contains(k, "/thumbs/") {
			t.Errorf("RemoveAll left %s", k)
		}
	}
}

// TestHandlerWaitsForTheDelay: a video.ready of generation 1 made just now
// is not swept before the delay (the attempt ends, cancelled, with
// nothing removed); one made longer ago than the delay is swept at once;
// generation 0 sweeps nothing.
func TestHandlerWaitsForTheDelay(t *testing.T) {
	st := mustStore(t)
	id := contract.NewID()
	old := contract.Outputs{VideoID: id, Generation: 0}.HLSMasterKey()
	if _, err := st.Put(context.Background(), old, strings.NewReader("x"), 1, "application/vnd.apple.mpegurl"); err != nil {
		t.Fatal(err)
	}
	h := outputgc.Handler(st, slog.New(slog.DiscardHandler), time.Hour, "hls/")
	ready := contract.VideoReady{Video: contract.Video{VideoID: id, Generation: 1}, ThumbnailedAt: time.Now(), ReadyAt: time.Now().Add(-24 * time.Hour)}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := h(ctx, ready); done <- err }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("handler within the delay, cancelled: %v, want context.Canceled", err)
	}
	if got := keys(t, st, contract.OutputPrefix(id)); !slices.Equal(got, []string{old}) {
		t.Fatalf("within the delay: %q left, want %q", got, old)
	}

	ready.ThumbnailedAt = time.Now().Add(-2 * time.Hour)
	if _, err := h(context.Background(), ready); !errors.Is(err, stage.ErrNoOutput) {
		t.Fatalf("handler after the delay: %v, want stage.ErrNoOutput", err)
	}
	if got := keys(t, st, contract.OutputPrefix(id)); len(got) != 0 {
		t.Fatalf("after the delay: %q left, want nothing", got)
	}
	ready.Generation = 0
	if _, err := h(context.Background(), ready); !errors.Is(err, stage.ErrNoOutput) {
		t.Fatalf("generation 0: %v, want stage.ErrNoOutput", err)
	}
}

// TestOptions: the GC consumer reads video.ready in its own group, serves
// no HTTP, and retries rather than dead-letters a failing removal.
func TestOptions(t *testing.T) {
	serving := stage.Options{Stage: contract.StageThumbnail, Consumer: "", InputTopic: "x"}
	serving.Runtime.MaxAttempts = 5
	o := outputgc.Options(serving)
	if o.InputTopic != contract.TopicReady || o.Group != "thumbnail-gc" || !o.NoHTTP || o.Consumer != "gc" ||
		o.Registry == nil || o.Runtime.MaxAttempts != outputgc.GCMaxAttempts || o.Stage != contract.StageThumbnail {
		t.Fatalf("Options = input %s group %s nohttp %v consumer %q attempts %d", o.InputTopic, o.Group, o.NoHTTP, o.Consumer, o.Runtime.MaxAttempts)
	}
	serving.Service = "transcode"
	if g := outputgc.Options(serving).Group; g != "transcode-gc" {
		t.Fatalf("group of service transcode = %s", g)
	}
}

// TestFenceRemovesEveryGeneration: the fence of a stage removes what the
// stage owns of a deleted video in every output generation (generation 0
// through its declared prefixes, generations N > 0 through its dirs), and
// nothing of another stage's, of the source or of another video. Without
// Fence, deleting a reprocessed video left videos/{id}/g{N}/ behind.
func TestFenceRemovesEveryGeneration(t *testing.T) {
	ctx := context.Background()
	st := mustStore(t)
	id, other := contract.NewID(), contract.NewID()
	var mine, kept []string
	for g := range 3 {
		o := contract.Outputs{VideoID: id, Generation: g}
		mine = append(mine, o.HLSMasterKey(), o.HLSPrefix()+"360p/seg_00000.m4s", o.RenditionKey("360p"))
		kept = append(kept, o.ThumbnailPrefix()+"poster.jpg")
	}
	mine = append(mine, contract.OutputPrefix(id)+"work/run/plan.json")
	kept = append(kept, contract.SourceKey(id), contract.HLSMasterKey(other), contract.Outputs{VideoID: other, Generation: 1}.HLSMasterKey())
	for _, k := range append(slices.Clone(mine), kept...) {
		if _, err := st.Put(ctx, k, strings.NewReader("x"), 1, "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
	}
	owned := func(videoID string) []string {
		p := contract.OutputPrefix(videoID)
		return []string{p + "mp4/", p + "hls/", p + "work/"}
	}
	f := outputgc.Fence(stage.ObjectFence{Store: st, Owned: owned}, st, []string{"mp4/", "hls/"})
	for range 2 { // idempotent: a redelivered video.deleted removes nothing more
		if err := f.Remove(ctx, id); err != nil {
			t.Fatalf("Remove: %v", err)
		}
	}
	got := append(keys(t, st, contract.OutputPrefix(id)), keys(t, st, "uploads/"+id)...)
	got = append(got, keys(t, st, contract.OutputPrefix(other))...)
	want := slices.Clone(kept)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("after Remove the bucket holds\n%v\nwant only the other stage's, the source and the other video's\n%v", got, want)
	}
}

package contract_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/contract"
)

const genVideo = "0b4f3f4e-8d2a-4c1e-9f3a-2b1c0d9e8f7a"

// TestGenerationKeys: generation 0 names exactly the keys the functions
// of keys.go name (the layout before generations), generation N the same
// under "videos/{id}/g{N}/".
func TestGenerationKeys(t *testing.T) {
	for name, tc := range map[string]struct {
		gen                                         int
		prefix, mp4, hlsPrefix, master, thumbPrefix string
	}{
		"generation 0": {0, contract.OutputPrefix(genVideo), contract.RenditionKey(genVideo, "720p"),
			contract.HLSPrefix(genVideo), contract.HLSMasterKey(genVideo), contract.ThumbnailPrefix(genVideo)},
		"generation 0 literal": {0, "videos/" + genVideo + "/", "videos/" + genVideo + "/mp4/720p.mp4",
			"videos/" + genVideo + "/hls/", "videos/" + genVideo + "/hls/master.m3u8", "videos/" + genVideo + "/thumbs/"},
		"generation 1": {1, "videos/" + genVideo + "/g1/", "videos/" + genVideo + "/g1/mp4/720p.mp4",
			"videos/" + genVideo + "/g1/hls/", "videos/" + genVideo + "/g1/hls/master.m3u8", "videos/" + genVideo + "/g1/thumbs/"},
		"generation 12": {12, "videos/" + genVideo + "/g12/", "videos/" + genVideo + "/g12/mp4/720p.mp4",
			"videos/" + genVideo + "/g12/hls/", "videos/" + genVideo + "/g12/hls/master.m3u8", "videos/" + genVideo + "/g12/thumbs/"},
	} {
		t.Run(name, func(t *testing.T) {
			o := contract.Video{VideoID: genVideo, Generation: tc.gen}.Outputs()
			for _, c := range []struct{ what, got, want string }{
				{"Prefix", o.Prefix(), tc.prefix},
				{"GenerationPrefix", contract.GenerationPrefix(genVideo, tc.gen), tc.prefix},
				{"RenditionKey", o.RenditionKey("720p"), tc.mp4},
				{"HLSPrefix", o.HLSPrefix(), tc.hlsPrefix},
				{"HLSMasterKey", o.HLSMasterKey(), tc.master},
				{"ThumbnailPrefix", o.ThumbnailPrefix(), tc.thumbPrefix},
			} {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}
			for _, k := range []string{tc.mp4, tc.master, tc.thumbPrefix + "poster.jpg"} {
				if g, ok := contract.KeyGeneration(genVideo, k); !ok || g != tc.gen {
					t.Errorf("KeyGeneration(%q) = %d, %v; want %d, true", k, g, ok, tc.gen)
				}
				if !contract.VideoOwnsKey(genVideo, k) {
					t.Errorf("VideoOwnsKey(%q) = false", k)
				}
			}
		})
	}
}

func TestKeyGeneration(t *testing.T) {
	for key, want := range map[string]struct {
		gen int
		ok  bool
	}{
		"videos/" + genVideo + "/hls/master.m3u8":     {0, true},
		"videos/" + genVideo + "/g7/hls/master.m3u8":  {7, true},
		"videos/" + genVideo + "/g07/hls/master.m3u8": {0, true}, // not a generation folder
		"videos/" + genVideo + "/g0/hls/master.m3u8":  {0, true},
		"videos/" + genVideo + "/gx/hls/master.m3u8":  {0, true},
		"videos/" + genVideo + "/g99999999/x":         {0, true},
		"videos/" + genVideo + "/g1":                  {0, true}, // a file, not a folder
		"videos/" + genVideo + "/work/r/plan.json":    {0, true},
		"videos/other/g1/hls/master.m3u8":             {0, false},
		"uploads/" + genVideo + "/source":             {0, false},
	} {
		g, ok := contract.KeyGeneration(genVideo, key)
		if g != want.gen || ok != want.ok {
			t.Errorf("KeyGeneration(%q) = %d, %v; want %d, %v", key, g, ok, want.gen, want.ok)
		}
	}
	dirs := []string{"videos/" + genVideo + "/g2/", "videos/" + genVideo + "/hls/", "g10", "g01/", "thumbs/"}
	if got := contract.GenerationDirs(genVideo, dirs); !slices.Equal(got, []int{2, 10}) {
		t.Errorf("GenerationDirs = %v, want [2 10]", got)
	}
}

// TestGenerationValidate: an event's output keys must lie in the folder of
// its generation.
func TestGenerationValidate(t *testing.T) {
	ev := func(gen int, keyGen int) contract.VideoPlayable {
		e := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: sampleReady(genVideo).Video}
		e.Generation = gen
		return e.Playable(contract.Media{DurationSeconds: 2, Width: 64, Height: 36},
			contract.HLS{MasterKey: contract.Outputs{VideoID: genVideo, Generation: keyGen}.HLSMasterKey()}, 1, 1, e.UploadedAt)
	}
	for name, tc := range map[string]struct {
		gen, keyGen int
		wantErr     string
	}{
		"gen 0 keys of gen 0":  {0, 0, ""},
		"gen 2 keys of gen 2":  {2, 2, ""},
		"gen 0 keys of gen 1":  {0, 1, "generation 0"},
		"gen 2 keys of gen 0":  {2, 0, "generation 2"},
		"gen 2 keys of gen 1":  {2, 1, "generation 2"},
		"negative generation":  {-1, 0, "generation"},
		"generation too large": {contract.MaxGeneration + 1, 0, "generation"},
	} {
		t.Run(name, func(t *testing.T) {
			err := ev(tc.gen, tc.keyGen).Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Validate = %v, want an error about %q", err, tc.wantErr)
			}
		})
	}
	if contract.GenerationEventID(genVideo, 0) != contract.UploadedEventID(genVideo) {
		t.Error("GenerationEventID(id, 0) differs from UploadedEventID(id)")
	}
	if a, b := contract.GenerationEventID(genVideo, 1), contract.GenerationEventID(genVideo, 2); a == b || a == contract.UploadedEventID(genVideo) {
		t.Errorf("generation ids not distinct: %s %s", a, b)
	}
}

package thumbnail

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/stage"
)

// TestRefusalsCarryCodes: the worker's refusals carry user-safe error
// codes (the dead letter's dlq.error_code and the status document show
// them instead of the raw error).
func TestRefusalsCarryCodes(t *testing.T) {
	ctx := context.Background()
	s := MustStore(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.mp4")
	if err := os.WriteFile(garbage, []byte("this is not a video, just text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	full := MustClip(t, dir, clip{Width: 640, Height: 360, Seconds: 2})
	tests := map[string]struct {
		upload   string
		settings func(*Settings)
		code     string
	}{
		"not a video":           {upload: garbage, code: contract.ErrorCodeCorruptMedia},
		"frame over max_pixels": {upload: full, code: contract.ErrorCodeTooLarge, settings: func(c *Settings) { c.MaxPixels = 640*360 - 1 }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := transcoded(2, contract.Rendition{Name: "360p", Width: 640, Height: 360})
			MustPut(t, s, in.Renditions[0].Key, tc.upload)
			var mutate []func(*Settings)
			if tc.settings != nil {
				mutate = append(mutate, tc.settings)
			}
			_, err := newTestWorker(t, s, mutate...).Handle(ctx, in)
			if !stage.IsPermanent(err) || stage.ErrorCode(err) != tc.code {
				t.Fatalf("err = %v, code %q; want permanent with code %q", err, stage.ErrorCode(err), tc.code)
			}
		})
	}
	// A rendition object that is not in the bucket is source_missing.
	gone := transcoded(2, contract.Rendition{Name: "360p", Width: 640, Height: 360})
	if _, err := newTestWorker(t, s).Handle(ctx, gone); !stage.IsPermanent(err) || stage.ErrorCode(err) != contract.ErrorCodeSourceMissing {
		t.Fatalf("missing rendition: err = %v, code %q", err, stage.ErrorCode(err))
	}
	// A rendition that is not an MP4 is unsupported_format.
	mkv := filepath.Join(dir, "clip.mkv")
	if out, err := exec.Command(harness.MustTool(t, "ffmpeg"), "-nostdin", "-v", "error", "-y", "-i", full, "-c", "copy", mkv).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	notMP4 := transcoded(2, contract.Rendition{Name: "360p", Width: 640, Height: 360})
	MustPut(t, s, notMP4.Renditions[0].Key, mkv)
	if _, err := newTestWorker(t, s).Handle(ctx, notMP4); !stage.IsPermanent(err) || stage.ErrorCode(err) != contract.ErrorCodeUnsupportedFormat {
		t.Fatalf("Matroska rendition: err = %v, code %q", err, stage.ErrorCode(err))
	}
	// An invalid event (a rendition key of another video) is invalid_event.
	in := transcoded(2, contract.Rendition{Name: "360p", Width: 640, Height: 360})
	in.Renditions[0].Key = contract.RenditionKey(contract.NewID(), "360p")
	if _, err := newTestWorker(t, s).Handle(ctx, in); !stage.IsPermanent(err) || stage.ErrorCode(err) != contract.ErrorCodeInvalidEvent {
		t.Fatalf("foreign rendition key: err = %v, code %q", err, stage.ErrorCode(err))
	}
}

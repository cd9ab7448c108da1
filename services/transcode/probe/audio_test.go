package probe

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/dev/harness"
)

// TestProbeAcceptsAudioFiles: every audio format an audio asset may be
// made from probes as audio-only, passes Check and the packet scan, with
// its duration; with the hostile-input limits still applied to it.
func TestProbeAcceptsAudioFiles(t *testing.T) {
	p := newProber(t)
	dir := t.TempDir()
	limits := Limits{MaxDuration: 2 * time.Hour, MaxPixels: 3840 * 2160, MaxFileSize: 1 << 30, MaxDimension: 16384}
	wantCodec := map[string]string{"m4a": "aac", "mp3": "mp3", "wav": "pcm_s16le", "flac": "flac", "opus": "opus", "vorbis": "vorbis"}
	for format := range harness.AudioFormats {
		t.Run(format, func(t *testing.T) {
			path := harness.MustAudio(t, dir, format, 3)
			r, err := p.Probe(context.Background(), path)
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if !r.IsAudio() || r.Audio.Codec != wantCodec[format] || r.Audio.Channels != 2 {
				t.Fatalf("probe: video %v audio %+v, want audio-only %s stereo", r.Video, r.Audio, wantCodec[format])
			}
			if err := r.Check(limits); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if d := r.Declared(); d < 2.9 || d > 3.2 {
				t.Fatalf("declared %v s, want about 3", d)
			}
			tl, err := p.Scan(context.Background(), path, r, ScanLimits{Declared: r.Declared(), MaxFrameRate: 120})
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			if tl.Packets == 0 || tl.VideoPackets != 0 || tl.Span() < 2.9 {
				t.Fatalf("scan: %+v", tl)
			}
			short := limits
			short.MaxDuration = 2 * time.Second
			if err := r.Check(short); !errors.Is(err, ErrRejected) {
				t.Fatalf("Check over the duration limit: %v, want a rejection", err)
			}
		})
	}
}

// TestProbeAudioWithCoverArt: an M4A with an attached picture is an audio
// file (the picture is not a video stream).
func TestProbeAudioWithCoverArt(t *testing.T) {
	dir := t.TempDir()
	png := filepath.Join(dir, "cover.png")
	MustFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1", png)
	cover := filepath.Join(dir, "cover.m4a")
	MustFFmpeg(t, "-f", "lavfi", "-i", "sine=duration=2", "-i", png, "-map", "0", "-map", "1",
		"-c:a", "aac", "-c:v", "png", "-disposition:v", "attached_pic", "-f", "mp4", cover)
	r, err := newProber(t).Probe(context.Background(), cover)
	if err != nil {
		t.Fatal(err)
	}
	if !r.IsAudio() || r.Check(Limits{}) != nil {
		t.Fatalf("cover-art M4A: video %v audio %v check %v, want an audio file", r.Video, r.Audio, r.Check(Limits{}))
	}
}

// TestProbeRefusesNoStreams: a file with neither video nor audio is still
// refused, with the unsupported-format code.
func TestProbeRefusesNoStreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zero.mp4")
	MustFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1", "-frames:v", "0", "-c:v", "libx264", "-f", "mp4", path)
	r, err := newProber(t).Probe(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	var rj *Rejection
	if err := r.Check(Limits{}); !errors.As(err, &rj) || rj.Code != unsupported {
		t.Fatalf("Check: %v, want an unsupported_format rejection", err)
	}
}

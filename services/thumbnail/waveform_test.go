package thumbnail

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/stage"
)

// audioTranscoded returns an audio asset's video.transcoded whose M4A
// (written from test audio of seconds) is in s.
func audioTranscoded(t *testing.T, s interface {
	Bucket() string
}, put func(key, path string) int64, seconds float64) contract.VideoTranscoded {
	t.Helper()
	dir := t.TempDir()
	m4a := filepath.Join(dir, "audio.m4a")
	src := harness.MustAudio(t, dir, "flac", seconds)
	if out, err := exec.Command(harness.MustTool(t, "ffmpeg"), "-nostdin", "-v", "error", "-y", "-i", src,
		"-c:a", "aac", "-b:a", "160k", "-movflags", "+faststart", "-f", "ipod", m4a).CombinedOutput(); err != nil {
		t.Fatalf("m4a: %v\n%s", err, out)
	}
	id := contract.NewID()
	up := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: id, Owner: "alice", Title: "Test tone",
		Source:     contract.SourceObject{Bucket: s.Bucket(), Key: contract.SourceKey(id), Size: 1000, ContentType: "audio/flac"},
		UploadedAt: time.Now().UTC(),
	}}
	key := up.Outputs().AudioDownloadKey()
	size := put(key, m4a)
	return up.Transcoded(contract.Media{Kind: contract.MediaKindAudio, DurationSeconds: seconds, AudioCodec: "flac"},
		[]contract.Rendition{{Name: contract.AudioRenditionName, Bitrate: 160_000, Key: key, Size: size,
			PlaylistKey: up.Outputs().HLSPrefix() + "audio/160k/index.m3u8"}},
		contract.HLS{MasterKey: up.Outputs().HLSMasterKey()}, time.Now())
}

// TestHandleAudioWaveform: an audio asset's poster is a waveform at the
// waveform size (not black: the tone is drawn), its small one ThumbWidth
// wide, under the usual keys, and no sprite.
func TestHandleAudioWaveform(t *testing.T) {
	s := MustStore(t)
	w := newTestWorker(t, s)
	in := audioTranscoded(t, s, func(k, p string) int64 { return MustPut(t, s, k, p) }, 6)
	out, err := w.Handle(context.Background(), in)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	th := out.Thumbnails
	if th.Sprite != nil || th.SpriteVTTKey != "" {
		t.Errorf("audio asset got a sprite: %+v", th)
	}
	if th.Poster.Key != in.Outputs().ThumbnailPrefix()+PosterName || th.Small.Key != in.Outputs().ThumbnailPrefix()+ThumbName {
		t.Errorf("keys %s %s", th.Poster.Key, th.Small.Key)
	}
	pw, ph, luma := fetchJPEG(t, s, th.Poster.Key)
	if pw != WaveformWidth || ph != WaveformHeight || th.Poster.Width != pw || th.Poster.Height != ph {
		t.Errorf("poster %dx%d (event %dx%d), want %dx%d", pw, ph, th.Poster.Width, th.Poster.Height, WaveformWidth, WaveformHeight)
	}
	if luma < 3 {
		t.Errorf("poster mean luma %.1f: no waveform drawn", luma)
	}
	sw, sh, _ := fetchJPEG(t, s, th.Small.Key)
	if sw != 320 || sh != 180 {
		t.Errorf("small %dx%d, want 320x180", sw, sh)
	}
	if err := out.Validate(); err != nil || !out.Media.IsAudio() {
		t.Errorf("event: %v, kind %q", err, out.Media.Kind)
	}
	assertTempDirEmpty(t, w)
}

// TestHandleAudioWaveformRefusals: an M4A that is not there, or whose
// packets span less than declared, is a permanent, coded error.
func TestHandleAudioWaveformRefusals(t *testing.T) {
	s := MustStore(t)
	w := newTestWorker(t, s)
	put := func(k, p string) int64 { return MustPut(t, s, k, p) }

	missing := audioTranscoded(t, s, put, 2)
	missing.Renditions[0].Key = missing.Outputs().RenditionPrefix() + "gone.m4a"
	_, err := w.Handle(context.Background(), missing)
	if !stage.IsPermanent(err) || stage.ErrorCode(err) != contract.ErrorCodeSourceMissing {
		t.Errorf("missing m4a: %v (code %q)", err, stage.ErrorCode(err))
	}

	lying := audioTranscoded(t, s, put, 2)
	lying.Media.DurationSeconds = 60
	_, err = w.Handle(context.Background(), lying)
	if !stage.IsPermanent(err) || stage.ErrorCode(err) != contract.ErrorCodeDurationMismatch {
		t.Errorf("m4a shorter than declared: %v (code %q)", err, stage.ErrorCode(err))
	}
	assertTempDirEmpty(t, w)
}

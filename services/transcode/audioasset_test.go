package transcode

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/services/transcode/hls"
)

// audioProbe is what ffprobe says of a file's format and streams.
type audioProbe struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Channels  int    `json:"channels"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
}

func mustAudioProbe(t *testing.T, args ...string) audioProbe {
	t.Helper()
	var p audioProbe
	out := MustFFprobe(t, append([]string{"-show_format", "-show_streams", "-of", "json"}, args...)...)
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe output: %v\n%s", err, out)
	}
	return p
}

// checkAudioPackage checks an audio asset's outputs downloaded to local
// (the video's output prefix): the event, the master playlist with one
// audio-only variant per audio bitrate, ended media playlists, the M4A
// (AAC only, moov first, the whole duration), and that ffmpeg plays the
// master playlist for the whole duration.
func checkAudioPackage(t *testing.T, e *env, in contract.VideoUploaded, out contract.VideoTranscoded, local string, seconds float64) {
	t.Helper()
	if err := out.Validate(); err != nil {
		t.Fatalf("event: %v", err)
	}
	m := out.Media
	if m.Kind != contract.MediaKindAudio || m.Width != 0 || m.Height != 0 || m.VideoCodec != "" || m.AudioCodec == "" || math.Abs(m.DurationSeconds-seconds) > 0.2 {
		t.Errorf("media %+v, want an audio asset of %v s", m, seconds)
	}
	wantBitrates := audioLadder(e.worker.ladder)
	top := wantBitrates[len(wantBitrates)-1]
	if len(out.Renditions) != 1 {
		t.Fatalf("renditions %+v, want the M4A only", out.Renditions)
	}
	r := out.Renditions[0]
	if r.Name != contract.AudioRenditionName || r.Key != in.Outputs().AudioDownloadKey() || r.Width != 0 || r.Bitrate != top ||
		r.PlaylistKey != in.Outputs().HLSPrefix()+"audio/"+strconv.FormatInt(top/1000, 10)+"k/index.m3u8" {
		t.Errorf("rendition %+v", r)
	}

	master := string(MustRead(t, filepath.Join(local, "hls", "master.m3u8")))
	t.Logf("master:\n%s", master)
	entries := parseMaster(t, master)
	if len(entries) != len(wantBitrates) {
		t.Fatalf("master has %d variants, want %d (one per audio bitrate)", len(entries), len(wantBitrates))
	}
	for i, b := range wantBitrates {
		g := strconv.FormatInt(b/1000, 10) + "k"
		v := entries[i]
		bw, _ := strconv.ParseInt(v.attrs["BANDWIDTH"], 10, 64)
		if v.uri != "audio/"+g+"/index.m3u8" || v.attrs["CODECS"] != "mp4a.40.2" || v.attrs["RESOLUTION"] != "" || bw < b/2 || bw > 3*b {
			t.Errorf("variant %d: %+v, want audio/%s with CODECS mp4a.40.2, no RESOLUTION and BANDWIDTH near %d", i, v, g, b)
		}
		playlist := filepath.Join(local, "hls", "audio", g, "index.m3u8")
		segs, err := hls.ReadMediaPlaylist(playlist)
		if err != nil {
			t.Fatal(err)
		}
		var total float64
		for _, s := range segs {
			total += s.Duration
		}
		if math.Abs(total-seconds) > 0.2 || !strings.HasSuffix(strings.TrimSpace(string(MustRead(t, playlist))), "#EXT-X-ENDLIST") {
			t.Errorf("audio %s: %d segments, %.3f s, want %v s and ended", g, len(segs), total, seconds)
		}
	}
	if strings.Contains(master, "RESOLUTION") || strings.Contains(master, "EXT-X-MEDIA") {
		t.Errorf("audio master lists video or audio groups")
	}

	m4a := filepath.Join(local, "mp4", "audio.m4a")
	p := mustAudioProbe(t, m4a)
	d, _ := strconv.ParseFloat(p.Format.Duration, 64)
	if len(p.Streams) != 1 || p.Streams[0].CodecType != "audio" || p.Streams[0].CodecName != "aac" || p.Streams[0].Channels != 2 || math.Abs(d-seconds) > 0.1 {
		t.Errorf("m4a: %+v, want AAC stereo only of %v s", p, seconds)
	}
	data := string(MustRead(t, m4a))
	if i, j := strings.Index(data, "moov"), strings.Index(data, "mdat"); i < 0 || i > j || !strings.Contains(data[:64], "M4A ") {
		t.Errorf("m4a: moov at %d, mdat at %d, brand %q: want moov first and brand M4A", i, j, data[8:12])
	}
	checkAudioContinuous(t, m4a, seconds)

	// ffmpeg plays the master playlist (the top variant) to the end.
	played := mustAudioProbe(t, "-protocol_whitelist", "file", filepath.Join(local, "hls", "master.m3u8"))
	if d, _ := strconv.ParseFloat(played.Format.Duration, 64); math.Abs(d-seconds) > 0.3 || len(played.Streams) == 0 || played.Streams[0].CodecName != "aac" {
		t.Errorf("master playlist plays as %+v, want AAC of %v s", played, seconds)
	}
	keys := e.MustKeys(t, contract.OutputPrefix(in.VideoID))
	if !slices.Contains(keys, in.Outputs().AudioDownloadKey()) || slices.ContainsFunc(keys, func(k string) bool { return strings.HasSuffix(k, ".mp4") && !strings.HasSuffix(k, "/init.mp4") }) {
		t.Errorf("keys %v: want the M4A and no MP4 (but the CMAF tracks' init.mp4)", keys)
	}
}

// TestHandleAudioAsset: the single pass turns each audio format into an
// audio asset.
func TestHandleAudioAsset(t *testing.T) {
	e := MustEnv(t, nil, nil)
	dir := t.TempDir()
	for format := range harness.AudioFormats {
		t.Run(format, func(t *testing.T) {
			in := e.MustUpload(t, harness.MustAudio(t, dir, format, 5))
			out, err := e.worker.Handle(context.Background(), in)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if out.Media.Loudness == nil || out.Media.Loudness.IntegratedLUFS == nil {
				t.Errorf("loudness not measured: %+v", out.Media.Loudness)
			}
			local := e.MustDownload(t, contract.OutputPrefix(in.VideoID), t.TempDir())
			checkAudioPackage(t, e, in, out, local, 5)
		})
	}
	MustBeEmptyDir(t, e.tempDir)
}

// TestSegmentPipelineAudioAsset: an MP3 through the segment pipeline (real
// Kafka and MinIO): one audio item and no video chunk, video.playable
// (0 chunks) before video.transcoded, the same package as the single
// pass, loudness normalized, no work state left.
func TestSegmentPipelineAudioAsset(t *testing.T) {
	se := mustSegEnv(t, 1, func(s *Settings) { s.Loudness.TargetLUFS = -16 }, nil)
	in := se.MustUpload(t, harness.MustAudio(t, t.TempDir(), "mp3", 7))
	se.produce(t, in)

	out := events[contract.VideoTranscoded](t, se.k, contract.TopicTranscoded, in.VideoID, 1)[0]
	playable := events[contract.VideoPlayable](t, se.k, contract.TopicPlayable, in.VideoID, 1)
	if len(playable) != 1 || playable[0].Chunks != 0 || playable[0].Segments < 3 || playable[0].Media.Kind != contract.MediaKindAudio ||
		playable[0].PlayableAt.After(out.TranscodedAt) {
		t.Errorf("video.playable %+v, transcoded at %v", playable, out.TranscodedAt)
	}
	items := se.k.ReadAll(t, contract.TopicTranscodeChunks, 0, 5*time.Second)
	var n int
	for _, m := range items {
		if strings.HasPrefix(string(m.Key), in.VideoID) {
			it, err := contract.Decode[contract.TranscodeChunk](m.Value)
			if err != nil || it.Kind != contract.ChunkAudio || it.Chunks != 0 {
				t.Errorf("work item %+v (%v), want the audio item only", it, err)
			}
			n++
		}
	}
	if n != 1 || se.counts[0].Load() != 0 {
		t.Errorf("%d work items, %d video chunks encoded: want 1 and 0", n, se.counts[0].Load())
	}
	l := out.Media.Loudness
	if l == nil || l.TargetLUFS == nil || *l.TargetLUFS != -16 {
		t.Errorf("loudness %+v, want normalized to -16 LUFS", l)
	}
	se.waitNoWork(t, in.VideoID)
	local := se.MustDownload(t, contract.OutputPrefix(in.VideoID), t.TempDir())
	checkAudioPackage(t, se.env, in, out, local, 7)
}

// TestHandleAudioHostile: an audio file is held to the same limits as a
// video: a duration header far longer than its data, a cut file, one over
// the duration limit, and a FLAC whose data stops early are refused with
// their codes, and nothing is written.
func TestHandleAudioHostile(t *testing.T) {
	e := MustEnv(t, nil, nil)
	dir := t.TempDir()

	// An M4A (faststart) whose movie header says 1 h, with 4 s of data.
	fast := filepath.Join(dir, "fast.m4a")
	MustFFmpeg(t, "-i", harness.MustAudio(t, dir, "flac", 4), "-c:a", "aac", "-movflags", "+faststart", "-f", "ipod", fast)
	data := MustRead(t, fast)
	long := bytes.Clone(data)
	off, _ := box(t, long, "mvhd")
	timescale := binary.BigEndian.Uint32(long[off+20:])
	binary.BigEndian.PutUint32(long[off+24:], timescale*3600)
	over := bytes.Clone(long)
	binary.BigEndian.PutUint32(over[off+24:], timescale*3*3600)
	flac := MustRead(t, harness.MustAudio(t, dir, "flac", 8))

	cases := map[string]struct {
		data []byte
		code string
	}{
		"header 1 h, 4 s of data":     {long, contract.ErrorCodeDurationMismatch},
		"header over the limit":       {over, contract.ErrorCodeTooLarge},
		"faststart m4a cut in half":   {data[:len(data)/2], contract.ErrorCodeDurationMismatch},
		"flac cut to a quarter":       {flac[:len(flac)/4], contract.ErrorCodeDurationMismatch},
		"no stream at all (ID3 only)": {[]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), contract.ErrorCodeCorruptMedia},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			in := e.MustUpload(t, MustWrite(t, t.TempDir(), "hostile", tc.data))
			_, err := e.worker.Handle(context.Background(), in)
			if !stage.IsPermanent(err) || stage.ErrorCode(err) != tc.code {
				t.Fatalf("Handle: %v (code %q), want a permanent %s", err, stage.ErrorCode(err), tc.code)
			}
			t.Logf("refused: %v", err)
			if keys := e.MustKeys(t, contract.OutputPrefix(in.VideoID)); len(keys) != 0 {
				t.Errorf("outputs written for a refused input: %v", keys)
			}
		})
	}
	MustBeEmptyDir(t, e.tempDir)
}

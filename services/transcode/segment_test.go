package transcode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/platform/storage"
)

// segEnv is the segment pipeline against real Kafka (kfake) and MinIO:
// workers, each running the planner, the chunk encoder and the fan-in as
// the transcode binary does.
type segEnv struct {
	*env
	k      *harness.Kafka
	counts []*atomic.Int64 // video chunks encoded, per worker
}

func mustSegEnv(t *testing.T, workers int, mutate func(*Settings), store func(Store) Store) *segEnv {
	t.Helper()
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 4)
	e := MustEnv(t, func(s *Settings) {
		s.ChunkSeconds, s.FirstChunkSeconds, s.GOPSeconds = 2, 1, 2
		if mutate != nil {
			mutate(s)
		}
	}, nil)
	se := &segEnv{env: e, k: k}
	for i := range workers {
		w := e.worker
		if i > 0 || store != nil {
			var st Store = e.store
			if store != nil {
				st = store(e.store)
			}
			nw, err := NewWorker(w.settings, st, w.log.With("worker", i), nil)
			if err != nil {
				t.Fatal(err)
			}
			w = nw
		}
		if err := w.StartChunks(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		n := new(atomic.Int64)
		se.counts = append(se.counts, n)
		se.run(t, w, n)
	}
	return se
}

// run starts the three consumers of w, as cmd/transcode does.
func (se *segEnv) run(t *testing.T, w *Worker, chunks *atomic.Int64) {
	ctx, cancel := context.WithCancel(context.Background())
	base := stage.Options{
		Stage: contract.StageTranscode, Kafka: config.Kafka{Brokers: se.k.Brokers}, Logger: w.log,
		Runtime: config.Stage{Concurrency: 1, MaxAttempts: 2, BackoffInitial: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
			AttemptTimeout: time.Minute, BatchTimeout: time.Millisecond, CommitInterval: config.Off, HTTPAddr: "127.0.0.1:0"},
		SessionTimeout: 6 * time.Second, RebalanceTimeout: 6 * time.Second,
	}
	plan, ch, asm := base, base, base
	plan.Consumer, plan.Spread = "plan", []string{contract.TopicTranscodeChunks}
	ch.Consumer, ch.NoHTTP, ch.InputTopic, ch.OutputTopic, ch.Group = "chunks", true, contract.TopicTranscodeChunks, contract.TopicTranscodeChunksDone, GroupChunks
	asm.Consumer, asm.NoHTTP, asm.InputTopic, asm.Group = "assemble", true, contract.TopicTranscodeChunksDone, GroupAssemble
	audio := ch
	audio.Consumer, audio.Group = "audio", GroupAudio
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); stage.Run(ctx, plan, w.Plan) }()
	go func() { defer wg.Done(); stage.Run(ctx, audio, w.AudioChunk) }()
	go func() {
		defer wg.Done()
		stage.Run(ctx, ch, func(ctx context.Context, in contract.TranscodeChunk) (contract.TranscodeChunkDone, error) {
			out, err := w.VideoChunk(ctx, in)
			if errors.Is(err, stage.ErrNoOutput) && in.Kind == contract.ChunkVideo {
				chunks.Add(1)
			}
			return out, err
		})
	}()
	go func() { defer wg.Done(); stage.Run(ctx, asm, w.Assemble) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func (se *segEnv) produce(t *testing.T, in contract.VideoUploaded) kafka.Message {
	t.Helper()
	m, err := stage.NewMessage(in, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	se.k.Produce(t, m)
	return m
}

// events reads the records of topic about video id (at least n).
func events[T contract.Event](t *testing.T, k *harness.Kafka, topic, id string, n int) []T {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var out []T
		for _, m := range k.ReadAll(t, topic, 0, 10*time.Second) {
			if !strings.HasPrefix(string(m.Key), id) {
				continue
			}
			e, err := contract.Decode[T](m.Value)
			if err != nil {
				t.Fatalf("%s: %v", topic, err)
			}
			out = append(out, e)
		}
		if len(out) >= n || time.Now().After(deadline) {
			if len(out) < n {
				t.Fatalf("%s: %d records for %s within 90s, want %d", topic, len(out), id, n)
			}
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The segment pipeline end to end on two workers: a 9 s clip with audio is
// cut into chunks that both workers encode; video.playable comes before
// video.transcoded; the package is one continuous HLS stream per rung
// with a separate audio rendition, ended playlists, and one MP4 per rung
// (faststart, continuous timestamps, audio for the whole duration); a
// replay of the upload changes nothing.
func TestSegmentPipelineEndToEnd(t *testing.T) {
	se := mustSegEnv(t, 2, nil, nil)
	c := clip{Width: 640, Height: 360, Seconds: 9, Audio: true, FPS: 30, Faststart: true}
	in := se.MustUpload(t, MustClip(t, filepath.Join(t.TempDir(), "source.mp4"), c))
	up := se.produce(t, in)

	out := events[contract.VideoTranscoded](t, se.k, contract.TopicTranscoded, in.VideoID, 1)[0]
	playable := events[contract.VideoPlayable](t, se.k, contract.TopicPlayable, in.VideoID, 1)
	if len(playable) != 1 || playable[0].HLS.MasterKey != contract.HLSMasterKey(in.VideoID) || playable[0].PlayableAt.After(out.TranscodedAt) {
		t.Errorf("video.playable %+v, transcoded at %v", playable, out.TranscodedAt)
	}
	// 1 s, then 2 s chunks: [0,1) [1,3) [3,5) [5,7) [7,9).
	if playable[0].Chunks != 5 || playable[0].Segments != 5 {
		t.Errorf("playable: %d chunks %d segments, want 5 and 5", playable[0].Chunks, playable[0].Segments)
	}
	for i, n := range se.counts {
		if n.Load() == 0 {
			t.Errorf("worker %d encoded no chunk (counts %d, %d): the work did not spread", i, se.counts[0].Load(), se.counts[1].Load())
		}
	}
	done := events[contract.TranscodeChunkDone](t, se.k, contract.TopicTranscodeChunksDone, in.VideoID, 6)
	var audioComplete bool
	for _, d := range done {
		if d.Kind == contract.ChunkAudio && d.Complete {
			audioComplete = true
		}
		if d.SegmentsTotal != 5 || d.Chunks != 5 {
			t.Errorf("done record %+v", d)
		}
	}
	if !audioComplete {
		t.Error("no complete audio record")
	}
	checkEvent(t, in, out, c, 640, 360, []wantRung{{"360p", 640, 360}})

	se.waitNoWork(t, in.VideoID)
	local := se.MustDownload(t, contract.OutputPrefix(in.VideoID), t.TempDir())
	master := string(MustRead(t, filepath.Join(local, "hls", "master.m3u8")))
	t.Logf("master:\n%s", master)
	if !strings.Contains(master, "#EXT-X-MEDIA:TYPE=AUDIO") || !strings.Contains(master, `AUDIO="aud-96k"`) || !strings.Contains(master, "mp4a.40.2") {
		t.Errorf("master has no audio rendition group")
	}
	media := string(MustRead(t, filepath.Join(local, "hls", "360p", "index.m3u8")))
	if !strings.Contains(media, "#EXT-X-PLAYLIST-TYPE:EVENT") || !strings.HasSuffix(strings.TrimSpace(media), "#EXT-X-ENDLIST") {
		t.Errorf("media playlist is not an ended EVENT playlist:\n%s", media)
	}
	durs, uris := readExtinf(t, filepath.Join(local, "hls", "360p", "index.m3u8"))
	if len(uris) != 5 || durs[0] != "1.000000" {
		t.Errorf("segments %v %v, want 5 with a 1 s first one", uris, durs)
	}
	// One continuous stream: concatenated segments decode with frame
	// timestamps every 1/30 s and no gap.
	paths := []string{filepath.Join(local, "hls", "360p", "init.mp4")}
	for _, u := range uris {
		paths = append(paths, filepath.Join(local, "hls", "360p", u))
	}
	checkContinuous(t, "hls 360p", "concat:"+strings.Join(paths, "|"), 30, 9*30)
	mp4 := filepath.Join(local, "mp4", "360p.mp4")
	checkContinuous(t, "mp4 360p", mp4, 30, 9*30)
	d := MustProbeFile(t, mp4)
	dur, _ := strconv.ParseFloat(d.Format.Duration, 64)
	if math.Abs(dur-9) > 0.1 {
		t.Errorf("mp4 duration %v, want 9", dur)
	}
	checkAudioContinuous(t, mp4, 9)
	// The package: HLS and DASH over the same CMAF segments, parsed by
	// stock parsers and played by ffmpeg, decode times continuous across
	// the chunks' boundaries.
	checkPackage(t, local, out, 9*30, 9, true)
	data := MustRead(t, mp4)
	if m, md := strings.Index(string(data), "moov"), strings.Index(string(data), "mdat"); m < 0 || m > md {
		t.Errorf("mp4 not faststart")
	}

	// Late duplicates of the finished run's work items (a planner that was
	// killed after publishing them, redelivered) are dropped: nothing is
	// encoded again and no work state comes back, although the workers
	// still have the plan in memory.
	var items []kafka.Message
	for _, m := range se.k.ReadAll(t, contract.TopicTranscodeChunks, 0, 5*time.Second) {
		if strings.HasPrefix(string(m.Key), in.VideoID+"/") {
			items = append(items, kafka.Message{Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: m.Headers})
		}
	}
	doneBefore := len(events[contract.TranscodeChunkDone](t, se.k, contract.TopicTranscodeChunksDone, in.VideoID, 0))
	se.k.Produce(t, items...)
	se.waitLag(t, contract.TopicTranscodeChunks, GroupChunks)
	se.waitLag(t, contract.TopicTranscodeChunks, GroupAudio)
	if again := len(events[contract.TranscodeChunkDone](t, se.k, contract.TopicTranscodeChunksDone, in.VideoID, 0)) - doneBefore; again != 0 {
		t.Errorf("%d work items of the finished run done again", again)
	}
	se.waitNoWork(t, in.VideoID)

	// Replaying the upload (the same event, e.g. redelivered) runs it
	// again: the same video.transcoded (same ce_id) over the same key set,
	// and no work state left behind.
	before := se.MustKeys(t, contract.OutputPrefix(in.VideoID))
	se.k.Produce(t, up)
	var ids []string
	deadline := time.Now().Add(90 * time.Second)
	for len(ids) < 2 && time.Now().Before(deadline) {
		ids = ids[:0]
		for _, m := range se.k.ReadAll(t, contract.TopicTranscoded, 0, 5*time.Second) {
			if string(m.Key) == in.VideoID {
				ids = append(ids, contract.HeaderValue(stage.FromKafkaHeaders(m.Headers), contract.HeaderID))
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(ids) != 2 || ids[0] != ids[1] {
		t.Errorf("replay: video.transcoded ids %v, want the same id twice", ids)
	}
	se.waitLag(t, contract.TopicTranscodeChunksDone, GroupAssemble)
	se.waitNoWork(t, in.VideoID)
	if after := se.MustKeys(t, contract.OutputPrefix(in.VideoID)); !slices.Equal(before, after) {
		t.Errorf("replay changed the key set:\n%v\n%v", before, after)
	}
}

// waitNoWork waits until the run's work state is gone: the fan-in removes
// it right after publishing video.transcoded.
func (se *segEnv) waitNoWork(t *testing.T, id string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if !slices.ContainsFunc(se.MustKeys(t, contract.OutputPrefix(id)), func(k string) bool { return strings.Contains(k, "/work/") }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the run's work state is still there 30 s after video.transcoded")
		}
	}
}

func (se *segEnv) waitLag(t *testing.T, topic, group string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for se.k.Lag(t, group, topic) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("group %s lags on %s", group, topic)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkContinuous decodes input's video packets and checks there are
// frames of them, spaced exactly 1/fps apart.
func checkContinuous(t *testing.T, what, input string, fps, frames int) {
	t.Helper()
	out := MustFFprobe(t, "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", input)
	var pts []float64
	for _, l := range strings.Fields(string(out)) {
		v, err := strconv.ParseFloat(strings.TrimSuffix(l, ","), 64)
		if err == nil {
			pts = append(pts, v)
		}
	}
	slices.Sort(pts)
	if len(pts) != frames {
		t.Errorf("%s: %d frames, want %d", what, len(pts), frames)
	}
	for i := 1; i < len(pts); i++ {
		if d := pts[i] - pts[i-1]; math.Abs(d-1/float64(fps)) > 0.002 {
			t.Errorf("%s: frame %d at %.4f follows %.4f: gap %.4f s, want %.4f", what, i, pts[i], pts[i-1], d, 1/float64(fps))
			break
		}
	}
}

// checkAudioContinuous checks the file's AAC packets follow each other by
// exactly one frame (1024 samples) and cover the duration.
func checkAudioContinuous(t *testing.T, file string, seconds float64) {
	t.Helper()
	out := MustFFprobe(t, "-select_streams", "a:0", "-show_entries", "packet=pts,duration", "-of", "csv=p=0", file)
	var prev, total int64 = -1, 0
	for _, l := range strings.Fields(string(out)) {
		f := strings.Split(strings.TrimSuffix(l, ","), ",")
		if len(f) < 2 {
			continue
		}
		pts, _ := strconv.ParseInt(f[0], 10, 64)
		d, _ := strconv.ParseInt(f[1], 10, 64)
		if prev >= 0 && pts != prev+1024 {
			t.Errorf("audio packet at %d follows %d: not contiguous", pts, prev)
			return
		}
		prev = pts
		total += d
	}
	if got := float64(total) / 48000; math.Abs(got-seconds) > 0.05 {
		t.Errorf("audio lasts %.3f s, want %.3f", got, seconds)
	}
}

// failingStore fails the uploads of one chunk's segments while fail is set.
type failingStore struct {
	Store
	key  string
	fail *atomic.Bool
}

func (s failingStore) PutFile(ctx context.Context, key, path, contentType string) (storage.ObjectInfo, error) {
	if s.fail.Load() && strings.Contains(key, s.key) {
		return storage.ObjectInfo{}, fmt.Errorf("injected: storage refuses %s", key)
	}
	return s.Store.PutFile(ctx, key, path, contentType)
}

func (s failingStore) Put(ctx context.Context, key string, r io.Reader, size int64, ct string) (storage.ObjectInfo, error) {
	return s.Store.Put(ctx, key, r, size, ct)
}

// A chunk whose retries run out goes to the stage's DLQ with its own key
// (the other chunks finish, no video.transcoded); redriving it (the
// operator's vidpipectl dlq redrive publishes the dead letter's record back
// to its topic) resumes the video where it stopped.
func TestSegmentChunkDeadLetterAndRedrive(t *testing.T) {
	fail := new(atomic.Bool)
	fail.Store(true)
	se := mustSegEnv(t, 1, nil, func(s Store) Store { return failingStore{Store: s, key: "p/seg_00002.m4s", fail: fail} })
	in := se.MustUpload(t, MustClip(t, filepath.Join(t.TempDir(), "source.mp4"), clip{Width: 320, Height: 180, Seconds: 5, Audio: true, FPS: 30}))
	se.produce(t, in)
	dls := se.k.ReadAll(t, contract.TopicTranscodeDLQ, 1, 90*time.Second)
	dl := dls[0]
	if string(dl.Key) != contract.ChunkKey(in.VideoID, contract.ChunkVideo, 2) {
		t.Fatalf("dead letter key %q", dl.Key)
	}
	hs := stage.FromKafkaHeaders(dl.Headers)
	if contract.HeaderValue(hs, contract.HeaderDLQTopic) != contract.TopicTranscodeChunks || !strings.Contains(contract.HeaderValue(hs, contract.HeaderDLQError), "injected") {
		t.Errorf("dead letter headers %v", hs)
	}
	se.waitLag(t, contract.TopicTranscodeChunksDone, GroupAssemble)
	if got := se.k.ReadAll(t, contract.TopicTranscoded, 0, 5*time.Second); len(got) != 0 {
		t.Fatalf("video.transcoded published with a chunk dead-lettered")
	}
	fail.Store(false)
	se.k.Produce(t, kafka.Message{Topic: contract.TopicTranscodeChunks, Key: dl.Key, Value: dl.Value})
	out := events[contract.VideoTranscoded](t, se.k, contract.TopicTranscoded, in.VideoID, 1)[0]
	if len(out.Renditions) != 1 {
		t.Errorf("renditions %+v", out.Renditions)
	}
}

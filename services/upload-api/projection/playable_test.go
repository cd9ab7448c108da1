package projection

import (
	"context"
	"encoding/json"
	"io/fs"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/migrate"
)

// at returns rec at offset o of partition 0 (so that Apply's redelivery
// check applies).
func at(rec Record, o int64) Record { rec.Offset = o; return rec }

// TestApplyPlayable: video.playable moves an uploaded video to playable and
// gives it the HLS master key; video.transcoded moves it on and keeps it.
func TestApplyPlayable(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	c := newChain(t, "alice")
	mustApply(t, s, eventRecord(t, c.up))
	if st := mustGet(t, s, "alice", c.up.VideoID); st.Status != StatusUploaded || st.HLSMasterKey != "" {
		t.Fatalf("after video.uploaded: %s hls %q, want uploaded without HLS", st.Status, st.HLSMasterKey)
	}
	mustApply(t, s, eventRecord(t, c.pl))
	st := mustGet(t, s, "alice", c.up.VideoID)
	if st.Status != StatusPlayable || st.HLSMasterKey != contract.HLSMasterKey(c.up.VideoID) || st.Version != 2 || st.Terminal() || st.Ready != nil {
		t.Fatalf("after video.playable: %s hls %q v%d terminal %v ready %v, want playable with the master key, v2, not terminal, no ready document",
			st.Status, st.HLSMasterKey, st.Version, st.Terminal(), st.Ready != nil)
	}
	var rank int
	var status string
	if err := s.pool.QueryRow(context.Background(), `SELECT stage_rank, status FROM video_status WHERE id = $1`, c.up.VideoID).Scan(&rank, &status); err != nil {
		t.Fatal(err)
	}
	if rank != 2 || status != "playable" {
		t.Fatalf("stored rank/status = %d/%s, want 2/playable", rank, status)
	}
	mustApply(t, s, eventRecord(t, c.tr))
	if st := mustGet(t, s, "alice", c.up.VideoID); st.Status != StatusTranscoded || st.HLSMasterKey != contract.HLSMasterKey(c.up.VideoID) || st.Version != 3 {
		t.Fatalf("after video.transcoded: %s hls %q v%d, want transcoded, the key kept, v3", st.Status, st.HLSMasterKey, st.Version)
	}
	// A late video.playable changes nothing.
	mustApply(t, s, eventRecord(t, c.pl))
	if st := mustGet(t, s, "alice", c.up.VideoID); st.Status != StatusTranscoded || st.Version != 3 {
		t.Fatalf("late video.playable: %s v%d, want transcoded v3", st.Status, st.Version)
	}
}

// TestApplyProgress: the completions on video.transcode.chunks-done count
// each video chunk once (a redelivery at the same offset and a second
// completion of the same chunk at another offset change nothing), the audio
// counts as no chunk, and video.transcoded drops the progress.
func TestApplyProgress(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	c := newChain(t, "alice")
	id := c.up.VideoID
	mustApply(t, s, at(eventRecord(t, c.up), 0))
	wantProgress := func(what string, want *Progress) State {
		t.Helper()
		st := mustGet(t, s, "alice", id)
		switch {
		case want == nil && st.Progress != nil:
			t.Fatalf("%s: progress %+v, want none", what, *st.Progress)
		case want != nil && (st.Progress == nil || *st.Progress != *want):
			t.Fatalf("%s: progress %+v, want %+v", what, st.Progress, *want)
		}
		return st
	}
	wantProgress("uploaded", nil)

	first := at(eventRecord(t, c.done(0, 3, true)), 0)
	mustApply(t, s, first)
	v1 := wantProgress("chunk 0", &Progress{SegmentsDone: 3, SegmentsTotal: 5, ChunksDone: 1, ChunksTotal: 2})
	if v1.Status != StatusUploaded || v1.Version != 2 {
		t.Fatalf("chunk 0: %s v%d, want uploaded v2", v1.Status, v1.Version)
	}
	mustApply(t, s, first)                                       // redelivered
	mustApply(t, s, at(eventRecord(t, c.done(0, 3, true)), 1))   // chunk 0 encoded twice
	mustApply(t, s, at(eventRecord(t, c.done(-1, 4, false)), 2)) // audio: 4 segments so far
	mustApply(t, s, at(eventRecord(t, c.pl), 0))
	st := wantProgress("chunk 0 twice, audio, playable", &Progress{SegmentsDone: 3, SegmentsTotal: 5, ChunksDone: 1, ChunksTotal: 2})
	if st.Status != StatusPlayable || st.Version != 3 {
		t.Fatalf("after video.playable: %s v%d, want playable v3 (duplicates and audio progress change nothing)", st.Status, st.Version)
	}
	mustApply(t, s, at(eventRecord(t, c.done(-1, 9, true)), 3))
	wantProgress("audio complete", &Progress{SegmentsDone: 3, SegmentsTotal: 5, ChunksDone: 1, ChunksTotal: 2, AudioComplete: true})
	mustApply(t, s, at(eventRecord(t, c.done(1, 2, true)), 4))
	mustApply(t, s, at(eventRecord(t, c.done(1, 2, true)), 5))
	wantProgress("every chunk", &Progress{SegmentsDone: 5, SegmentsTotal: 5, ChunksDone: 2, ChunksTotal: 2, AudioComplete: true})

	mustApply(t, s, at(eventRecord(t, c.tr), 0))
	st = wantProgress("transcoded", nil)
	mustApply(t, s, at(eventRecord(t, c.done(1, 2, true)), 6)) // late
	if after := wantProgress("late completion", nil); after.Version != st.Version || after.Status != StatusTranscoded {
		t.Fatalf("late completion: %s v%d, want transcoded v%d", after.Status, after.Version, st.Version)
	}
	var stored []byte
	if err := s.pool.QueryRow(context.Background(), `SELECT progress FROM video_status WHERE id = $1`, id).Scan(&stored); err != nil || stored != nil {
		t.Fatalf("stored progress after transcoded: %s (%v), want NULL", stored, err)
	}
}

// TestApplyProgressNewRun: a completion of another run (video.uploaded
// redriven: a new plan) starts the counts over.
func TestApplyProgressNewRun(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	c := newChain(t, "alice")
	mustApply(t, s, eventRecord(t, c.up))
	mustApply(t, s, eventRecord(t, c.done(0, 3, true)))
	d := c.done(0, 3, true)
	d.Run, d.Chunks, d.SegmentsTotal = contract.DeriveID("another run", c.up.VideoID), 3, 7
	mustApply(t, s, eventRecord(t, d))
	if st := mustGet(t, s, "alice", c.up.VideoID); st.Progress == nil || *st.Progress != (Progress{SegmentsDone: 3, SegmentsTotal: 7, ChunksDone: 1, ChunksTotal: 3}) {
		t.Fatalf("progress %+v, want the new run's 3/7 segments, 1/3 chunks", st.Progress)
	}
}

// TestApplyChunkDeadLetter: a dead letter of a video chunk (key
// "<id>/v00001", value the contract.TranscodeChunk) fails the video with
// stage transcode, its reason and code, even after video.playable; the
// chunk's completion after a redrive resumes it, and video.transcoded
// moves it on. A dead letter whose value was moved out of Kafka is read
// from its key.
func TestApplyChunkDeadLetter(t *testing.T) {
	s := MustStore(t, MustNewDatabase(t))
	c := newChain(t, "alice")
	id := c.up.VideoID
	for _, e := range []contract.Event{c.up, c.done(0, 3, true), c.done(-1, 1, false), c.pl} {
		mustApply(t, s, eventRecord(t, e))
	}
	dl := dlqRecord(t, contract.StageTranscode, c.chunk(1), "ffmpeg: exit status 1", contract.ErrorClassPermanent)
	if string(dl.Key) != id+"/v00001" || contract.HeaderValue(dl.Headers, contract.HeaderDLQTopic) != contract.TopicTranscodeChunks {
		t.Fatalf("fixture: dead letter key %q topic %q", dl.Key, contract.HeaderValue(dl.Headers, contract.HeaderDLQTopic))
	}
	for i, h := range dl.Headers {
		if h.Key == contract.HeaderDLQErrorCode {
			dl.Headers[i].Value = []byte(contract.ErrorCodeCorruptMedia)
		}
	}
	mustApply(t, s, dl)
	st := mustGet(t, s, "alice", id)
	if st.Status != StatusFailed || st.FailedStage != contract.StageTranscode || st.Reason != "ffmpeg: exit status 1" ||
		st.ErrorCode != contract.ErrorCodeCorruptMedia || st.ErrorClass != contract.ErrorClassPermanent || st.Attempts != 3 ||
		st.FailedItem != "v00001" || !st.Terminal() || st.Progress != nil {
		t.Fatalf("chunk dead letter: %+v, want failed at transcode (item v00001, corrupt_media, the reason), no progress shown", st)
	}
	// Chunk 0 again (a redelivery of its work) does not clear it.
	mustApply(t, s, eventRecord(t, c.done(0, 3, true)))
	if st := mustGet(t, s, "alice", id); st.Status != StatusFailed {
		t.Fatalf("another chunk's completion: %s, want failed", st.Status)
	}
	// Redriven: chunk 1 completes; the video is playable again.
	mustApply(t, s, eventRecord(t, c.done(1, 2, true)))
	st = mustGet(t, s, "alice", id)
	if st.Status != StatusPlayable || st.FailedStage != "" || st.ErrorCode != "" || st.FailedItem != "" ||
		st.Progress == nil || st.Progress.ChunksDone != 2 || st.HLSMasterKey == "" {
		t.Fatalf("after the redriven chunk: %+v, want playable with its progress and HLS", st)
	}
	// The same dead letter read again (stale: the chunk is done) changes nothing.
	mustApply(t, s, dl)
	if again := mustGet(t, s, "alice", id); again.Status != StatusPlayable || again.Version != st.Version {
		t.Fatalf("stale chunk dead letter: %s v%d, want playable v%d", again.Status, again.Version, st.Version)
	}

	// Too large for Kafka: no value, the key names video and chunk.
	c2 := newChain(t, "alice")
	mustApply(t, s, eventRecord(t, c2.up))
	moved := dlqRecord(t, contract.StageTranscode, c2.chunk(0), "boom", contract.ErrorClassExhausted)
	moved.Value = nil
	moved.Headers = append(moved.Headers, contract.Header{Key: contract.HeaderDLQValueRef, Value: []byte("s3://vidpipe/deadletters/x")})
	mustApply(t, s, moved)
	if st := mustGet(t, s, "alice", c2.up.VideoID); st.Status != StatusFailed || st.FailedItem != "v00000" || st.Reason != "boom" {
		t.Fatalf("dead letter without value: %s item %q reason %q, want failed v00000 boom", st.Status, st.FailedItem, st.Reason)
	}
	// A redrive that goes all the way: video.playable keeps the failure
	// (chunk 0's completion is not read yet), video.transcoded ends it.
	mustApply(t, s, eventRecord(t, c2.pl))
	if st := mustGet(t, s, "alice", c2.up.VideoID); st.Status != StatusFailed {
		t.Fatalf("video.playable before the failed chunk's completion: %s, want failed", st.Status)
	}
	mustApply(t, s, eventRecord(t, c2.tr))
	if st := mustGet(t, s, "alice", c2.up.VideoID); st.Status != StatusTranscoded || st.FailedItem != "" || st.HLSMasterKey == "" {
		t.Fatalf("video.transcoded after the redrive: %s item %q hls %q, want transcoded", st.Status, st.FailedItem, st.HLSMasterKey)
	}
}

// TestConsumerSegmentPipeline: through a real broker, the consumer reads
// video.playable, the completions and a chunk's dead letter (keyed
// "<id>/v00001"), and does not subscribe to the work items themselves.
func TestConsumerSegmentPipeline(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 3)
	s := MustStore(t, MustNewDatabase(t))
	group := harness.RandomName("upload-api")
	cons, _ := startConsumer(t, k, s, group, nil)
	if slices.Contains(cons.topics, contract.TopicTranscodeChunks) || !slices.Contains(cons.topics, contract.TopicTranscodeChunksDone) ||
		!slices.Contains(cons.topics, contract.TopicPlayable) {
		t.Fatalf("consumer topics %v: want video.playable and video.transcode.chunks-done, not video.transcode.chunks", cons.topics)
	}
	ok, failed := newChain(t, "alice"), newChain(t, "alice")
	produce(t, k, records(t, ok.up, ok.chunk(0), ok.done(0, 3, true), ok.done(0, 3, true), ok.done(-1, 2, false), ok.pl, ok.done(1, 2, true))...)
	produce(t, k, records(t, failed.up, failed.done(0, 3, true), failed.pl)...)
	produce(t, k, dlqRecord(t, contract.StageTranscode, failed.chunk(1), "chunk 1 broke", contract.ErrorClassExhausted))
	waitCaughtUp(t, k, group)
	st := wantStatus(t, s, "alice", ok, StatusPlayable, "", "")
	if st.Progress == nil || *st.Progress != (Progress{SegmentsDone: 5, SegmentsTotal: 5, ChunksDone: 2, ChunksTotal: 2}) || st.HLSMasterKey == "" {
		t.Fatalf("playable video: progress %+v hls %q, want 5/5 segments, 2/2 chunks and the HLS key", st.Progress, st.HLSMasterKey)
	}
	if st := wantStatus(t, s, "alice", failed, StatusFailed, contract.StageTranscode, "chunk 1 broke"); st.FailedItem != "v00001" {
		t.Fatalf("failed item %q, want v00001", st.FailedItem)
	}
}

// TestMigrationRenumbersRanks: a database written with the ranks before
// video.playable (uploaded 1, transcoded 2, thumbnailed 3, ready 4) keeps
// its meaning after migration 0005: every rank from 2 on moves up by one,
// failed rows too, and transcoded videos get their HLS master key.
func TestMigrationRenumbersRanks(t *testing.T) {
	ctx := context.Background()
	pool := MustPool(t, MustNewDatabase(t))
	// The schema as the release before 0005 left it.
	old := fstest.MapFS{}
	for _, name := range []string{"0001_video_status.sql", "0002_upload_reservations.sql", "0003_failure_code.sql", "0004_stage_rank_any.sql"} {
		b, err := fs.ReadFile(source().FS, name)
		if err != nil {
			t.Fatal(err)
		}
		old[name] = &fstest.MapFile{Data: b}
	}
	if _, err := migrate.Up(ctx, pool, migrate.Source{FS: old, Table: VersionTable, Legacy: legacyTable}); err != nil {
		t.Fatalf("migrate to 0004: %v", err)
	}
	type oldRow struct {
		c            chain
		status       string
		rank         int
		failedStage  contract.Stage
		ready        bool
		wantStatus   Status
		wantRank     int
		wantHLS      bool
		wantComplete bool
	}
	rows := []*oldRow{
		{c: newChain(t, "alice"), status: "uploaded", rank: 1, wantStatus: StatusUploaded, wantRank: 1},
		{c: newChain(t, "alice"), status: "transcoded", rank: 2, wantStatus: StatusTranscoded, wantRank: 3, wantHLS: true},
		{c: newChain(t, "alice"), status: "thumbnailed", rank: 3, wantStatus: StatusThumbnailed, wantRank: 4, wantHLS: true},
		{c: newChain(t, "alice"), status: "ready", rank: 4, ready: true, wantStatus: StatusReady, wantRank: 5, wantHLS: true, wantComplete: true},
		{c: newChain(t, "alice"), status: "failed", rank: 1, failedStage: contract.StageTranscode, wantStatus: StatusFailed, wantRank: 1},
		{c: newChain(t, "alice"), status: "failed", rank: 2, failedStage: contract.StageThumbnail, wantStatus: StatusFailed, wantRank: 3, wantHLS: true},
		{c: newChain(t, "alice"), status: "failed", rank: 3, failedStage: contract.StageIndexer, wantStatus: StatusFailed, wantRank: 4, wantHLS: true},
	}
	for _, r := range rows {
		uploaded, err := json.Marshal(r.c.up)
		if err != nil {
			t.Fatal(err)
		}
		var ready []byte
		if r.ready {
			if ready, err = json.Marshal(r.c.ready); err != nil {
				t.Fatal(err)
			}
		}
		reason := ""
		if r.failedStage != "" {
			reason = "it broke"
		}
		if _, err := pool.Exec(ctx, `INSERT INTO video_status (id, owner, status, stage_rank, failed_stage, reason, uploaded, ready)
			VALUES ($1, 'alice', $2, $3, $4, $5, $6, $7)`, r.c.up.VideoID, r.status, r.rank, string(r.failedStage),
			reason, uploaded, ready); err != nil {
			t.Fatalf("insert a %s row as the old release did: %v", r.status, err)
		}
	}

	s, err := Open(ctx, pool, WithLogger(testLogger(t, nil)))
	if err != nil {
		t.Fatalf("Open (migrates to the end): %v", err)
	}
	for _, r := range rows {
		var rank int
		if err := pool.QueryRow(ctx, `SELECT stage_rank FROM video_status WHERE id = $1`, r.c.up.VideoID).Scan(&rank); err != nil {
			t.Fatal(err)
		}
		st := mustGet(t, s, "alice", r.c.up.VideoID)
		if rank != r.wantRank || st.Status != r.wantStatus || st.Complete != r.wantComplete || st.FailedStage != r.failedStage ||
			(st.HLSMasterKey != "") != r.wantHLS || (r.wantHLS && st.HLSMasterKey != contract.HLSMasterKey(r.c.up.VideoID)) {
			t.Errorf("old %s row at rank %d (failed %q): now rank %d, %s, complete %v, hls %q; want rank %d, %s, complete %v, HLS %v",
				r.status, r.rank, r.failedStage, rank, st.Status, st.Complete, st.HLSMasterKey, r.wantRank, r.wantStatus, r.wantComplete, r.wantHLS)
		}
	}
	// The renumbered rows move on as new ones do: a late video.playable
	// changes nothing past it, video.thumbnailed moves a transcoded one.
	tr, up := rows[1], rows[0]
	mustApply(t, s, eventRecord(t, tr.c.pl))
	mustApply(t, s, eventRecord(t, tr.c.th))
	if st := mustGet(t, s, "alice", tr.c.up.VideoID); st.Status != StatusThumbnailed {
		t.Errorf("renumbered transcoded row after video.playable and video.thumbnailed: %s, want thumbnailed", st.Status)
	}
	mustApply(t, s, eventRecord(t, up.c.pl))
	if st := mustGet(t, s, "alice", up.c.up.VideoID); st.Status != StatusPlayable {
		t.Errorf("uploaded row after video.playable: %s, want playable", st.Status)
	}
}

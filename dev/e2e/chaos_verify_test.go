package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // posters and thumbnails are JPEG
	"io"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/stage"
)

// chaosVerdict is what the checks after the chaos found.
type chaosVerdict struct {
	ready, failed int
	// lost counts accepted videos that reached no final state, or good
	// ones without a video.ready record.
	lost int
	// readyRecords is the number of video.ready records; duplicateRecords
	// those beyond the first per key; differingDuplicates the keys whose
	// records do not all carry the same document.
	readyRecords, duplicateRecords, differingDuplicates int
	// dlqRecords counts records per dead-letter topic.
	dlqRecords map[string]int
	// unaccounted counts video ids in video.uploaded that no accepted
	// input has (a publish acknowledged after the API gave up, or after
	// it died); unannounced the source objects stored under uploads/
	// whose id never reached video.uploaded (the API died or gave up
	// before the broker had the record).
	unaccounted, unannounced int
	// records and rawDuplicates count, per topic (stage topics and DLQs),
	// the records and those beyond the first per video id.
	records, rawDuplicates map[string]int
	// logicalDuplicates counts (video, topic) pairs with more than one
	// distinct ce_id: the same logical event published under two ids, or
	// two logical events where one is expected; byTopic per topic.
	logicalDuplicates int
	logicalByTopic    map[string]int
	// idsChecked counts the records whose ce_id was compared with its
	// derivation (contract/ids.go: UploadedEventID, OutputEventID, a dead
	// letter keeps its input's id); idsNotDerived those that differ.
	idsChecked, idsNotDerived int
	// sameIDDiffers counts, per topic, the videos with two records of the
	// same ce_id whose values differ (one logical event, two contents).
	sameIDDiffers map[string]int
	// leftoverDirs counts entries left in the workers' temp directories.
	leftoverDirs map[string]int
	// fanIn is, per video, when its fan-in was under way (for the segment
	// faults' report).
	fanIn map[string]fanInSpan
	// chunksMin and chunksMax bound the video chunks of the good videos;
	// items their work items (video chunks and audio) completed, redone
	// the completions announced again (a redelivered or redone item).
	chunksMin, chunksMax, items, redone int
	// itemsUnannounced counts items that completed (their video was
	// transcoded) without a chunks-done record of their own.
	itemsUnannounced int
}

// verify checks the final state of every accepted input; each violation
// is a test error.
func (s *chaosStack) verify(t *testing.T, accepted []*chaosInput) chaosVerdict {
	t.Helper()
	ctx := context.Background()
	v := chaosVerdict{dlqRecords: map[string]int{}, leftoverDirs: map[string]int{},
		records: map[string]int{}, rawDuplicates: map[string]int{}, logicalByTopic: map[string]int{}, sameIDDiffers: map[string]int{},
		fanIn: map[string]fanInSpan{}}

	topics := map[string]map[string][]kafka.Message{}
	for _, topic := range contract.AllTopics() {
		topics[topic] = byKey(s.readTopic(t, topic))
	}
	s.verifyEventIDs(t, topics, &v)
	ready := topics[contract.TopicReady]
	v.readyRecords = countRecords(ready)
	dlq := map[string]map[string][]kafka.Message{}
	for _, topic := range contract.DLQTopics() {
		// A work item's dead letter keeps its key "<video id>/<item>".
		dlq[topic] = byVideo(topics[topic])
		v.dlqRecords[topic] = countRecords(dlq[topic])
	}
	for id, msgs := range topics[contract.TopicTranscodeChunksDone] {
		span := v.fanIn[id]
		for _, m := range msgs {
			if span.first.IsZero() || m.Time.Before(span.first) {
				span.first = m.Time
			}
		}
		for _, m := range topics[contract.TopicTranscoded][id] {
			if span.transcoded.IsZero() || m.Time.Before(span.transcoded) {
				span.transcoded = m.Time
			}
		}
		v.fanIn[id] = span
	}
	catalog := s.catalogDocuments(t)
	known := map[string]bool{}
	for _, in := range accepted {
		known[in.id] = true
	}
	for id := range topics[contract.TopicUploaded] {
		if !known[id] {
			v.unaccounted++
			t.Logf("video.uploaded holds %s, which no accepted upload returned (an acknowledgement the API did not see)", id)
		}
	}
	for key := range s.listObjects(t, "uploads/") {
		id, rest, _ := strings.Cut(strings.TrimPrefix(key, "uploads/"), "/")
		if rest == "source" && contract.SourceKey(id) == key && len(topics[contract.TopicUploaded][id]) == 0 {
			v.unannounced++
			t.Logf("%s is stored but was never announced on video.uploaded (known to a client: %v)", key, known[id])
		}
	}

	good := 0
	for _, in := range accepted {
		st, err := s.status(ctx, in.id)
		if err != nil {
			t.Errorf("%s (%s): %v", in.title, in.id, err)
		}
		switch st.Status {
		case "ready":
			v.ready++
		case "failed":
			v.failed++
		default:
			v.lost++
			t.Errorf("LOST %s (%s): final status %q", in.title, in.id, st.Status)
		}
		if in.good() {
			good++
			s.verifyGood(t, in, st, ready[in.id], dlq, catalog, &v)
			if in.kind == kindGood { // an audio asset has no video chunks
				s.verifyChunks(t, in, topics, &v)
			}
		} else {
			s.verifyBad(t, in, st, ready[in.id], dlq, catalog)
		}
	}
	if v.readyRecords < good {
		t.Errorf("%d video.ready records for %d good videos", v.readyRecords, good)
	}
	for _, line := range s.lags(t) {
		t.Errorf("stuck: %s", line)
	}
	for _, p := range s.workers {
		entries, _ := os.ReadDir(p.tmpDir)
		v.leftoverDirs[p.name] = len(entries)
	}
	if orphans := orphanProcesses(s.workers); len(orphans) > 0 {
		t.Errorf("processes still running in the workers' work directories after the pipeline settled: %v", orphans)
	}
	return v
}

// verifyEventIDs counts the records of every topic and checks that every
// video has one distinct ce_id per topic: every stage derives its output's
// ce_id from its input's (contract.OutputEventID), the API its
// video.uploaded's from the video id (contract.UploadedEventID), and a dead
// letter keeps its input's, so a redelivery duplicate repeats the id and
// a second id is a second logical event. (A deliberate redrive gets a new
// id; the chaos test redrives nothing.) It also counts the ce_ids that do
// not follow the derivation, for the summary.
func (s *chaosStack) verifyEventIDs(t *testing.T, topics map[string]map[string][]kafka.Message, v *chaosVerdict) {
	t.Helper()
	idsOf := func(msgs []kafka.Message) []string {
		seen := map[string]bool{}
		var ids []string
		for _, m := range msgs {
			id := contract.HeaderValue(stage.FromKafkaHeaders(m.Headers), contract.HeaderID)
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		return ids
	}
	for _, topic := range contract.AllTopics() {
		for _, key := range sortedKeys(topics[topic]) {
			msgs := topics[topic][key]
			v.records[topic] += len(msgs)
			if topic == contract.TopicTranscodeChunksDone {
				// Many logical events per video: one per work item
				// completed, and the audio's progress.
				s.verifyDoneIDs(t, key, msgs, v)
				continue
			}
			v.rawDuplicates[topic] += len(msgs) - 1
			if ids := idsOf(msgs); len(ids) != 1 {
				v.logicalDuplicates++
				v.logicalByTopic[topic]++
				var offsets []string
				for _, m := range msgs {
					offsets = append(offsets, fmt.Sprintf("%d/%d: %s", m.Partition, m.Offset,
						contract.HeaderValue(stage.FromKafkaHeaders(m.Headers), contract.HeaderID)))
				}
				t.Errorf("LOGICAL DUPLICATE: video %s on %s: %d records with %d distinct ce_ids, want 1 (partition/offset: ce_id: %s)",
					key, topic, len(msgs), len(ids), strings.Join(offsets, ", "))
			}
		}
	}
	// One ce_id, one content: a record repeating an id must repeat the
	// value (reported, with the differences, for the summary; differing
	// video.ready documents fail the test in verifyGood).
	for _, topic := range contract.AllTopics() {
		for _, key := range sortedKeys(topics[topic]) {
			first := map[string]kafka.Message{}
			for _, m := range topics[topic][key] {
				id := contract.HeaderValue(stage.FromKafkaHeaders(m.Headers), contract.HeaderID)
				f, ok := first[id]
				if !ok {
					first[id] = m
					continue
				}
				if d, err := jsonDiff(f.Value, m.Value); err == nil && len(d) > 0 {
					v.sameIDDiffers[topic]++
					t.Logf("video %s on %s: records at offsets %d and %d share ce_id %s but differ: %s",
						key, topic, f.Offset, m.Offset, id, strings.Join(d, "; "))
					break
				}
			}
		}
	}
	// The derivation, record by record (a record whose input is not on
	// the topics, such as the test's direct publish of a video.transcoded,
	// cannot be checked).
	want := func(topic, key string) map[string]bool {
		ok := map[string]bool{}
		if topic == contract.TopicUploaded {
			ok[contract.UploadedEventID(key)] = true
			return ok
		}
		// A milestone (transcode's video.playable) is named after its
		// stage's input like the output.
		for _, st := range contract.DefaultPipeline().Stages {
			for _, m := range st.Milestones {
				if topic == m.Topic {
					for _, in := range idsOf(topics[st.Input][key]) {
						ok[contract.MilestoneEventID(st.Name, m.Topic, in)] = true
					}
				}
			}
		}
		if len(ok) > 0 {
			return ok
		}
		for _, st := range contract.Stages {
			if topic == st.OutputTopic() {
				for _, in := range idsOf(topics[st.InputTopic()][key]) {
					ok[contract.OutputEventID(st, in)] = true
				}
			}
			if topic == st.DLQTopic() {
				for _, in := range idsOf(topics[st.InputTopic()][key]) {
					ok[in] = true
				}
			}
		}
		return ok
	}
	logged := 0
	for _, topic := range contract.AllTopics() {
		for key, msgs := range topics[topic] {
			ok := want(topic, key)
			if len(ok) == 0 {
				continue
			}
			for _, m := range msgs {
				v.idsChecked++
				id := contract.HeaderValue(stage.FromKafkaHeaders(m.Headers), contract.HeaderID)
				if !ok[id] {
					v.idsNotDerived++
					if logged < 3 {
						logged++
						t.Logf("ce_id %s of video %s on %s (offset %d) is not the one contract/ids.go derives", id, key, topic, m.Offset)
					}
				}
			}
		}
	}
}

// verifyDoneIDs checks one video's video.transcode.chunks-done records:
// the same completion (a work item done, or the audio's progress at n
// segments) delivered again carries the same ce_id; a second id is a
// logical duplicate. Redeliveries are counted as raw duplicates.
func (s *chaosStack) verifyDoneIDs(t *testing.T, video string, msgs []kafka.Message, v *chaosVerdict) {
	t.Helper()
	topic := contract.TopicTranscodeChunksDone
	ids := map[string]map[string]bool{}
	var order []string
	for _, m := range msgs {
		d, err := contract.Decode[contract.TranscodeChunkDone](m.Value)
		if err != nil {
			t.Errorf("video %s: %s record at offset %d does not decode: %v", video, topic, m.Offset, err)
			continue
		}
		what := fmt.Sprintf("%s segments=%d complete=%v", contract.ChunkKey(d.VideoID, d.Kind, d.Index), d.Segments, d.Complete)
		if ids[what] == nil {
			ids[what] = map[string]bool{}
			order = append(order, what)
		} else {
			v.rawDuplicates[topic]++
		}
		ids[what][contract.HeaderValue(stage.FromKafkaHeaders(m.Headers), contract.HeaderID)] = true
	}
	for _, what := range order {
		if n := len(ids[what]); n != 1 {
			v.logicalDuplicates++
			v.logicalByTopic[topic]++
			t.Errorf("LOGICAL DUPLICATE: video %s on %s: %s announced under %d distinct ce_ids, want 1", video, topic, what, n)
		}
	}
}

// verifyChunks checks that a good video went through the segment
// pipeline: cut into several chunks (chaosMinChunks), every video chunk
// and the audio completed, video.playable published.
func (s *chaosStack) verifyChunks(t *testing.T, in *chaosInput, topics map[string]map[string][]kafka.Message, v *chaosVerdict) {
	t.Helper()
	name := fmt.Sprintf("%s (%s)", in.title, in.id)
	if len(topics[contract.TopicPlayable][in.id]) == 0 {
		t.Errorf("%s: no video.playable record", name)
	}
	chunks := 0
	complete := map[string]int{}
	for _, m := range topics[contract.TopicTranscodeChunksDone][in.id] {
		d, err := contract.Decode[contract.TranscodeChunkDone](m.Value)
		if err != nil {
			continue // reported by verifyDoneIDs
		}
		chunks = max(chunks, d.Chunks)
		if d.Complete {
			complete[contract.ChunkKey(d.VideoID, d.Kind, d.Index)]++
		}
	}
	if chunks < chaosMinChunks {
		t.Errorf("%s: cut into %d video chunks, want at least %d (a %d s clip, chunk_seconds %d)", name, chunks, chaosMinChunks, chaosClipSeconds, chaosChunkSeconds)
	}
	if v.chunksMin == 0 || chunks < v.chunksMin {
		v.chunksMin = chunks
	}
	v.chunksMax = max(v.chunksMax, chunks)
	want := []string{contract.ChunkKey(in.id, contract.ChunkAudio, 0)}
	for i := range chunks {
		want = append(want, contract.ChunkKey(in.id, contract.ChunkVideo, i))
	}
	for _, item := range want {
		switch n := complete[item]; {
		case n == 0 && len(topics[contract.TopicTranscoded][in.id]) > 0:
			// The fan-in assembles from the chunks' markers, not from
			// their announcements: a chunk whose marker is stored but
			// whose chunks-done failed to publish (the broker was down)
			// is assembled by the fan-in of another item's record, and
			// its retry then finds the run finished (errPlanGone) and
			// announces nothing. video.transcoded is out, so the item
			// completed.
			v.items++
			v.itemsUnannounced++
			t.Logf("%s: work item %s completed without a chunks-done record (the fan-in read its marker first)", name, item)
		case n == 0:
			t.Errorf("%s: work item %s never completed (no chunks-done record with complete=true, no video.transcoded)", name, item)
		default:
			v.items++
			v.redone += n - 1
		}
	}
}

// byVideo groups records by video id: the key up to its first "/" (work
// items are keyed "<video id>/<item>").
func byVideo(m map[string][]kafka.Message) map[string][]kafka.Message {
	out := map[string][]kafka.Message{}
	for key, msgs := range m {
		id, _, _ := strings.Cut(key, "/")
		out[id] = append(out[id], msgs...)
	}
	return out
}

// verifyGood checks a good video: ready, once in the catalog with the
// document its last video.ready carries, no dead letter, every object
// present and decodable, duplicates identical.
func (s *chaosStack) verifyGood(t *testing.T, in *chaosInput, st videoStatus, ready []kafka.Message,
	dlq map[string]map[string][]kafka.Message, catalog map[string][]byte, v *chaosVerdict) {
	t.Helper()
	name := fmt.Sprintf("%s (%s)", in.title, in.id)
	if st.Status != "ready" {
		reason := ""
		if st.Failure != nil {
			reason = fmt.Sprintf(": %s failed (%s): %s", st.Failure.Stage, st.Failure.Class, st.Failure.Reason)
		}
		t.Errorf("%s: status %q, want ready%s", name, st.Status, reason)
	}
	for topic, byID := range dlq {
		if n := len(byID[in.id]); n > 0 {
			dl, _ := contract.ParseDeadLetter(stage.FromKafkaHeaders(byID[in.id][0].Headers))
			t.Errorf("%s: good video dead-lettered %d time(s) on %s: %s (%s, %d attempts)", name, n, topic, dl.Err, dl.Class, dl.Attempts)
		}
	}
	if len(ready) == 0 {
		if st.Status == "ready" {
			v.lost++ // ready in the API but no record: counted once
		}
		t.Errorf("LOST %s: no video.ready record", name)
		return
	}
	if len(ready) > 1 {
		v.duplicateRecords += len(ready) - 1
		var diffs []string
		for i, m := range ready[1:] {
			d, err := jsonDiff(ready[0].Value, m.Value)
			if err != nil {
				t.Errorf("%s: video.ready record %d: %v", name, i+2, err)
			}
			if len(d) > 0 {
				diffs = append(diffs, fmt.Sprintf("record %d (offset %d) vs first (offset %d): %s",
					i+2, m.Offset, ready[0].Offset, strings.Join(d, "; ")))
			}
		}
		if len(diffs) > 0 {
			v.differingDuplicates++
			t.Errorf("%s: %d video.ready records that differ:\n  %s", name, len(ready), strings.Join(diffs, "\n  "))
		} else {
			t.Logf("%s: %d identical video.ready records (a redelivery)", name, len(ready))
		}
	}
	last := ready[len(ready)-1].Value
	row, ok := catalog[in.id]
	if !ok {
		t.Errorf("%s: not in the catalog", name)
	} else if d, err := jsonDiff(last, row); err != nil || len(d) > 0 {
		t.Errorf("%s: catalog document differs from the last video.ready (%v): %s", name, err, strings.Join(d, "; "))
	}
	doc, err := contract.Decode[contract.VideoReady](last)
	if err != nil {
		t.Errorf("%s: video.ready does not decode: %v", name, err)
		return
	}
	if doc.Title != in.title || doc.Owner != chaosOwner {
		t.Errorf("%s: document title %q owner %q", name, doc.Title, doc.Owner)
	}
	if in.kind == kindAudioOnly && (!doc.Media.IsAudio() || len(doc.Renditions) != 1 || doc.Renditions[0].Key != doc.Outputs().AudioDownloadKey()) {
		t.Errorf("%s: media %+v renditions %+v, want an audio asset with its M4A", name, doc.Media, doc.Renditions)
	}
	s.verifyObjects(t, name, doc)
}

// verifyBad checks a bad input: failed with a reason, dead-lettered by the
// expected stage only, not in the catalog, no output object, no video.ready.
func (s *chaosStack) verifyBad(t *testing.T, in *chaosInput, st videoStatus, ready []kafka.Message,
	dlq map[string]map[string][]kafka.Message, catalog map[string][]byte) {
	t.Helper()
	name := fmt.Sprintf("%s [%s] (%s)", in.title, in.kind, in.id)
	switch {
	case st.Status != "failed":
		t.Errorf("%s: status %q, want failed", name, st.Status)
	case st.Failure == nil || st.Failure.Reason == "":
		t.Errorf("%s: failed without a reason: %+v", name, st.Failure)
	case st.Failure.Stage != string(in.wantStage):
		t.Errorf("%s: failed at stage %q, want %q (reason %s)", name, st.Failure.Stage, in.wantStage, st.Failure.Reason)
	default:
		t.Logf("%s failed as expected at %s (%s): %s", name, st.Failure.Stage, st.Failure.Class, st.Failure.Reason)
	}
	for topic, byID := range dlq {
		msgs := byID[in.id]
		if topic != in.wantStage.DLQTopic() {
			if len(msgs) > 0 {
				t.Errorf("%s: %d record(s) in %s, want none there", name, len(msgs), topic)
			}
			continue
		}
		if len(msgs) == 0 {
			t.Errorf("%s: not in %s", name, topic)
		}
		for _, m := range msgs {
			dl, ok := contract.ParseDeadLetter(stage.FromKafkaHeaders(m.Headers))
			if !ok || dl.Err == "" || dl.Class != contract.ErrorClassPermanent || dl.Stage != in.wantStage {
				t.Errorf("%s: dead letter %+v, want a permanent %s failure with a reason", name, dl, in.wantStage)
			}
		}
		if len(msgs) > 1 {
			t.Logf("%s: dead-lettered %d times (a redelivery)", name, len(msgs))
		}
	}
	if len(ready) > 0 {
		t.Errorf("%s: %d video.ready record(s) for a bad input", name, len(ready))
	}
	if _, ok := catalog[in.id]; ok {
		t.Errorf("%s: in the catalog", name)
	}
	if in.kind != kindNoRendition { // its transcode outputs are imaginary
		if objs := s.listObjects(t, contract.OutputPrefix(in.id)); len(objs) > 0 {
			t.Errorf("%s: outputs written for a bad input: %v", name, sortedKeys(objs))
		}
	}
}

// verifyObjects checks that every object doc names exists with the
// announced size, that the HLS playlists and segments exist, that the
// largest rendition decodes completely at its announced size, and that
// the poster and small thumbnail decode at their announced sizes.
func (s *chaosStack) verifyObjects(t *testing.T, name string, doc contract.VideoReady) {
	t.Helper()
	objs := s.listObjects(t, contract.OutputPrefix(doc.VideoID))
	want := map[string]int64{doc.HLS.MasterKey: 0}
	for _, r := range doc.Renditions {
		want[r.Key] = r.Size
		if r.PlaylistKey != "" {
			want[r.PlaylistKey] = 0
		}
	}
	th := doc.Thumbnails
	want[th.Poster.Key], want[th.Small.Key] = th.Poster.Size, th.Small.Size
	if th.Sprite != nil {
		want[th.Sprite.Key] = th.Sprite.Size
	}
	if th.SpriteVTTKey != "" {
		want[th.SpriteVTTKey] = 0
	}
	for key, size := range want {
		got, ok := objs[key]
		switch {
		case !ok:
			t.Errorf("%s: object %s missing", name, key)
		case size > 0 && got != size:
			t.Errorf("%s: object %s has %d bytes, the document says %d", name, key, got, size)
		}
	}
	// Every playlist the master names (video variants, and the audio
	// renditions: the good clip has sound), each complete.
	master := s.getObject(t, name, doc.HLS.MasterKey)
	audio := mediaURIs(master)
	if len(audio) == 0 && !doc.Media.IsAudio() { // an audio asset's variants are its audio renditions
		t.Errorf("%s: the master playlist names no audio rendition:\n%s", name, master)
	}
	for _, ref := range append(playlistURIs(master), audio...) {
		key := path.Join(path.Dir(doc.HLS.MasterKey), ref)
		if _, ok := objs[key]; !ok {
			t.Errorf("%s: master playlist names %s, which is missing", name, key)
			continue
		}
		s.verifyMediaPlaylist(t, name, key, objs, doc.Media.DurationSeconds)
	}
	// A transcoded run leaves no work state (plan, markers) behind.
	for key := range objs {
		if strings.HasPrefix(key, contract.OutputPrefix(doc.VideoID)+"work/") {
			t.Errorf("%s: work state left after the transcode: %s", name, key)
		}
	}
	if len(doc.Renditions) > 0 {
		s.verifyRendition(t, name, doc.Renditions[len(doc.Renditions)-1], doc.Media.DurationSeconds)
	}
	for _, im := range []contract.Image{th.Poster, th.Small} {
		b := s.getObject(t, name, im.Key)
		img, _, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			t.Errorf("%s: %s does not decode: %v", name, im.Key, err)
			continue
		}
		if sz := img.Bounds().Size(); sz.X != im.Width || sz.Y != im.Height {
			t.Errorf("%s: %s is %dx%d, the document says %dx%d", name, im.Key, sz.X, sz.Y, im.Width, im.Height)
		}
	}
}

// chaosDurationSlack is how far a finished playlist's or MP4's duration
// may be from the source's.
const chaosDurationSlack = 0.5

// verifyMediaPlaylist checks a finished media playlist assembled from
// chunks: it ends with #EXT-X-ENDLIST, maps its track's init segment
// (#EXT-X-MAP:URI="init.mp4", stored), names seg_00000.m4s,
// seg_00001.m4s, … without a gap, each present, and every segment object
// of its directory (none left out); its EXTINF durations add up to the
// source's duration.
func (s *chaosStack) verifyMediaPlaylist(t *testing.T, name, key string, objs map[string]int64, duration float64) {
	t.Helper()
	pl := string(s.getObject(t, name, key))
	lines := strings.Fields(strings.ReplaceAll(pl, "\r", ""))
	if len(lines) == 0 || lines[len(lines)-1] != "#EXT-X-ENDLIST" {
		t.Errorf("%s: playlist %s does not end with #EXT-X-ENDLIST:\n%s", name, key, pl)
	}
	dir := path.Dir(key)
	if !strings.Contains(pl, "#EXT-X-MAP:URI=\"init.mp4\"") {
		t.Errorf("%s: playlist %s does not map init.mp4:\n%s", name, key, pl)
	}
	if _, ok := objs[path.Join(dir, "init.mp4")]; !ok {
		t.Errorf("%s: %s/init.mp4 is missing", name, dir)
	}
	listed := map[string]bool{}
	for i, seg := range playlistURIs([]byte(pl)) {
		if want := fmt.Sprintf("seg_%05d.m4s", i); path.Base(seg) != want {
			t.Errorf("%s: playlist %s: segment %d is %s, want %s (a gap or a reordering)", name, key, i, seg, want)
		}
		k := path.Join(dir, seg)
		listed[k] = true
		if _, ok := objs[k]; !ok {
			t.Errorf("%s: playlist %s names segment %s, which is missing", name, key, seg)
		}
	}
	for k := range objs {
		if path.Dir(k) == dir && strings.HasSuffix(k, ".m4s") && !listed[k] {
			t.Errorf("%s: segment %s is stored but playlist %s does not list it", name, k, key)
		}
	}
	total := 0.0
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "#EXTINF:"); ok {
			v, _, _ = strings.Cut(v, ",")
			d, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Errorf("%s: playlist %s: %q", name, key, l)
			}
			total += d
		}
	}
	if math.Abs(total-duration) > chaosDurationSlack {
		t.Errorf("%s: playlist %s lasts %.3f s (EXTINF sum), the source %.3f s", name, key, total, duration)
	}
}

// mediaURIs returns the URI attributes of a master playlist's EXT-X-MEDIA
// lines (the audio renditions).
func mediaURIs(b []byte) []string {
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "#EXT-X-MEDIA:") {
			continue
		}
		if _, rest, ok := strings.Cut(line, `URI="`); ok {
			if uri, _, ok := strings.Cut(rest, `"`); ok {
				out = append(out, uri)
			}
		}
	}
	return out
}

// verifyRendition downloads r, checks its video size, its audio stream,
// its start and its duration with ffprobe, and decodes every frame with
// ffmpeg (-xerror: any decoding error fails).
func (s *chaosStack) verifyRendition(t *testing.T, name string, r contract.Rendition, duration float64) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "rendition.mp4")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.mc.FGetObject(ctx, s.bucket, r.Key, file, minio.GetObjectOptions{}); err != nil {
		t.Errorf("%s: download %s: %v", name, r.Key, err)
		return
	}
	out, err := exec.CommandContext(ctx, harness.MustTool(t, "ffprobe"), "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=width,height", "-of", "csv=p=0", file).CombinedOutput()
	want := fmt.Sprintf("%d,%d", r.Width, r.Height)
	if r.Width == 0 {
		want = "" // an audio asset's M4A: no video stream
	}
	if got := strings.TrimSpace(string(out)); err != nil || got != want {
		t.Errorf("%s: ffprobe %s: %q (%v), want %q", name, r.Key, got, err, want)
	}
	// Assembled from video-only and audio-only segments: both streams,
	// the timeline from 0 (the segments' timestamp offset removed), the
	// source's duration.
	out, err = exec.CommandContext(ctx, harness.MustTool(t, "ffprobe"), "-v", "error",
		"-show_entries", "stream=codec_type:format=start_time,duration", "-of", "default=nw=1", file).CombinedOutput()
	probe := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, val, _ := strings.Cut(l, "=")
		probe[k+"="+val], probe[k] = "", val
	}
	start, _ := strconv.ParseFloat(probe["start_time"], 64)
	dur, _ := strconv.ParseFloat(probe["duration"], 64)
	switch _, hasAudio := probe["codec_type=audio"]; {
	case err != nil:
		t.Errorf("%s: ffprobe %s: %v\n%s", name, r.Key, err, out)
	case !hasAudio:
		t.Errorf("%s: %s has no audio stream:\n%s", name, r.Key, out)
	case math.Abs(start) > chaosDurationSlack:
		t.Errorf("%s: %s starts at %.3f s, want 0", name, r.Key, start)
	case math.Abs(dur-duration) > chaosDurationSlack:
		t.Errorf("%s: %s lasts %.3f s, the source %.3f s", name, r.Key, dur, duration)
	}
	out, err = exec.CommandContext(ctx, harness.MustTool(t, "ffmpeg"), "-hide_banner", "-nostdin", "-v", "error", "-xerror",
		"-i", file, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("%s: %s does not decode cleanly: %v\n%s", name, r.Key, err, out)
	}
}

// readTopic returns every record of topic.
func (s *chaosStack) readTopic(t *testing.T, topic string) []kafka.Message {
	t.Helper()
	// A group that never commits lags by the whole topic.
	n := s.k.Lag(t, harness.RandomName("chaos-count"), topic)
	if n == 0 {
		return nil
	}
	return s.k.ReadAll(t, topic, int(n), time.Minute)
}

// catalogDocuments returns the document of every catalog row by id.
func (s *chaosStack) catalogDocuments(t *testing.T) map[string][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.pgURL)
	if err != nil {
		t.Fatalf("connect catalog: %v", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT id, document FROM videos")
	if err != nil {
		t.Fatalf("read catalog: %v", err)
	}
	out := map[string][]byte{}
	for rows.Next() {
		var (
			id  string
			doc []byte
		)
		if err := rows.Scan(&id, &doc); err != nil {
			t.Fatalf("read catalog: %v", err)
		}
		if _, dup := out[id]; dup {
			t.Errorf("catalog: video %s has more than one row", id)
		}
		out[id] = doc
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read catalog: %v", err)
	}
	return out
}

// listObjects returns key → size of the objects under prefix.
func (s *chaosStack) listObjects(t *testing.T, prefix string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for o := range s.mc.ListObjects(context.Background(), s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list %s: %v", prefix, o.Err)
		}
		out[o.Key] = o.Size
	}
	return out
}

func (s *chaosStack) getObject(t *testing.T, name, key string) []byte {
	t.Helper()
	obj, err := s.mc.GetObject(context.Background(), s.bucket, key, minio.GetObjectOptions{})
	if err == nil {
		defer obj.Close()
		var b []byte
		if b, err = io.ReadAll(io.LimitReader(obj, 16<<20)); err == nil {
			return b
		}
	}
	t.Errorf("%s: read %s: %v", name, key, err)
	return nil
}

// playlistURIs returns the URI lines of an m3u8 playlist.
func playlistURIs(b []byte) []string {
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

func countRecords(m map[string][]kafka.Message) int {
	n := 0
	for _, ms := range m {
		n += len(ms)
	}
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonDiff compares two JSON documents and returns the paths where they
// differ, e.g. "transcoded_at: \"2026-…\" != \"2026-…\"".
func jsonDiff(a, b []byte) ([]string, error) {
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		return nil, fmt.Errorf("decode first document: %w", err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		return nil, fmt.Errorf("decode second document: %w", err)
	}
	var out []string
	diffJSON("", va, vb, &out)
	return out, nil
}

func diffJSON(at string, a, b any, out *[]string) {
	ma, okA := a.(map[string]any)
	mb, okB := b.(map[string]any)
	if okA && okB {
		keys := map[string]bool{}
		for k := range ma {
			keys[k] = true
		}
		for k := range mb {
			keys[k] = true
		}
		for _, k := range sortedKeys(keys) {
			diffJSON(joinPath(at, k), ma[k], mb[k], out)
		}
		return
	}
	la, okA := a.([]any)
	lb, okB := b.([]any)
	if okA && okB && len(la) == len(lb) {
		for i := range la {
			diffJSON(fmt.Sprintf("%s[%d]", at, i), la[i], lb[i], out)
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		*out = append(*out, fmt.Sprintf("%s: %s != %s", at, ja, jb))
	}
}

func joinPath(at, k string) string {
	if at == "" {
		return k
	}
	return at + "." + k
}

// orphanProcesses returns the processes (pid and command) whose working
// directory is inside a worker's temp directory: children a worker left
// running.
func orphanProcesses(workers []*chaosProc) []string {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	var out []string
	for _, p := range procs {
		cwd, err := os.Readlink(filepath.Join(p, "cwd"))
		if err != nil {
			continue
		}
		for _, w := range workers {
			if strings.HasPrefix(cwd, w.tmpDir+string(os.PathSeparator)) {
				cmd, _ := os.ReadFile(filepath.Join(p, "cmdline"))
				out = append(out, fmt.Sprintf("pid %s (%s) in %s", filepath.Base(p), strings.ReplaceAll(string(cmd), "\x00", " "), cwd))
			}
		}
	}
	return out
}

// chaosSummary is the report printed at the end of the chaos test.
type chaosSummary struct {
	start                       time.Time
	setup, chaos, quiet, verify time.Duration
	rows                        [][2]string
}

func (sum *chaosSummary) add(name string, format string, args ...any) {
	sum.rows = append(sum.rows, [2]string{name, fmt.Sprintf(format, args...)})
}

// fill gathers the numbers of the report.
func (sum *chaosSummary) fill(s *chaosStack, d *chaosDriver, up *uploadResult, uploads, direct []*chaosInput, v chaosVerdict) {
	var good, bad, tries int
	for _, in := range uploads {
		tries += in.tries
		if in.id == "" {
			continue
		}
		if in.good() {
			good++
		} else {
			bad++
		}
	}
	sum.add("uploads accepted (API)", "%d good + %d bad, %d tries", good, bad, tries)
	var refused []string
	for _, status := range sortedIntKeys(up.refused) {
		label := fmt.Sprint(status)
		if status == 0 {
			label = "transport error"
		}
		refused = append(refused, fmt.Sprintf("%s ×%d", label, up.refused[status]))
	}
	if len(refused) == 0 {
		refused = []string{"none"}
	}
	sum.add("uploads refused, retried", "%s", strings.Join(refused, ", "))
	sum.add("bad published directly", "%d (HLS playlist → transcode, missing rendition → thumbnail)", len(direct))
	for i, line := range d.faultSummary() {
		label := ""
		if i == 0 {
			label = "faults injected"
		}
		sum.add(label, "%s", line)
	}
	for i, line := range d.segmentSummary(v.fanIn) {
		label := ""
		if i == 0 {
			label = "segment faults"
		}
		sum.add(label, "%s", line)
	}
	sum.add("chunks (good videos)", "%d to %d video chunks per video; %d work items completed, %d completions announced again (redone or redelivered), %d completed unannounced (assembled from their markers)",
		v.chunksMin, v.chunksMax, v.items, v.redone, v.itemsUnannounced)
	ak := &d.apiKill
	ak.mu.Lock()
	sum.add("API kills", "%d with an upload between storing and announcing (of %d)", ak.hits, ak.kills)
	sum.add("", "video.uploaded records stalled at the kill: %d (%d appended after it, %d dropped)", ak.held, ak.delivered, ak.dropped)
	sum.add("", "tus resumed to 204: %d (%d by an empty PATCH, no HEAD), started over (404): %d; multipart posted again: %d",
		ak.tusResumed, ak.tusProbed, ak.tusRestarted, ak.multipartRetried)
	ready := "ready again after"
	for _, r := range ak.readyAfter {
		ready += " " + r.String()
	}
	if len(ak.notReady) > 0 {
		ready += fmt.Sprintf("; NOT ready within %v: %d", apiReadyWait, len(ak.notReady))
	}
	sum.add("", "%s", ready)
	ak.mu.Unlock()
	byStage := map[string]map[string]float64{}
	logRetries, logDLQ := 0, 0
	for _, p := range s.workers {
		c := p.counters()
		if byStage[p.kind] == nil {
			byStage[p.kind] = map[string]float64{}
		}
		for k, n := range c {
			byStage[p.kind][k] += n
		}
		logRetries += p.logCount(`msg="attempt failed, retrying"`)
		logDLQ += p.logCount(`msg=dead-lettered`)
	}
	var retries, dead, ok float64
	var parts []string
	for _, name := range contract.DefaultPipeline().StageNames() {
		kind := string(name)
		c := byStage[kind]
		retries += c[stage.OutcomeRetried]
		dead += c[stage.OutcomeDeadLettered]
		ok += c[stage.OutcomeOK]
		parts = append(parts, fmt.Sprintf("%s %g", kind, c[stage.OutcomeRetried]))
	}
	sum.add("retries (metrics)", "%g (%s); log lines: %d", retries, strings.Join(parts, ", "), logRetries)
	var pub, commit float64
	for _, c := range byStage {
		pub += c[counterPublishRetries]
		commit += c[counterCommitErrors]
	}
	sum.add("publish retries, commit errors", "%g, %g (metrics)", pub, commit)
	sum.add("processed ok (metrics)", "%g", ok)
	sum.add("dead-letters (metrics)", "%g; log lines: %d; DLQ records: %s", dead, logDLQ, formatCounts(v.dlqRecords))
	sum.add("final status", "%d ready, %d failed", v.ready, v.failed)
	sum.add("lost (must be 0)", "%d", v.lost)
	sum.add("video.ready records", "%d (%d duplicates)", v.readyRecords, v.duplicateRecords)
	var recs []string
	for _, topic := range contract.AllTopics() {
		if v.records[topic] > 0 {
			recs = append(recs, fmt.Sprintf("%s %d (+%d dup)", strings.TrimPrefix(topic, "video."), v.records[topic]-v.rawDuplicates[topic], v.rawDuplicates[topic]))
		}
	}
	sum.add("records per topic (raw)", "%s", strings.Join(recs, ", "))
	var logical []string
	for _, topic := range sortedKeys(v.logicalByTopic) {
		logical = append(logical, fmt.Sprintf("%s %d", strings.TrimPrefix(topic, "video."), v.logicalByTopic[topic]))
	}
	if len(logical) == 0 {
		logical = []string{"none"}
	}
	sum.add("logical duplicates (must be 0)", "%d (video×topic with >1 distinct ce_id: %s)", v.logicalDuplicates, strings.Join(logical, ", "))
	sum.add("ce_ids not derived (contract/ids.go)", "%d of %d records", v.idsNotDerived, v.idsChecked)
	sameID := "none"
	if len(v.sameIDDiffers) > 0 {
		sameID = formatCounts(v.sameIDDiffers)
	}
	sum.add("same ce_id, other value", "%s (videos per topic)", sameID)
	sum.add("duplicate outputs (must be 0)", "%d (keys whose video.ready records differ)", v.differingDuplicates)
	sum.add("unaccounted uploads", "%d (in video.uploaded, never answered 2xx)", v.unaccounted)
	sum.add("stored, never announced", "%d source object(s) under uploads/ not in video.uploaded", v.unannounced)
	sum.add("left in worker temp dirs", "%s", formatCounts(v.leftoverDirs))
	sum.add("time", "setup %v, chaos %v, settle %v, verify %v, total %v",
		sum.setup.Round(time.Second), sum.chaos.Round(time.Second), sum.quiet.Round(time.Second),
		sum.verify.Round(time.Second), time.Since(sum.start).Round(time.Second))
}

func formatCounts[V any](m map[string]V) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %v", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func sortedIntKeys(m map[int]int) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

// table renders the report.
func (sum *chaosSummary) table(cfg chaosConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos summary (%d good videos, %d round(s), seed %d)\n", cfg.videos, cfg.rounds, cfg.seed)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, r := range sum.rows {
		fmt.Fprintf(w, "  %s\t%s\n", r[0], r[1])
	}
	_ = w.Flush()
	return b.String()
}

func TestChaosJSONDiff(t *testing.T) {
	tests := map[string]struct {
		a, b string
		want []string
	}{
		"same document, other key order": {
			a: `{"video_id":"x","renditions":[{"name":"240p","size":5}],"ready_at":"t1"}`,
			b: `{"ready_at":"t1","renditions":[{"size":5,"name":"240p"}],"video_id":"x"}`,
		},
		"processing timestamps": {
			a:    `{"video_id":"x","transcoded_at":"t1","thumbnailed_at":"t2"}`,
			b:    `{"video_id":"x","transcoded_at":"t3","thumbnailed_at":"t2"}`,
			want: []string{`transcoded_at: "t1" != "t3"`},
		},
		"nested value and missing field": {
			a:    `{"renditions":[{"name":"240p","size":5}],"thumbnails":{"sprite":{"key":"k"}}}`,
			b:    `{"renditions":[{"name":"240p","size":6}],"thumbnails":{}}`,
			want: []string{`renditions[0].size: 5 != 6`, `thumbnails.sprite: {"key":"k"} != null`},
		},
		"list lengths": {
			a:    `{"tags":["a"]}`,
			b:    `{"tags":["a","b"]}`,
			want: []string{`tags: ["a"] != ["a","b"]`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := jsonDiff([]byte(tc.a), []byte(tc.b))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := jsonDiff([]byte(`{`), []byte(`{}`)); err == nil {
		t.Error("invalid JSON compared without an error")
	}
}

func TestChaosPlaylistURIs(t *testing.T) {
	tests := map[string]struct {
		playlist string
		want     []string
	}{
		"master": {
			playlist: "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n144p/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\n240p/index.m3u8\n",
			want:     []string{"144p/index.m3u8", "240p/index.m3u8"},
		},
		"media with CRLF": {
			playlist: "#EXTM3U\r\n#EXT-X-MAP:URI=\"init.mp4\"\r\n#EXTINF:2.0,\r\nseg_00000.m4s\r\n#EXT-X-ENDLIST\r\n",
			want:     []string{"seg_00000.m4s"},
		},
		"empty": {},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := playlistURIs([]byte(tc.playlist)); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestChaosMediaURIs(t *testing.T) {
	master := []byte(`#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud-64k",NAME="audio",DEFAULT=YES,URI="audio/64k/index.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud-48k",NAME="audio",URI="audio/48k/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="aud-48k"
144p/index.m3u8
`)
	if got := strings.Join(mediaURIs(master), ","); got != "audio/64k/index.m3u8,audio/48k/index.m3u8" {
		t.Errorf("mediaURIs = %q", got)
	}
	if got := mediaURIs([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n144p/index.m3u8\n")); len(got) != 0 {
		t.Errorf("mediaURIs without audio = %q", got)
	}
}

func TestChaosFanInsDuring(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	spans := map[string]fanInSpan{
		"done":    {first: t0, transcoded: t0.Add(10 * time.Second)},
		"running": {first: t0.Add(5 * time.Second)},
	}
	for at, want := range map[time.Duration]int{-time.Second: 0, 2 * time.Second: 1, 6 * time.Second: 2, 11 * time.Second: 1} {
		if got := fanInsDuring(spans, t0.Add(at)); got != want {
			t.Errorf("at %v: %d fan-ins, want %d", at, got, want)
		}
	}
}

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // posters and thumbnails are JPEG
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"sort"
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
}

// verify checks the final state of every accepted input; each violation
// is a test error.
func (s *chaosStack) verify(t *testing.T, accepted []*chaosInput) chaosVerdict {
	t.Helper()
	ctx := context.Background()
	v := chaosVerdict{dlqRecords: map[string]int{}, leftoverDirs: map[string]int{},
		records: map[string]int{}, rawDuplicates: map[string]int{}, logicalByTopic: map[string]int{}, sameIDDiffers: map[string]int{}}

	topics := map[string]map[string][]kafka.Message{}
	for _, topic := range contract.AllTopics() {
		topics[topic] = byKey(s.readTopic(t, topic))
	}
	s.verifyEventIDs(t, topics, &v)
	ready := topics[contract.TopicReady]
	v.readyRecords = countRecords(ready)
	dlq := map[string]map[string][]kafka.Message{}
	for _, topic := range contract.DLQTopics() {
		dlq[topic] = topics[topic]
		v.dlqRecords[topic] = countRecords(dlq[topic])
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
	// Every playlist the master names, and every segment those name.
	master := s.getObject(t, name, doc.HLS.MasterKey)
	for _, variant := range playlistURIs(master) {
		key := path.Join(path.Dir(doc.HLS.MasterKey), variant)
		if _, ok := objs[key]; !ok {
			t.Errorf("%s: master playlist names %s, which is missing", name, key)
			continue
		}
		for _, seg := range playlistURIs(s.getObject(t, name, key)) {
			if _, ok := objs[path.Join(path.Dir(key), seg)]; !ok {
				t.Errorf("%s: playlist %s names segment %s, which is missing", name, key, seg)
			}
		}
	}
	if len(doc.Renditions) > 0 {
		s.verifyRendition(t, name, doc.Renditions[len(doc.Renditions)-1])
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

// verifyRendition downloads r, checks its video size with ffprobe and
// decodes every frame with ffmpeg (-xerror: any decoding error fails).
func (s *chaosStack) verifyRendition(t *testing.T, name string, r contract.Rendition) {
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
	if got, want := strings.TrimSpace(string(out)), fmt.Sprintf("%d,%d", r.Width, r.Height); err != nil || got != want {
		t.Errorf("%s: ffprobe %s: %q (%v), want %s", name, r.Key, got, err, want)
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
			playlist: "#EXTM3U\r\n#EXTINF:2.0,\r\nseg_00000.ts\r\n#EXT-X-ENDLIST\r\n",
			want:     []string{"seg_00000.ts"},
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

package server

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/services/upload-api/tusupload"
)

// finishWithoutHook stores the whole clip as upload id and completes it
// in storage without tusd's finish hook: what a process killed between
// the last byte and the publication leaves behind.
func (e *env) finishWithoutHook(tb testing.TB, id string, clip []byte) {
	tb.Helper()
	ctx := context.Background()
	up, err := e.Tus.Upload(ctx, id)
	if err != nil {
		tb.Fatal(err)
	}
	if n, err := up.WriteChunk(ctx, 0, bytes.NewReader(clip)); err != nil || n != int64(len(clip)) {
		tb.Fatalf("WriteChunk: %d, %v", n, err)
	}
	if err := up.FinishUpload(ctx); err != nil {
		tb.Fatal(err)
	}
}

// uploadedByKey returns the video.uploaded records by key, after a
// sentinel multipart upload (so that every earlier record is counted)
// which it leaves out. want is the number of records expected besides the
// sentinel.
func (e *env) uploadedByKey(tb testing.TB, want int) map[string][]kafka.Message {
	tb.Helper()
	resp, body := e.upload(tb, aliceToken, formPart{name: "file", filename: "sentinel.mp4", data: mustClip(tb)})
	sentinel := mustAccepted(tb, resp, body)
	out := map[string][]kafka.Message{}
	for _, m := range e.Kafka.ReadAll(tb, contract.TopicUploaded, want+1, 10*time.Second) {
		if string(m.Key) != sentinel.ID {
			out[string(m.Key)] = append(out[string(m.Key)], m)
		}
	}
	return out
}

// mustAnnouncedOnce checks that id has exactly one video.uploaded, with
// the derived ce_id.
func mustAnnouncedOnce(tb testing.TB, byKey map[string][]kafka.Message, id string) {
	tb.Helper()
	if n := len(byKey[id]); n != 1 {
		tb.Fatalf("%d video.uploaded records for %s, want 1 (all: %d keys)", n, id, len(byKey))
	}
	if got := header(byKey[id][0], contract.HeaderID); got != contract.UploadedEventID(id) {
		tb.Errorf("ce_id %q, want contract.UploadedEventID = %q", got, contract.UploadedEventID(id))
	}
}

func (e *env) mustHaveSource(tb testing.TB, id string, clip []byte) {
	tb.Helper()
	if got, _ := e.object(tb, contract.SourceKey(id)); !bytes.Equal(got, clip) {
		tb.Fatalf("source of %s: %d bytes, want the %d uploaded", id, len(got), len(clip))
	}
}

func (e *env) recovery() *Recovery {
	return NewRecovery(RecoveryDeps{Logger: e.Log, Objects: e.Objects, Publisher: e.Publisher, Status: e.Status,
		Tus: e.Tus, Metrics: e.Metrics})
}

// TestTusBrokerDownKeepsUploadAndRecovers: Kafka is down when the last
// byte arrives. The upload is answered 503 and kept (so are later
// requests while Kafka stays down); once Kafka is back, the client's
// retried PATCH at offset == size announces it, once. The old code
// terminated the upload on the first 503.
func TestTusBrokerDownKeepsUploadAndRecovers(t *testing.T) {
	e := mustEnv(t)
	clip := mustClip(t)
	size := int64(len(clip))
	id := e.tusCreate(t, aliceToken, len(clip), map[string]string{"title": "Kept"})
	e.Kafka.Stop(t)
	resp, body := e.tusPatch(t, aliceToken, id, 0, clip)
	mustErrorCode(t, resp, body, http.StatusServiceUnavailable, codeBrokerUnavailable)
	if resp, _ := e.tusHead(t, aliceToken, id); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("HEAD with Kafka down: %d, want 503", resp.StatusCode)
	}
	resp, body = e.tusPatch(t, aliceToken, id, size, nil)
	mustErrorCode(t, resp, body, http.StatusServiceUnavailable, codeBrokerUnavailable)
	e.mustHaveSource(t, id, clip)

	e.Kafka.Restart(t) // in memory: comes back empty
	e.Kafka.CreatePipelineTopics(t, 3)
	resp, body = e.tusPatch(t, aliceToken, id, size, nil)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-Offset") != strconv.FormatInt(size, 10) {
		t.Fatalf("PATCH at the end after Kafka came back: %d %s", resp.StatusCode, body)
	}
	if resp, off := e.tusHead(t, aliceToken, id); resp.StatusCode != http.StatusOK || off != size {
		t.Fatalf("HEAD: %d offset %d", resp.StatusCode, off)
	}
	mustAnnouncedOnce(t, e.uploadedByKey(t, 1), id)
	e.mustHaveSource(t, id, clip)
}

// TestTusPatchAtEndRecoversUnannouncedUpload: the process died between
// finishing the upload and publishing; the client retries with PATCH at
// offset == size (no HEAD). tusd alone answers that with 204 and never
// calls the finish hook: the old code never announced the video.
func TestTusPatchAtEndRecoversUnannouncedUpload(t *testing.T) {
	e := mustEnv(t)
	clip := mustClip(t)
	id := e.tusCreate(t, aliceToken, len(clip), map[string]string{"title": "Patched"})
	e.finishWithoutHook(t, id, clip)
	resp, body := e.tusPatch(t, aliceToken, id, int64(len(clip)), nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH at the end: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.tusPatch(t, aliceToken, id, int64(len(clip)), nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("second PATCH at the end: %d", resp.StatusCode)
	}
	mustAnnouncedOnce(t, e.uploadedByKey(t, 1), id)
}

// TestTusSweepAnnouncesFinishedUploads: without any client request, the
// background sweep announces a finished, unannounced upload (once) and
// leaves an unfinished one alone.
func TestTusSweepAnnouncesFinishedUploads(t *testing.T) {
	e := mustEnv(t)
	clip := mustClip(t)
	done := e.tusCreate(t, aliceToken, len(clip), map[string]string{"title": "Swept"})
	e.finishWithoutHook(t, done, clip)
	partial := e.tusCreate(t, bobToken, len(clip), nil)
	if resp, body := e.tusPatch(t, bobToken, partial, 0, clip[:1000]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	ctx := context.Background()
	rec := e.recovery()
	if n, err := rec.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("first sweep: settled %d, err %v; want 1", n, err)
	}
	if n, err := rec.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("second sweep: settled %d, err %v; want 0", n, err)
	}
	byKey := e.uploadedByKey(t, 1)
	mustAnnouncedOnce(t, byKey, done)
	if len(byKey[partial]) != 0 {
		t.Fatalf("unfinished upload announced")
	}
	if resp, off := e.tusHead(t, bobToken, partial); resp.StatusCode != http.StatusOK || off != 1000 {
		t.Fatalf("unfinished upload after the sweep: %d offset %d", resp.StatusCode, off)
	}
	if resp, body := e.do(t, http.MethodGet, "/v1/videos/"+done, aliceToken, nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET swept video: %d %s", resp.StatusCode, body)
	}
}

// TestTusLostMarkerIsNotDestructive: the upload was announced but its
// submitted marker was not written (markSubmitted failed). A later HEAD
// with Kafka down must neither publish again nor, failing that, remove
// the accepted video's source (the old code deleted it and terminated
// the upload).
func TestTusLostMarkerIsNotDestructive(t *testing.T) {
	e := mustEnv(t)
	clip := mustClip(t)
	size := int64(len(clip))
	id := e.tusCreate(t, aliceToken, len(clip), nil)
	if resp, body := e.tusPatch(t, aliceToken, id, 0, clip); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	ctx := context.Background()
	if err := e.Objects.Remove(ctx, tusupload.SubmittedKey(id)); err != nil {
		t.Fatal(err)
	}
	e.Kafka.Stop(t)
	// The status projection knows the video: it was announced; the marker
	// is written again.
	if resp, off := e.tusHead(t, aliceToken, id); resp.StatusCode != http.StatusOK || off != size {
		t.Fatalf("HEAD: %d offset %d, want 200 (announced before)", resp.StatusCode, off)
	}
	if done, err := e.Tus.Submitted(ctx, id); err != nil || !done {
		t.Fatalf("marker not written again: %v %v", done, err)
	}
	e.mustHaveSource(t, id, clip)

	// Neither marker nor projection row: the publication is retried,
	// fails, and nothing is removed.
	if err := e.Objects.Remove(ctx, tusupload.SubmittedKey(id)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Pool.Exec(ctx, `DELETE FROM video_status WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if resp, _ := e.tusHead(t, aliceToken, id); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("HEAD with Kafka down: %d, want 503", resp.StatusCode)
	}
	resp, body := e.do(t, http.MethodDelete, "/v1/uploads/"+id, aliceToken, nil, map[string]string{"Tus-Resumable": "1.0.0"})
	mustErrorCode(t, resp, body, http.StatusServiceUnavailable, codeBrokerUnavailable)
	if n, err := e.recovery().Sweep(ctx); err == nil || n != 0 {
		t.Fatalf("sweep with Kafka down: settled %d, err %v; want an error", n, err)
	}
	e.mustHaveSource(t, id, clip)
	if _, err := e.Tus.Upload(ctx, id); err != nil {
		t.Fatalf("upload info removed: %v", err)
	}
}

// produceFault makes every produce to video.uploaded fail with err until
// removed. NOT_ENOUGH_REPLICAS_AFTER_APPEND is answered after the record
// was appended (a lost acknowledgement); NOT_ENOUGH_REPLICAS before.
func (e *env) produceFault(err *kerr.Error) *kfake.FaultHandle {
	return e.Kafka.Cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: contract.TopicUploaded, Err: err, Count: -1})
}

// fetchFault makes reading video.uploaded back fail until removed.
func (e *env) fetchFault() *kfake.FaultHandle {
	return e.Kafka.Cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Topic: contract.TopicUploaded, Err: kerr.UnknownServerError, Count: -1})
}

// pendingIDs returns the video ids that have a pending marker.
func (e *env) pendingIDs(tb testing.TB) []string {
	tb.Helper()
	var ids []string
	for _, k := range e.keys(tb) {
		if rest, ok := strings.CutPrefix(k, pendingPrefix); ok {
			ids = append(ids, strings.TrimSuffix(rest, ".json"))
		}
	}
	return ids
}

// TestUploadAckLostButWritten: Kafka appends video.uploaded but never
// acknowledges it. The read-back finds the record: the upload is
// accepted (202), the source kept, one record. The old code answered 503
// and deleted the source under a written event (a ghost event).
func TestUploadAckLostButWritten(t *testing.T) {
	e := mustEnv(t)
	clip := mustClip(t)
	f := e.produceFault(kerr.NotEnoughReplicasAfterAppend)
	resp, body := e.upload(t, aliceToken, formPart{name: "file", filename: "a.mp4", data: clip})
	f.Remove()
	acc := mustAccepted(t, resp, body)
	e.mustHaveSource(t, acc.ID, clip)
	if ids := e.pendingIDs(t); len(ids) != 0 {
		t.Fatalf("pending markers left: %v", ids)
	}
	mustAnnouncedOnce(t, e.uploadedByKey(t, 1), acc.ID)
}

// TestUploadNotWrittenRemovesEverything: Kafka refuses the record before
// appending it: 503 and nothing kept.
func TestUploadNotWrittenRemovesEverything(t *testing.T) {
	e := mustEnv(t)
	f := e.produceFault(kerr.NotEnoughReplicas)
	resp, body := e.upload(t, aliceToken, formPart{name: "file", filename: "a.mp4", data: mustClip(t)})
	f.Remove()
	mustErrorCode(t, resp, body, http.StatusServiceUnavailable, codeBrokerUnavailable)
	e.mustEmptyBucket(t)
	if byKey := e.uploadedByKey(t, 0); len(byKey) != 0 {
		t.Fatalf("records for a refused upload: %v", byKey)
	}
}

// TestUploadUnconfirmedIsSettledByRecovery: the produce fails and the
// partition cannot be read back, so it is unknown whether video.uploaded
// was written. The answer is 503 and the source stays under a pending
// marker; once Kafka answers, the recovery sweep keeps the video if the
// record is there and removes the source if it is not. The old code
// deleted the source in both cases.
func TestUploadUnconfirmedIsSettledByRecovery(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fault   *kerr.Error
		written bool
	}{
		{"written", kerr.NotEnoughReplicasAfterAppend, true},
		{"not written", kerr.NotEnoughReplicas, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustEnv(t)
			clip := mustClip(t)
			pf, ff := e.produceFault(tc.fault), e.fetchFault()
			resp, body := e.upload(t, aliceToken, formPart{name: "file", filename: "a.mp4", data: clip})
			pf.Remove()
			ff.Remove()
			mustErrorCode(t, resp, body, http.StatusServiceUnavailable, codeBrokerUnavailable)
			ids := e.pendingIDs(t)
			if len(ids) != 1 {
				t.Fatalf("pending markers %v, want one", ids)
			}
			id := ids[0]
			if !strings.Contains(string(body), id) {
				t.Errorf("503 body does not name the video: %s", body)
			}
			e.mustHaveSource(t, id, clip)
			// A marker younger than MinAge may belong to a publish still
			// running: left alone.
			young := NewRecovery(RecoveryDeps{Objects: e.Objects, Publisher: e.Publisher, Metrics: e.Metrics, MinAge: time.Hour})
			if n, err := young.Sweep(context.Background()); err != nil || n != 0 {
				t.Fatalf("sweep of a young marker: settled %d, err %v", n, err)
			}
			if n, err := e.recovery().Sweep(context.Background()); err != nil || n != 1 {
				t.Fatalf("sweep: settled %d, err %v; want 1", n, err)
			}
			if ids := e.pendingIDs(t); len(ids) != 0 {
				t.Fatalf("pending markers after the sweep: %v", ids)
			}
			if tc.written {
				e.mustHaveSource(t, id, clip)
				// Each produce attempt appended it (the read-back between
				// attempts failed too): duplicates of one event.
				byKey := e.uploadedByKey(t, 1)
				if len(byKey[id]) == 0 {
					t.Fatalf("no video.uploaded for %s", id)
				}
				for _, m := range byKey[id] {
					if header(m, contract.HeaderID) != contract.UploadedEventID(id) {
						t.Fatalf("ce_id %q, want %q", header(m, contract.HeaderID), contract.UploadedEventID(id))
					}
				}
			} else {
				e.mustEmptyBucket(t)
			}
		})
	}
}

// A tus upload published again by recovery (its marker and projection row
// lost, so the first publication's outcome looks unknown) yields the very
// same event: same ce_id and same value (uploaded_at is the source's
// completion time), so the pipeline's outputs for it do not differ.
func TestTusRepublishedEventIsIdentical(t *testing.T) {
	e := mustEnv(t)
	clip := mustClip(t)
	id := e.tusCreate(t, aliceToken, len(clip), nil)
	if resp, body := e.tusPatch(t, aliceToken, id, 0, clip); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	ctx := context.Background()
	if err := e.Objects.Remove(ctx, tusupload.SubmittedKey(id)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Pool.Exec(ctx, `DELETE FROM video_status WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if resp, _ := e.tusHead(t, aliceToken, id); resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD: %d, want 200 (published again)", resp.StatusCode)
	}
	recs := e.uploadedByKey(t, 2)[id]
	if len(recs) != 2 {
		t.Fatalf("%d video.uploaded records for %s, want 2 (the first and the recovery's)", len(recs), id)
	}
	if header(recs[0], contract.HeaderID) != header(recs[1], contract.HeaderID) {
		t.Errorf("ce_ids differ: %q and %q", header(recs[0], contract.HeaderID), header(recs[1], contract.HeaderID))
	}
	if !bytes.Equal(recs[0].Value, recs[1].Value) {
		t.Errorf("the republished event differs from the first:\n%s\n%s", recs[0].Value, recs[1].Value)
	}
}

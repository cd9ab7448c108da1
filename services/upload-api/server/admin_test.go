package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
)

// TestMe: GET /v1/me names the caller and says whether they are an admin.
func TestMe(t *testing.T) {
	e := mustEnv(t)
	for token, want := range map[string]meResponse{
		aliceToken: {User: "alice", Admin: false},
		bobToken:   {User: "bob", Admin: false},
		adminToken: {User: "admin", Admin: true},
	} {
		resp, body := e.do(t, http.MethodGet, "/v1/me", token, nil, nil)
		var got meResponse
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &got) != nil || got != want {
			t.Errorf("%s: %d %s, want %+v", token, resp.StatusCode, body, want)
		}
	}
	resp, body := e.do(t, http.MethodGet, "/v1/me", "", nil, nil)
	mustErrorCode(t, resp, body, http.StatusUnauthorized, codeUnauthorized)
}

// deadLetterMessage is a dead letter of stage for ev (which failed on
// topic), as the stage runtime writes it.
func deadLetterMessage(tb testing.TB, stage contract.Stage, topic string, ev contract.Event, reason string, failedAt time.Time) kafka.Message {
	tb.Helper()
	value, err := contract.Encode(ev)
	if err != nil {
		tb.Fatal(err)
	}
	dl := contract.DeadLetter{Stage: stage, Topic: topic, Group: string(stage), Err: reason,
		Class: contract.ErrorClassExhausted, Code: contract.ErrorCodeInternal, Attempts: 3, FailedAt: failedAt}
	var hs []kafka.Header
	for _, h := range dl.Headers([]contract.Header{{Key: contract.HeaderID, Value: []byte(contract.DeriveID("test", ev.Key()))}}) {
		hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
	}
	dlqTopic, _ := contract.DefaultPipeline().Stage(stage)
	return kafka.Message{Topic: dlqTopic.DLQ, Key: []byte(ev.Key()), Value: value, Headers: hs}
}

func (e *env) adminStages(tb testing.TB) map[string]stageView {
	tb.Helper()
	resp, body := e.do(tb, http.MethodGet, "/v1/admin/stages", adminToken, nil, nil)
	var sr stagesResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &sr) != nil {
		tb.Fatalf("stages: %d %s", resp.StatusCode, body)
	}
	out := map[string]stageView{}
	for _, s := range sr.Stages {
		out[s.Stage] = s
	}
	if len(out) != 3 || sr.Stages[0].Stage != "transcode" || sr.Stages[2].Stage != "indexer" {
		tb.Fatalf("stages %s, want transcode, thumbnail, indexer", body)
	}
	return out
}

func (e *env) deadLetters(tb testing.TB, query string) []deadLetterView {
	tb.Helper()
	resp, body := e.do(tb, http.MethodGet, "/v1/admin/dead-letters?"+query, adminToken, nil, nil)
	var dr deadLettersResponse
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &dr) != nil {
		tb.Fatalf("dead letters ?%s: %d %s", query, resp.StatusCode, body)
	}
	return dr.Items
}

func (e *env) redrive(tb testing.TB, body string) (*http.Response, redriveResponse, []byte) {
	tb.Helper()
	resp, b := e.do(tb, http.MethodPost, "/v1/admin/dead-letters/redrive", adminToken, strings.NewReader(body),
		map[string]string{"Content-Type": "application/json"})
	var rr redriveResponse
	if resp.StatusCode == http.StatusAccepted {
		if err := json.Unmarshal(b, &rr); err != nil {
			tb.Fatalf("redrive %s: %s: %v", body, b, err)
		}
	}
	return resp, rr, b
}

// TestAdminStagesDeadLettersRedrive: on a real broker, the stages' lag
// counts what their groups have not consumed (input and work topics), the
// DLQ depth the dead letters not redriven; a dead letter is listed with
// its reason; a redrive by id republishes exactly that record; everything
// is refused to non-admins.
func TestAdminStagesDeadLettersRedrive(t *testing.T) {
	e := mustEnv(t)
	// Non-admins: 403 with a reason.
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/v1/admin/stages"},
		{http.MethodGet, "/v1/admin/dead-letters"},
		{http.MethodPost, "/v1/admin/dead-letters/redrive"},
	} {
		resp, body := e.do(t, r.method, r.path, aliceToken, strings.NewReader(`{"all":true}`), nil)
		mustErrorCode(t, resp, body, http.StatusForbidden, codeForbidden)
		resp, body = e.do(t, r.method, r.path, "", nil, nil)
		mustErrorCode(t, resp, body, http.StatusUnauthorized, codeUnauthorized)
	}

	// Nothing consumed by any stage group yet: 3 uploads, 1 work item
	// (read by two groups), 2 transcoded videos.
	var ups []contract.VideoUploaded
	var msgs []kafka.Message
	for i := range 3 {
		up := e.uploadedEvent("alice", "lag "+string(rune('a'+i)))
		ups = append(ups, up)
		v, _ := contract.Encode(up)
		msgs = append(msgs, kafka.Message{Topic: contract.TopicUploaded, Key: []byte(up.VideoID), Value: v})
	}
	msgs = append(msgs, kafka.Message{Topic: contract.TopicTranscodeChunks, Key: []byte(ups[0].VideoID + "/v00000"), Value: []byte(`{}`)})
	for _, up := range ups[:2] {
		v, _ := contract.Encode(up)
		msgs = append(msgs, kafka.Message{Topic: contract.TopicTranscoded, Key: []byte(up.VideoID), Value: v})
	}
	e.Kafka.Produce(t, msgs...)
	older, newer := time.Now().Add(-time.Hour).UTC().Truncate(time.Second), time.Now().UTC().Truncate(time.Second)
	first := deadLetterMessage(t, contract.StageTranscode, contract.TopicUploaded, ups[0], "ffprobe: moov atom not found", older)
	second := deadLetterMessage(t, contract.StageTranscode, contract.TopicUploaded, ups[1], "ffmpeg: killed", newer)
	thumb := deadLetterMessage(t, contract.StageThumbnail, contract.TopicTranscoded, ups[2], "poster: no frame", newer)
	e.Kafka.Produce(t, first, second, thumb)

	st := e.adminStages(t)
	tr := st["transcode"]
	if tr.Group != "transcode" || tr.Lag != 5 || tr.DLQ.Topic != contract.TopicTranscodeDLQ || tr.DLQ.Depth != 2 {
		t.Fatalf("transcode: %+v, want lag 5 (3 uploads + the work item for 2 groups), dlq depth 2", tr)
	}
	lagOf := map[string]int64{}
	for _, tl := range tr.Topics {
		lagOf[tl.Group+"@"+tl.Topic] = tl.Lag
	}
	if lagOf["transcode@video.uploaded"] != 3 || lagOf["transcode-chunks@video.transcode.chunks"] != 1 ||
		lagOf["transcode-audio@video.transcode.chunks"] != 1 || lagOf["transcode-assemble@video.transcode.chunks-done"] != 0 {
		t.Errorf("transcode topics: %+v", tr.Topics)
	}
	if th := st["thumbnail"]; th.Lag != 2 || th.DLQ.Depth != 1 {
		t.Errorf("thumbnail: %+v, want lag 2, dlq depth 1", th)
	}
	if ix := st["indexer"]; ix.Lag != 0 || ix.DLQ.Depth != 0 {
		t.Errorf("indexer: %+v, want no lag, empty dlq", ix)
	}

	// The dead letters, newest first, with their reasons.
	items := e.deadLetters(t, "stage=transcode")
	if len(items) != 2 || items[0].VideoID != ups[1].VideoID || items[1].VideoID != ups[0].VideoID {
		t.Fatalf("transcode dead letters: %+v, want the second then the first", items)
	}
	d := items[1]
	if d.Reason != "ffprobe: moov atom not found" || d.Stage != "transcode" || d.Topic != contract.TopicUploaded ||
		d.ErrorClass != contract.ErrorClassExhausted || d.Attempts != 3 || d.Key != ups[0].VideoID || d.Redriven ||
		d.FailedAt != older.Format(time.RFC3339) || !strings.HasPrefix(d.ID, contract.TopicTranscodeDLQ+"/") {
		t.Errorf("dead letter %+v", d)
	}
	if all := e.deadLetters(t, ""); len(all) != 3 {
		t.Errorf("every stage's dead letters: %d, want 3", len(all))
	}
	if one := e.deadLetters(t, "limit=1"); len(one) != 1 || one[0].FailedAt != newer.Format(time.RFC3339) {
		t.Errorf("limit=1: %+v", one)
	}
	for _, q := range []string{"limit=0", "limit=501", "stage=nope"} {
		resp, body := e.do(t, http.MethodGet, "/v1/admin/dead-letters?"+q, adminToken, nil, nil)
		mustErrorCode(t, resp, body, http.StatusBadRequest, codeInvalidQuery)
	}

	// Redrive the first by id: exactly it goes back to video.uploaded.
	resp, rr, body := e.redrive(t, `{"stage":"transcode","ids":["`+d.ID+`"]}`)
	if resp.StatusCode != http.StatusAccepted || rr.Redriven != 1 || len(rr.NotPending) != 0 {
		t.Fatalf("redrive: %d %s", resp.StatusCode, body)
	}
	got := e.Kafka.ReadAll(t, contract.TopicUploaded, 4, 10*time.Second)
	var redriven []kafka.Message
	for _, m := range got {
		if header(m, contract.HeaderRedriveCount) != "" {
			redriven = append(redriven, m)
		}
	}
	if len(got) != 4 || len(redriven) != 1 || string(redriven[0].Key) != ups[0].VideoID ||
		!bytes.Equal(redriven[0].Value, first.Value) || header(redriven[0], contract.HeaderRedriveCount) != "1" {
		t.Fatalf("video.uploaded after the redrive: %d records, %d redriven (%+v)", len(got), len(redriven), redriven)
	}
	if tr := e.adminStages(t)["transcode"]; tr.DLQ.Depth != 1 || tr.Lag != 6 {
		t.Errorf("after the redrive: transcode %+v, want dlq depth 1, lag 6", tr)
	}
	items = e.deadLetters(t, "stage=transcode")
	for _, it := range items {
		if it.Redriven != (it.ID == d.ID) {
			t.Errorf("after redriving %s: %+v", d.ID, it)
		}
	}
	// Again: nothing left to redrive for that id.
	resp, rr, body = e.redrive(t, `{"stage":"transcode","ids":["`+d.ID+`"]}`)
	if resp.StatusCode != http.StatusAccepted || rr.Redriven != 0 || len(rr.NotPending) != 1 || rr.NotPending[0] != d.ID {
		t.Fatalf("second redrive: %d %s", resp.StatusCode, body)
	}

	// All of a stage.
	resp, rr, body = e.redrive(t, `{"stage":"thumbnail","all":true}`)
	if resp.StatusCode != http.StatusAccepted || rr.Redriven != 1 {
		t.Fatalf("redrive all of thumbnail: %d %s", resp.StatusCode, body)
	}
	if got := e.Kafka.ReadAll(t, contract.TopicTranscoded, 3, 10*time.Second); len(got) != 3 {
		t.Errorf("video.transcoded after redriving thumbnail's dead letter: %d records, want 3", len(got))
	}

	// Bad bodies: 400 with a reason.
	for name, b := range map[string]string{
		"not json":          `ids`,
		"unknown field":     `{"stage":"transcode","ids":["x"],"extra":1}`,
		"neither":           `{"stage":"transcode"}`,
		"both":              `{"stage":"transcode","all":true,"ids":["` + d.ID + `"]}`,
		"ids without stage": `{"ids":["` + d.ID + `"]}`,
		"unknown stage":     `{"stage":"nope","all":true}`,
		"other stage's id":  `{"stage":"thumbnail","ids":["` + d.ID + `"]}`,
		"malformed id":      `{"stage":"transcode","ids":["video.transcode.dlq/0/01"]}`,
	} {
		resp, _, body := e.redrive(t, b)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"message"`) {
			t.Errorf("%s: %d %s, want 400 with a message", name, resp.StatusCode, body)
		}
	}
}

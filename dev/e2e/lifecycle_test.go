package e2e_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/devstack"
	"github.com/vidpipe/vidpipe/dev/launch"
	"github.com/vidpipe/vidpipe/platform/topics"
)

// TestLifecycleDeleteAndEdit drives DELETE and PATCH /v1/videos/{id}
// against the real binaries (the dev stack: upload-api, transcode,
// thumbnail, indexer as processes on kfake, MinIO and PostgreSQL):
//
//   - a video deleted right after its upload (video.uploaded in flight),
//     one deleted once playable (transcode mid-work), one deleted when
//     ready (and again, and by another user), an unfinished tus upload
//     deleted: once every group has consumed everything and a quiet
//     period passed, nothing of them is left under videos/{id}/,
//     uploads/{id}/ or tus/uploads/{id}/, GET answers 404, search finds
//     nothing, the catalog has no row, the status row is still deleted;
//   - a video edited mid-pipeline ends ready with the edit (status and
//     search), then edited again once ready: search finds the new title.
func TestLifecycleDeleteAndEdit(t *testing.T) {
	dir, err := os.MkdirTemp("", "vidpipe-life-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // PostgreSQL runs as postgres under root
		t.Fatal(err)
	}
	run := startDev(t, devOptions(t, dir))
	defer run.stop(t)
	ep := run.ep
	alice := api{base: ep.APIURL, token: "dev-alice"}
	bob := api{base: ep.APIURL, token: "dev-bob"}
	mc, err := minio.New(ep.S3Endpoint, &minio.Options{Creds: credentials.NewStaticV4(ep.AccessKey, ep.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	long := clip(t, dir, "long.mp4", 640, 360, 8, true)
	short := clip(t, dir, "short.mp4", 320, 180, 2, true)

	// Deleted right after the upload: video.uploaded is in flight.
	early := alice.upload(t, long, "Early harbour", "e2e")
	mustDelete(t, alice, early, http.StatusAccepted)

	// Deleted once playable: transcode is still at work on it.
	mid := alice.upload(t, long, "Midway harbour", "e2e")
	waitStatusIn(t, alice, mid, []string{"playable", "transcoded", "thumbnailed", "ready"}, 3*time.Minute)
	mustDelete(t, alice, mid, http.StatusAccepted)

	// Edited mid-pipeline: the edit survives the events still carrying
	// the upload's metadata.
	edited := alice.upload(t, long, "Raw title", "raw")
	mustPatch(t, alice, edited, `{"title":"Glacier walk","tags":["ice","walk"]}`, "Glacier walk")

	// Deleted when ready; again; by another user.
	ready := alice.upload(t, short, "Ready lighthouse", "e2e")
	alice.waitStatus(t, ready, "ready", 3*time.Minute)
	mustDelete(t, bob, ready, http.StatusNotFound)
	mustDelete(t, alice, ready, http.StatusAccepted)
	mustDelete(t, alice, ready, http.StatusAccepted)

	// An unfinished tus upload.
	tusID := tusHalf(t, alice, short)
	mustDelete(t, alice, tusID, http.StatusAccepted)

	doc := alice.waitStatus(t, edited, "ready", 4*time.Minute)
	if doc["title"] != "Glacier walk" || fmt.Sprint(doc["tags"]) != "[ice walk]" {
		t.Errorf("ready document after a mid-pipeline edit: title %v tags %v", doc["title"], doc["tags"])
	}
	waitSearch(t, alice, "glacier", edited, true)
	waitSearch(t, alice, "raw", edited, false)
	// Edited again once ready: search follows.
	mustPatch(t, alice, edited, `{"title":"Volcano trail"}`, "Volcano trail")
	waitSearch(t, alice, "volcano", edited, true)
	waitSearch(t, alice, "glacier", edited, false)

	waitQuiet(t, ep.Brokers)

	pg, err := pgx.Connect(context.Background(), ep.PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(context.Background())
	for name, id := range map[string]string{"early": early, "mid": mid, "ready": ready, "tus": tusID} {
		for _, p := range []string{contract.OutputPrefix(id), "uploads/" + id + "/", "tus/uploads/" + id + "/"} {
			if keys := listKeys(t, mc, ep.Bucket, p); len(keys) != 0 {
				t.Errorf("%s video %s: objects left under %s: %v", name, id, p, keys)
			}
		}
		if keys := listKeys(t, mc, ep.Bucket, contract.TombstoneKey(id)); len(keys) != 1 {
			t.Errorf("%s video %s: tombstone %v", name, id, keys)
		}
		if code, body := alice.do(t, "GET", "/v1/videos/"+id, nil, ""); code != http.StatusNotFound {
			t.Errorf("%s video: GET after delete: %d %s", name, code, body)
		}
		var rows int
		if err := pg.QueryRow(context.Background(), `SELECT count(*) FROM videos WHERE id = $1`, id).Scan(&rows); err != nil || rows != 0 {
			t.Errorf("%s video: %d catalog rows (%v), want 0", name, rows, err)
		}
		var deleted bool
		if err := pg.QueryRow(context.Background(), `SELECT deleted_at IS NOT NULL FROM video_status WHERE id = $1`, id).Scan(&deleted); err != nil || !deleted {
			t.Errorf("%s video: status row deleted = %v (%v), want the tombstone row", name, deleted, err)
		}
	}
	for _, q := range []string{"harbour", "lighthouse"} {
		if code, body := alice.do(t, "GET", "/v1/videos?q="+q, nil, ""); code != http.StatusOK || strings.Contains(string(body), `"id"`) {
			t.Errorf("search %q after the deletes: %d %s", q, code, body)
		}
	}
	// Incomplete multipart uploads (the tus one) are aborted.
	for up := range mc.ListIncompleteUploads(context.Background(), ep.Bucket, "uploads/"+tusID, true) {
		t.Errorf("unfinished multipart upload left: %s %v", up.Key, up.Err)
	}
	// Only the edited video counts toward alice's quota now.
	code, body := alice.do(t, "GET", "/v1/usage", nil, "")
	var u struct {
		Stored   int64 `json:"stored_bytes"`
		Reserved int64 `json:"reserved_bytes"`
	}
	if err := json.Unmarshal(body, &u); code != http.StatusOK || err != nil || u.Stored != fileSize(t, long) || u.Reserved != 0 {
		t.Errorf("usage after the deletes: %d %s, want stored %d (the edited video alone), nothing reserved", code, body, fileSize(t, long))
	}
}

// devOptions are the dev stack's options for one test in dir.
func devOptions(t *testing.T, dir string) devstack.Options {
	t.Helper()
	return devstack.Options{
		Dir: filepath.Join(dir, "state"), KafkaPort: launch.MustFreePort(t), S3Port: launch.MustFreePort(t), PGPort: launch.MustFreePort(t),
		APIPort: launch.MustFreePortRun(t, len(serviceNames())+1), Partitions: 3,
		Scale:   oneOfEach(),
		Environ: append(os.Environ(), "VIDPIPE_TRANSCODE_PRESET=ultrafast", "VIDPIPE_STAGE_BACKOFF_INITIAL=100ms"),
	}
}

func mustDelete(t *testing.T, a api, id string, want int) {
	t.Helper()
	if code, body := a.do(t, "DELETE", "/v1/videos/"+id, nil, ""); code != want {
		t.Fatalf("DELETE %s as %s: %d %s, want %d", id, a.token, code, body, want)
	}
}

func mustPatch(t *testing.T, a api, id, body, wantTitle string) {
	t.Helper()
	code, out := a.do(t, "PATCH", "/v1/videos/"+id, strings.NewReader(body), "application/json")
	var v struct{ Title string }
	if code != http.StatusOK || json.Unmarshal(out, &v) != nil || v.Title != wantTitle {
		t.Fatalf("PATCH %s %s: %d %s", id, body, code, out)
	}
}

// waitStatusIn polls until the video's status is one of want.
func waitStatusIn(t *testing.T, a api, id string, want []string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, "video "+id+" in "+strings.Join(want, "|"), func() bool {
		code, body := a.do(t, "GET", "/v1/videos/"+id, nil, "")
		var v struct{ Status string }
		return code == http.StatusOK && json.Unmarshal(body, &v) == nil && strings.Contains(" "+strings.Join(want, " ")+" ", " "+v.Status+" ")
	})
}

// waitSearch polls the search for q until it finds id (or, with found
// false, until it does not).
func waitSearch(t *testing.T, a api, q, id string, found bool) {
	t.Helper()
	waitFor(t, time.Minute, fmt.Sprintf("search %q finds %s: %v", q, id, found), func() bool {
		code, body := a.do(t, "GET", "/v1/videos?q="+url.QueryEscape(q), nil, "")
		return code == http.StatusOK && strings.Contains(string(body), id) == found
	})
}

// tusHalf creates a tus upload of path and sends half of it; it returns
// the upload's (the video's) id.
func tusHalf(t *testing.T, a api, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", a.base+"/v1/uploads/", nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.Itoa(len(data)))
	req.Header.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte("half.mp4")))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("tus create: %v %v", resp, err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	id := path.Base(loc.Path)
	req, _ = http.NewRequest("PATCH", a.base+"/v1/uploads/"+id, bytes.NewReader(data[:len(data)/2]))
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("tus patch: %v %v", resp, err)
	}
	resp.Body.Close()
	return id
}

func listKeys(t *testing.T, mc *minio.Client, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	for o := range mc.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list %s: %v", prefix, o.Err)
		}
		keys = append(keys, o.Key)
	}
	sort.Strings(keys)
	return keys
}

// lifecycleGroups are every consumer group of the stack and the topics
// each reads.
func lifecycleGroups() map[string][]string {
	g := map[string][]string{
		"transcode":                        {contract.TopicUploaded},
		"transcode-chunks":                 {contract.TopicTranscodeChunks},
		"transcode-audio":                  {contract.TopicTranscodeChunks},
		"transcode-assemble":               {contract.TopicTranscodeChunksDone},
		"thumbnail":                        {contract.TopicTranscoded},
		"indexer":                          {contract.TopicThumbnailed},
		"upload-api":                       append(append(contract.StageTopics(), contract.TopicTranscodeChunksDone), contract.DLQTopics()...),
		contract.LifecycleGroup("indexer"): {contract.TopicDeleted, contract.TopicUpdated},
	}
	for _, s := range []string{"upload-api", "transcode", "thumbnail"} {
		g[contract.LifecycleGroup(s)] = []string{contract.TopicDeleted}
	}
	return g
}

// waitQuiet waits until every group has consumed every topic it reads and
// then no topic grew for a quiet period (in-flight work finished: an
// attempt that was running when the video was deleted has published or
// dropped its output by then).
func waitQuiet(t *testing.T, brokers string) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers), Timeout: 10 * time.Second}
	ctx := context.Background()
	total := func() (lag, written int64) {
		for group, ts := range lifecycleGroups() {
			for _, topic := range ts {
				byPart, err := topics.GroupLag(ctx, client, group, topic)
				if err != nil {
					return -1, -1
				}
				for _, l := range byPart {
					lag += l
				}
			}
		}
		for _, topic := range contract.AllTopics() {
			wm, err := topics.Watermarks(ctx, client, topic)
			if err != nil {
				return -1, -1
			}
			for _, w := range wm {
				written += w[1]
			}
		}
		return lag, written
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		lag, before := total()
		if lag == 0 {
			time.Sleep(5 * time.Second)
			if lag2, after := total(); lag2 == 0 && after == before {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stack did not go quiet within 3 minutes (lag %d)", lag)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

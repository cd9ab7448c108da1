package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/dev/harness/lyingmedia"
	"github.com/vidpipe/vidpipe/dev/launch"
	"github.com/vidpipe/vidpipe/platform/stage"
)

func TestMain(m *testing.M) { harness.Main(m) }

// stack is the broker, storage and database plus the environment that
// points a service at them.
type stack struct {
	k      *harness.Kafka
	mc     *minio.Client
	bucket string
	pgURL  string
	env    map[string]string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	k := harness.StartKafka(t)
	k.CreatePipelineTopics(t, 2)
	m := harness.SharedMinIO(t)
	bucket := harness.MustBucket(t, m)
	pgURL := harness.MustDatabase(t, harness.SharedPostgres(t))
	s3 := m.S3Config(bucket)
	return &stack{k: k, mc: m.Client(t), bucket: bucket, pgURL: pgURL, env: map[string]string{
		"VIDPIPE_KAFKA_BROKERS":         joinBrokers(k.Brokers),
		"VIDPIPE_S3_ENDPOINT":           s3.Endpoint,
		"VIDPIPE_S3_BUCKET":             bucket,
		"VIDPIPE_S3_ACCESS_KEY":         s3.AccessKey,
		"VIDPIPE_S3_SECRET_KEY":         s3.SecretKey,
		"VIDPIPE_POSTGRES_URL":          pgURL,
		"VIDPIPE_STAGE_MAX_ATTEMPTS":    "3",
		"VIDPIPE_STAGE_BACKOFF_INITIAL": "100ms",
		"VIDPIPE_STAGE_BACKOFF_MAX":     "1s",
		"VIDPIPE_STAGE_ATTEMPT_TIMEOUT": "3m",
		"VIDPIPE_STAGE_SHUTDOWN_GRACE":  "5s",
		"VIDPIPE_TRANSCODE_PRESET":      "ultrafast",
		"VIDPIPE_LOG_LEVEL":             "info",
	}}
}

// startWorker starts one copy of a worker and waits for /healthz.
func (s *stack) startWorker(t *testing.T, name string) *service {
	t.Helper()
	addr := launch.MustFreeAddr(t)
	env := envList(s.env)
	env = append(env, "VIDPIPE_STAGE_HTTP_ADDR="+addr, "TMPDIR="+t.TempDir())
	svc := startService(t, name, mustBinary(t, name), env...)
	launch.MustWaitHTTP(t, "http://"+addr+"/healthz", 30*time.Second)
	return svc
}

// ffmpeg runs ffmpeg with args to generate test media.
func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	bin := harness.MustTool(t, "ffmpeg")
	cmd := exec.Command(bin, append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// clip generates a w×h test clip of secs seconds (with or without audio).
func clip(t *testing.T, dir, name string, w, h int, secs float64, audio bool) string {
	t.Helper()
	out := filepath.Join(dir, name)
	args := []string{"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=25:duration=%g", w, h, secs)}
	if audio {
		args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:duration=%g", secs), "-c:a", "aac")
	}
	args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-shortest", out)
	ffmpeg(t, args...)
	return out
}

// upload stores path as the source of a new video and returns its event.
func (s *stack) upload(t *testing.T, path, title string) contract.VideoUploaded {
	t.Helper()
	id := contract.NewID()
	info, err := s.mc.FPutObject(context.Background(), s.bucket, contract.SourceKey(id), path, minio.PutObjectOptions{ContentType: "video/mp4"})
	if err != nil {
		t.Fatalf("put source: %v", err)
	}
	return contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: id, Owner: "alice", Title: title, Tags: []string{"e2e"},
		Source:     contract.SourceObject{Bucket: s.bucket, Key: contract.SourceKey(id), Size: info.Size, ContentType: "video/mp4", Filename: filepath.Base(path)},
		UploadedAt: time.Now().UTC(),
	}}
}

func (s *stack) publish(t *testing.T, evs ...contract.VideoUploaded) {
	t.Helper()
	var msgs []kafka.Message
	for _, e := range evs {
		m, err := stage.NewMessage(e, "e2e", "")
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	s.k.Produce(t, msgs...)
}

// objects lists the object keys under prefix.
func (s *stack) objects(t *testing.T, prefix string) []string {
	t.Helper()
	var keys []string
	for o := range s.mc.ListObjects(context.Background(), s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list %s: %v", prefix, o.Err)
		}
		keys = append(keys, o.Key)
	}
	sort.Strings(keys)
	return keys
}

func byKey(msgs []kafka.Message) map[string][]kafka.Message {
	out := map[string][]kafka.Message{}
	for _, m := range msgs {
		out[string(m.Key)] = append(out[string(m.Key)], m)
	}
	return out
}

func TestPipelineGoodAndBadVideos(t *testing.T) {
	s := newStack(t)
	for _, w := range contract.DefaultPipeline().StageNames() {
		s.startWorker(t, string(w))
	}
	dir := t.TempDir()
	landscape := s.upload(t, clip(t, dir, "landscape.mp4", 854, 480, 2, true), "Landscape sunrise")
	small := s.upload(t, clip(t, dir, "small.mp4", 320, 240, 2, true), "Tiny clip")
	silent := s.upload(t, clip(t, dir, "silent.mp4", 640, 360, 2, false), "Silent movie")

	text := filepath.Join(dir, "notes.mp4")
	os.WriteFile(text, []byte("this is not a video, just text pretending\n"), 0o644)
	notVideo := s.upload(t, text, "Not a video")
	whole, _ := os.ReadFile(filepath.Join(dir, "landscape.mp4"))
	truncPath := filepath.Join(dir, "truncated.mp4")
	os.WriteFile(truncPath, whole[:len(whole)/3], 0o644)
	truncated := s.upload(t, truncPath, "Truncated")
	playlist := filepath.Join(dir, "evil.mp4")
	os.WriteFile(playlist, []byte("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXTINF:10,\n/etc/passwd\n#EXT-X-ENDLIST\n"), 0o644)
	evil := s.upload(t, playlist, "Crafted playlist")

	// Issue 11: three frames ten hours apart in a Matroska file whose
	// header declares 2 s (a lying duration), refused by the packet scan
	// instead of being transcoded into 20 hours of duplicated frames.
	lying := s.upload(t, lyingMatroska(t, dir), "Lying duration")
	reasons := map[string]string{lying.VideoID: "longer than declared"}

	good := []contract.VideoUploaded{landscape, small, silent}
	bad := []contract.VideoUploaded{notVideo, truncated, evil, lying}
	s.publish(t, append(append([]contract.VideoUploaded{}, bad...), good...)...)

	ready := byKey(s.k.ReadAll(t, contract.TopicReady, len(good), 5*time.Minute))
	dlq := byKey(s.k.ReadAll(t, contract.TopicTranscodeDLQ, len(bad), 2*time.Minute))

	wantRungs := map[string][]string{landscape.VideoID: {"360p", "480p"}, small.VideoID: {"240p"}, silent.VideoID: {"360p"}}
	for _, g := range good {
		ms := ready[g.VideoID]
		if len(ms) != 1 {
			t.Fatalf("%s (%s): %d video.ready records, want 1", g.Title, g.VideoID, len(ms))
		}
		doc, err := contract.Decode[contract.VideoReady](ms[0].Value)
		if err != nil {
			t.Fatalf("%s: video.ready does not decode: %v", g.Title, err)
		}
		if doc.Title != g.Title || doc.Owner != "alice" || doc.Media.DurationSeconds < 1.5 || doc.Media.DurationSeconds > 2.5 {
			t.Errorf("%s: document %+v", g.Title, doc.Video)
		}
		var names []string
		for _, r := range doc.Renditions {
			names = append(names, r.Name)
		}
		if strings.Join(names, ",") != strings.Join(wantRungs[g.VideoID], ",") {
			t.Errorf("%s: rungs %v, want %v", g.Title, names, wantRungs[g.VideoID])
		}
		// Every object the document names exists with the announced size.
		keys := map[string]int64{doc.HLS.MasterKey: 0, doc.Thumbnails.Poster.Key: doc.Thumbnails.Poster.Size, doc.Thumbnails.Small.Key: doc.Thumbnails.Small.Size}
		for _, r := range doc.Renditions {
			keys[r.Key] = r.Size
		}
		for k, size := range keys {
			st, err := s.mc.StatObject(context.Background(), s.bucket, k, minio.StatObjectOptions{})
			if err != nil {
				t.Errorf("%s: object %s: %v", g.Title, k, err)
			} else if size > 0 && st.Size != size {
				t.Errorf("%s: object %s has %d bytes, event says %d", g.Title, k, st.Size, size)
			}
		}
		if n := catalogRows(t, s.pgURL, g.VideoID); n != 1 {
			t.Errorf("%s: %d catalog rows, want 1", g.Title, n)
		}
	}
	for _, b := range bad {
		ms := dlq[b.VideoID]
		if len(ms) != 1 {
			t.Fatalf("%s: %d DLQ records, want 1", b.Title, len(ms))
		}
		hs := stage.FromKafkaHeaders(ms[0].Headers)
		dl, _ := contract.ParseDeadLetter(hs)
		if dl.Class != contract.ErrorClassPermanent || dl.Err == "" || dl.Stage != contract.StageTranscode {
			t.Errorf("%s: dead letter %+v, want permanent with a reason", b.Title, dl)
		}
		t.Logf("%s dead-lettered: %s", b.Title, dl.Err)
		if want := reasons[b.VideoID]; want != "" && !strings.Contains(dl.Err, want) {
			t.Errorf("%s: dead-letter reason %q does not say %q", b.Title, dl.Err, want)
		}
		if objs := s.objects(t, contract.OutputPrefix(b.VideoID)); len(objs) != 0 {
			t.Errorf("%s: outputs written for a bad input: %v", b.Title, objs)
		}
	}
	// Nothing of /etc/passwd leaked anywhere in the bucket.
	passwd, _ := os.ReadFile("/etc/passwd")
	firstLine := strings.SplitN(string(passwd), "\n", 2)[0]
	for _, k := range s.objects(t, "videos/") {
		obj, err := s.mc.GetObject(context.Background(), s.bucket, k, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1<<20)
		n, _ := readFull(obj, b)
		obj.Close()
		if firstLine != "" && strings.Contains(string(b[:n]), firstLine) {
			t.Fatalf("object %s contains /etc/passwd content", k)
		}
	}

	// Replay: the same video.uploaded again yields the same objects and one row.
	before := s.objects(t, contract.OutputPrefix(landscape.VideoID))
	s.publish(t, landscape)
	deadline := time.Now().Add(5 * time.Minute)
	for len(byKey(s.k.ReadAll(t, contract.TopicReady, len(good), time.Second))[landscape.VideoID]) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("replayed video never reached video.ready again")
		}
		time.Sleep(500 * time.Millisecond)
	}
	after := s.objects(t, contract.OutputPrefix(landscape.VideoID))
	if strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Errorf("replay changed the object set:\nbefore %v\nafter  %v", before, after)
	}
	if n := catalogRows(t, s.pgURL, landscape.VideoID); n != 1 {
		t.Errorf("replay: %d catalog rows, want 1", n)
	}
	for _, st := range contract.Stages {
		waitLagZero(t, s.k, st)
	}
}

// lyingMatroska writes 3 frames ten hours apart as Matroska whose header
// declares 2 s (a case of dev/harness/lyingmedia).
func lyingMatroska(t *testing.T, dir string) string {
	t.Helper()
	c, err := lyingmedia.TenHoursDeclaredTwoSeconds(harness.MustTool(t, "ffmpeg"), dir)
	if err != nil {
		t.Fatal(err)
	}
	return c.Path
}

// waitLagZero waits until the stage's group has committed everything
// (commits are batched for up to stage.commit_interval).
func waitLagZero(t *testing.T, k *harness.Kafka, st contract.Stage) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		lag := k.Lag(t, st.Group(), st.InputTopic())
		if lag == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("group %s: lag %d, want 0", st.Group(), lag)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func readFull(r interface{ Read([]byte) (int, error) }, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func catalogRows(t *testing.T, url, id string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect catalog: %v", err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM videos WHERE id = $1", id).Scan(&n); err != nil {
		t.Fatalf("count catalog rows: %v", err)
	}
	return n
}

package devstack

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/launch"
	"github.com/vidpipe/vidpipe/platform/topics"
)

// mustStackDir returns a new directory for a stack, removed at cleanup.
// Not t.TempDir: its parent is private to the current user, and the
// PostgreSQL server runs as user postgres when the tests run as root.
func mustStackDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vidpipe-dev-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}

// mustFreePorts returns n distinct ports of 127.0.0.1 that were free a
// moment ago.
func mustFreePorts(t *testing.T, n int) []int {
	t.Helper()
	ports, err := launch.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// mustStartInfra starts the infrastructure and stops it at cleanup.
func mustStartInfra(t *testing.T, o InfraOptions) *Infra {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, err := StartInfra(ctx, o)
	if err != nil {
		t.Fatalf("StartInfra: %v", err)
	}
	t.Cleanup(func() {
		if err := in.Stop(); err != nil {
			t.Errorf("stop infra: %v", err)
		}
	})
	return in
}

func TestInfraResumesWithSameData(t *testing.T) {
	dir := mustStackDir(t)
	ports := mustFreePorts(t, 3)
	opts := InfraOptions{Dir: dir, KafkaPort: ports[0], S3Port: ports[1], PGPort: ports[2], Partitions: 3}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// First run: everything is created; write a record, an object and a row.
	in := mustStartInfra(t, opts)
	if !slices.Equal(in.Created, contract.AllTopics()) {
		t.Errorf("first start created topics %v, want %v", in.Created, contract.AllTopics())
	}
	if want := "postgres://vidpipe@127.0.0.1:" + strconv.Itoa(ports[2]) + "/vidpipe?sslmode=disable"; in.Endpoints.PostgresURL != want {
		t.Errorf("PostgresURL = %q, want %q", in.Endpoints.PostgresURL, want)
	}
	produce(ctx, t, in.Endpoints.Brokers, contract.TopicUploaded, "video-1", "first run")
	mc := minioClient(t, in)
	if _, err := mc.PutObject(ctx, Bucket, "uploads/video-1/source", bytes.NewReader([]byte("bytes")), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put object: %v", err)
	}
	conn := connect(ctx, t, in.Endpoints.PostgresURL) // as role vidpipe
	if _, err := conn.Exec(ctx, "CREATE TABLE notes (id text PRIMARY KEY, body text)"); err != nil {
		t.Fatalf("create table as role vidpipe: %v", err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO notes VALUES ('n1', 'kept')"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := in.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	// Second run on the same directory: nothing created, everything found.
	in = mustStartInfra(t, opts)
	if len(in.Created) != 0 {
		t.Errorf("second start created topics %v, want none (they persist)", in.Created)
	}
	client := &kafka.Client{Addr: kafka.TCP(in.Endpoints.Brokers), Timeout: 10 * time.Second}
	for _, topic := range contract.AllTopics() {
		parts, err := topics.Partitions(ctx, client, topic)
		if err != nil || len(parts) != 3 {
			t.Errorf("topic %s after restart: partitions %v, %v; want 3", topic, parts, err)
		}
	}
	if got := readFirst(ctx, t, in.Endpoints.Brokers, contract.TopicUploaded); got != "video-1=first run" {
		t.Errorf("record after restart = %q, want video-1=first run", got)
	}
	obj, err := minioClient(t, in).GetObject(ctx, Bucket, "uploads/video-1/source", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || string(data) != "bytes" {
		t.Errorf("object after restart = %q, %v; want bytes", data, err)
	}
	conn = connect(ctx, t, in.Endpoints.PostgresURL)
	defer conn.Close(ctx)
	var body string
	if err := conn.QueryRow(ctx, "SELECT body FROM notes WHERE id = 'n1'").Scan(&body); err != nil || body != "kept" {
		t.Errorf("row after restart = %q, %v; want kept", body, err)
	}
}

func TestInfraFailureCarriesServerLog(t *testing.T) {
	dir := mustStackDir(t)
	ports := mustFreePorts(t, 3)
	// A cluster directory PostgreSQL refuses: it exits at once.
	data := filepath.Join(dir, "postgres", "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "PG_VERSION"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, err := StartInfra(ctx, InfraOptions{Dir: dir, KafkaPort: ports[0], S3Port: ports[1], PGPort: ports[2]})
	if err == nil {
		in.Stop()
		t.Fatal("StartInfra succeeded with a broken PostgreSQL directory")
	}
	ses := startErrors(err)
	if len(ses) != 1 || ses[0].Server != "postgres" || ses[0].LogPath != LogPath(dir, "postgres") {
		t.Fatalf("start errors %v (from %v), want one of postgres with log %s", ses, err, LogPath(dir, "postgres"))
	}
	if !strings.Contains(ses[0].LogTail, "postgresql.conf") {
		t.Errorf("log tail does not show the cause:\n%s", ses[0].LogTail)
	}
	// The servers that did start were stopped: their ports are free again.
	for _, p := range ports[:2] {
		l, err := net.Listen("tcp", hostPort(p))
		if err != nil {
			t.Errorf("port %d still taken after a failed start: %v", p, err)
			continue
		}
		l.Close()
	}
}

func produce(ctx context.Context, t *testing.T, broker, topic, key, value string) {
	t.Helper()
	w := &kafka.Writer{
		Addr:         kafka.TCP(broker),
		Topic:        topic,
		Balancer:     kafka.BalancerFunc(func(kafka.Message, ...int) int { return 0 }),
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
	}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(key), Value: []byte(value)}); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// readFirst returns "key=value" of the first record of partition 0 of topic.
func readFirst(ctx context.Context, t *testing.T, broker, topic string) string {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
	return string(m.Key) + "=" + string(m.Value)
}

func minioClient(t *testing.T, in *Infra) *minio.Client {
	t.Helper()
	c, err := in.MinIO.Client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func connect(ctx context.Context, t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	return conn
}

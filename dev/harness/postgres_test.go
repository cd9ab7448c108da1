package harness

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func execSQL(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func queryString(t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func TestSharedPostgres(t *testing.T) {
	t.Parallel()
	p := SharedPostgres(t)
	if again := SharedPostgres(t); again != p {
		t.Fatal("SharedPostgres returned a second server")
	}
	if p.Host != "127.0.0.1" || p.User != "postgres" || p.Port == 0 {
		t.Fatalf("server %+v, want 127.0.0.1, user postgres and a port", p)
	}

	u1, u2 := MustDatabase(t, p), MustDatabase(t, p)
	if u1 == u2 {
		t.Fatalf("MustDatabase returned %q twice", u1)
	}
	if !strings.HasPrefix(u1, "postgres://postgres@127.0.0.1:") || !strings.HasSuffix(u1, "?sslmode=disable") {
		t.Errorf("database URL %q, want postgres://postgres@127.0.0.1:PORT/NAME?sslmode=disable", u1)
	}
	c1, c2 := connect(t, u1), connect(t, u2)
	execSQL(t, c1, "CREATE TABLE videos (id text PRIMARY KEY, title text)")
	execSQL(t, c1, "INSERT INTO videos VALUES ($1, $2)", "v1", "Ünïcode title")
	if got := queryString(t, c1, "SELECT title FROM videos WHERE id = 'v1'"); got != "Ünïcode title" {
		t.Errorf("title = %q", got)
	}
	if got := queryString(t, c2, "SELECT count(*)::text FROM pg_tables WHERE tablename = 'videos'"); got != "0" {
		t.Errorf("second database sees %s videos tables, want 0 (databases are separate)", got)
	}
	if got := queryString(t, c1, "SHOW listen_addresses"); got != "127.0.0.1" {
		t.Errorf("listen_addresses = %q, want 127.0.0.1", got)
	}
	if got := queryString(t, c1, "SHOW server_encoding"); got != "UTF8" {
		t.Errorf("server_encoding = %q, want UTF8", got)
	}
}

func TestPostgresRunsAsPostgresUserWhenRoot(t *testing.T) {
	t.Parallel()
	p := SharedPostgres(t)
	st, err := os.Stat(filepath.Join(p.Dir, "data", "PG_VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	owner := st.Sys().(*syscall.Stat_t).Uid
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		if uid := strconv.FormatUint(uint64(owner), 10); uid != u.Uid {
			t.Errorf("cluster owned by uid %s, want the postgres user's %s", uid, u.Uid)
		}
	} else if owner != uint32(os.Geteuid()) {
		t.Errorf("cluster owned by uid %d, want the current user's %d", owner, os.Geteuid())
	}
}

func TestPostgresRestartKeepsData(t *testing.T) {
	t.Parallel()
	p := StartPostgres(t)
	url := MustDatabase(t, p)
	port := p.Port
	conn := connect(t, url)
	execSQL(t, conn, "CREATE TABLE kv (k text PRIMARY KEY, v text)")
	execSQL(t, conn, "INSERT INTO kv VALUES ('a', 'before restart')")

	p.Restart(t)
	if p.Port != port {
		t.Errorf("port after Restart %d, want %d", p.Port, port)
	}
	if got := queryString(t, connect(t, url), "SELECT v FROM kv WHERE k = 'a'"); got != "before restart" {
		t.Errorf("value after Restart = %q", got)
	}

	p.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if c, err := pgx.Connect(ctx, url); err == nil {
		c.Close(context.Background())
		t.Fatal("connected to a stopped server")
	}
	p.Start(t)
	if got := queryString(t, connect(t, url), "SELECT v FROM kv WHERE k = 'a'"); got != "before restart" {
		t.Errorf("value after Stop and Start = %q", got)
	}
}

package servers

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vidpipe/vidpipe/dev/launch"
)

// mustPostgresDir returns a new directory for a cluster, removed at
// cleanup (not t.TempDir, whose parent the postgres user cannot enter).
func mustPostgresDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "servers-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "pg") // created by StartPostgres
}

func mustStartPostgres(ctx context.Context, t *testing.T, o PostgresOptions) *Postgres {
	t.Helper()
	p, err := StartPostgres(ctx, o)
	if err != nil {
		t.Fatalf("StartPostgres: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
	return p
}

func TestPostgresNewServerOnSameDirKeepsData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := mustPostgresDir(t)
	port, err := launch.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	o := PostgresOptions{Dir: dir, Port: port, LogPath: filepath.Join(filepath.Dir(dir), "pg.log"), Durable: true}
	p := mustStartPostgres(ctx, t, o)
	if p.Port != port {
		t.Errorf("Port = %d, want %d", p.Port, port)
	}
	if err := p.EnsureDatabase(ctx, "app", "app"); err != nil {
		t.Fatal(err)
	}
	if err := p.EnsureDatabase(ctx, "app", "app"); err != nil {
		t.Fatalf("second EnsureDatabase: %v", err)
	}
	url := p.UserURL("app", "app")
	if want := "postgres://app@127.0.0.1:"; !strings.HasPrefix(url, want) {
		t.Errorf("UserURL = %q, want prefix %q", url, want)
	}
	execSQL(ctx, t, url, "CREATE TABLE kv (k text PRIMARY KEY, v text)")
	execSQL(ctx, t, url, "INSERT INTO kv VALUES ('a', 'kept')")
	versionFile := filepath.Join(dir, "data", "PG_VERSION")
	before, err := os.Stat(versionFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}

	// A new server on the same Dir: no initdb, same data.
	p = mustStartPostgres(ctx, t, o)
	after, err := os.Stat(versionFile)
	if err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("PG_VERSION changed (%v): the cluster was created again", err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM kv WHERE k = 'a'").Scan(&v); err != nil || v != "kept" {
		t.Errorf("row after a new start = %q, %v; want kept", v, err)
	}
	if st, err := os.Stat(o.LogPath); err != nil || st.Size() == 0 {
		t.Errorf("log %s: %v, want the server's output there", o.LogPath, err)
	}
}

func execSQL(ctx context.Context, t *testing.T, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestSearchable(t *testing.T) {
	// Not t.TempDir, whose parent is private to the current user.
	root, err := os.MkdirTemp("", "servers-searchable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(root, "open")
	closed := filepath.Join(root, "closed")
	for d, mode := range map[string]os.FileMode{open: 0o755, closed: 0o700} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(d, 0o755) })
	}
	stranger := &syscall.Credential{Uid: 54321, Gid: 54321}
	tests := map[string]struct {
		dir     string
		wantErr string
	}{
		"open parents":  {filepath.Join(open, "pg"), ""},
		"closed parent": {filepath.Join(closed, "pg"), "cannot enter " + closed + " (mode drwx------): put the data elsewhere, or allow it in with chmod o+x " + closed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := searchable(tc.dir, stranger)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("searchable(%s) = %v, want nil", tc.dir, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("searchable(%s) = %v, want %q", tc.dir, err, tc.wantErr)
			}
		})
	}
}

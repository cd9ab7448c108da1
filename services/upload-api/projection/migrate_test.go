package projection

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vidpipe/vidpipe/platform/migrate"
)

// released pins the SHA-256 of every migration already shipped: migrations
// are append-only, so a change to a released file is a mistake (a database
// that ran it would never see the edit). A new file needs no entry here.
var released = map[string]string{
	"0001_video_status.sql":        "d4e5f57e472a49d3f22449b467b77c7441a0ab2defbc3f43744a60db8a2189ee",
	"0002_upload_reservations.sql": "7fbe0557ab1b23c14a4f2261ebb9231bfcf1407b626310e2f45f817fe819bf94",
	"0003_failure_code.sql":        "24f42b04be754ba64c67425eedfc92c37374258a1d57e5f64145595fd3b3dd63",
	"0004_stage_rank_any.sql":      "78a736d2eeac9da752a5a01c189a911b0ddad16d3ea8d63549a813847b2955c0",
}

func TestReleasedMigrationsUnchanged(t *testing.T) {
	for name, want := range released {
		b, err := fs.ReadFile(source().FS, name)
		if err != nil {
			t.Errorf("released migration %s: %v", name, err)
			continue
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("released migration %s was edited (sha256 %s, released %s): add a new migration instead", name, got, want)
		}
	}
}

// embeddedCount is the number of embedded migration files.
func embeddedCount(tb testing.TB) int {
	tb.Helper()
	names, err := fs.Glob(source().FS, "*.sql")
	if err != nil || len(names) == 0 {
		tb.Fatalf("embedded migrations: %v, %v", names, err)
	}
	return len(names)
}

func schemaVersion(tb testing.TB, pool *pgxpool.Pool) int {
	tb.Helper()
	var v int
	if err := pool.QueryRow(context.Background(), "SELECT version FROM "+VersionTable).Scan(&v); err != nil {
		tb.Fatalf("read schema version: %v", err)
	}
	return v
}

func TestMigrateConcurrent(t *testing.T) {
	url := MustNewDatabase(t)
	pool := MustPool(t, url)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := Open(ctx, MustPool(t, url)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Open: %v", err)
	}
	if err := Migrate(context.Background(), pool); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if v, n := schemaVersion(t, pool), embeddedCount(t); v != n {
		t.Fatalf("schema version = %d, want %d", v, n)
	}
}

// TestMigrateAdoptsTheOldRunnersTable: a database the projection's own
// runner migrated (before platform/migrate; what `make run` resumes from
// .vidpipe) gets only the migrations after the ones it recorded.
func TestMigrateAdoptsTheOldRunnersTable(t *testing.T) {
	ctx := context.Background()
	pool := MustPool(t, MustNewDatabase(t))
	if _, err := pool.Exec(ctx, `CREATE TABLE projection_migrations (
		version    int         PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"0001_video_status.sql", "0002_upload_reservations.sql", "0003_failure_code.sql"} {
		b, err := fs.ReadFile(source().FS, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, string(b)); err != nil {
			t.Fatalf("apply %s as the old runner did: %v", name, err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO projection_migrations (version, name) VALUES ($1, $2)`, name[:4], name); err != nil {
			t.Fatal(err)
		}
	}
	applied, err := migrate.Up(ctx, pool, source())
	if err != nil {
		t.Fatalf("migrate a database of the old runner: %v", err)
	}
	for _, m := range applied {
		if m.Version <= 3 {
			t.Errorf("re-applied %s", m.Name)
		}
	}
	if v, n := schemaVersion(t, pool), embeddedCount(t); v != n {
		t.Fatalf("schema version = %d, want %d", v, n)
	}
	if _, err := Open(ctx, pool); err != nil {
		t.Fatalf("Open after adoption: %v", err)
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	pool := MustPool(t, MustNewDatabase(t))
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "UPDATE "+VersionTable+" SET version = version + 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, pool); !errors.Is(err, migrate.ErrNewerSchema) {
		t.Fatalf("Open under a newer schema: err = %v, want ErrNewerSchema", err)
	}
}

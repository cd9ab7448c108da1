package catalog_test

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vidpipe/vidpipe/platform/catalog"
	"github.com/vidpipe/vidpipe/platform/migrate"
)

// embedded returns the names of the embedded migration files.
func embedded(tb testing.TB) []string {
	tb.Helper()
	names, err := fs.Glob(catalog.Source().FS, "*.sql")
	if err != nil || len(names) == 0 {
		tb.Fatalf("embedded migrations: %v, %v", names, err)
	}
	return names
}

func schemaVersion(tb testing.TB, pool *pgxpool.Pool) int {
	tb.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT version FROM "+catalog.VersionTable).Scan(&n); err != nil {
		tb.Fatalf("read schema version: %v", err)
	}
	return n
}

func TestMigrateTwiceIsIdempotent(t *testing.T) {
	ctx := context.Background()
	pool := MustPool(t)
	all := embedded(t)
	applied, err := catalog.Migrate(ctx, pool)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	if len(applied) != len(all) {
		t.Errorf("first migrate applied %d, want %d", len(applied), len(all))
	}
	applied, err = catalog.Migrate(ctx, pool)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(applied) != 0 {
		t.Errorf("second migrate applied %d, want 0", len(applied))
	}
	if n := schemaVersion(t, pool); n != len(all) {
		t.Errorf("schema version = %d, want %d", n, len(all))
	}
	// The schema works: the generated search column accepts rows.
	c := catalog.New(pool)
	MustUpsert(t, c, newDoc("alice", "After migrate", "", "tag one", "tag two"))
}

func TestMigrateConcurrently(t *testing.T) {
	// Several indexer copies starting together: one applies, the others
	// wait on the advisory lock and find nothing to do.
	ctx := context.Background()
	pool := MustPool(t)
	all := embedded(t)
	const copies = 5
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
		errs  []error
	)
	for range copies {
		wg.Go(func() {
			applied, err := catalog.Migrate(ctx, pool)
			mu.Lock()
			defer mu.Unlock()
			total += len(applied)
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent migrate: %v", err)
	}
	if total != len(all) {
		t.Errorf("migrations applied in total = %d, want %d (each exactly once)", total, len(all))
	}
	if n := schemaVersion(t, pool); n != len(all) {
		t.Errorf("schema version = %d, want %d", n, len(all))
	}
}

func TestMigrateAdoptsTheIndexerRunnersTable(t *testing.T) {
	// A database the indexer's own runner migrated (before platform/migrate):
	// the schema of 0001 and its indexer_schema_migrations table.
	ctx := context.Background()
	pool := MustPool(t)
	first, err := fs.ReadFile(catalog.Source().FS, "0001_videos.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, string(first)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE indexer_schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO indexer_schema_migrations (version, name, checksum)
		VALUES (1, '0001_videos.sql', 'e434d8d8cfe2a73deb353086698799296edfe34a858e25feed39b6b7cb565c96')`); err != nil {
		t.Fatal(err)
	}
	applied, err := catalog.Migrate(ctx, pool)
	if err != nil {
		t.Fatalf("migrate an existing catalog: %v", err)
	}
	// Only files after 0001 run (re-running 0001 would fail: its table exists).
	for _, m := range applied {
		if m.Version <= 1 {
			t.Errorf("migrate re-applied %s", m.Name)
		}
	}
	if n, all := schemaVersion(t, pool), len(embedded(t)); n != all {
		t.Errorf("schema version = %d, want %d", n, all)
	}
	MustUpsert(t, catalog.New(pool), newDoc("alice", "Adopted", ""))
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	pool := MustPool(t)
	if _, err := catalog.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "UPDATE "+catalog.VersionTable+" SET version = version + 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.Migrate(ctx, pool); !errors.Is(err, migrate.ErrNewerSchema) {
		t.Fatalf("migrate under a newer schema: err = %v, want ErrNewerSchema", err)
	}
}

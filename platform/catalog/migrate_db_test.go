package catalog_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vidpipe/vidpipe/services/indexer/catalog"
)

func countApplied(tb testing.TB, pool *pgxpool.Pool) int {
	tb.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+catalog.MigrationsTable).Scan(&n); err != nil {
		tb.Fatalf("count migrations: %v", err)
	}
	return n
}

func TestMigrateTwiceIsIdempotent(t *testing.T) {
	ctx := context.Background()
	pool := MustPool(t)
	all, err := catalog.Migrations()
	if err != nil {
		t.Fatal(err)
	}
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
	if n := countApplied(t, pool); n != len(all) {
		t.Errorf("recorded migrations = %d, want %d", n, len(all))
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
	all, err := catalog.Migrations()
	if err != nil {
		t.Fatal(err)
	}
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
	if n := countApplied(t, pool); n != len(all) {
		t.Errorf("recorded migrations = %d, want %d", n, len(all))
	}
}

func TestMigrateRefusesModifiedMigration(t *testing.T) {
	ctx := context.Background()
	pool := MustPool(t)
	if _, err := catalog.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "UPDATE "+catalog.MigrationsTable+" SET checksum = 'edited' WHERE version = 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.Migrate(ctx, pool); !errors.Is(err, catalog.ErrMigrationChanged) {
		t.Fatalf("migrate after an edit: err = %v, want ErrMigrationChanged", err)
	}
}

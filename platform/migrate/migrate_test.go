package migrate_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/migrate"
)

func TestMain(m *testing.M) { harness.Main(m) }

// mustPool returns a pool on a fresh database of the shared server.
func mustPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), harness.MustDatabase(tb, harness.SharedPostgres(tb)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

func files(sqls ...string) fstest.MapFS {
	names := []string{"0001_a.sql", "0002_b.sql", "0003_c.sql", "0004_d.sql"}
	fsys := fstest.MapFS{"README.md": {Data: []byte("not a migration")}}
	for i, s := range sqls {
		fsys[names[i]] = &fstest.MapFile{Data: []byte(s)}
	}
	return fsys
}

var three = []string{
	"CREATE TABLE a (id int PRIMARY KEY);",
	"CREATE TABLE b (id int PRIMARY KEY); INSERT INTO b VALUES (1);",
	"ALTER TABLE a ADD COLUMN note text NOT NULL DEFAULT '';",
}

func version(tb testing.TB, pool *pgxpool.Pool, table string) int {
	tb.Helper()
	var v int
	if err := pool.QueryRow(context.Background(), "SELECT version FROM "+table).Scan(&v); err != nil {
		tb.Fatalf("read %s: %v", table, err)
	}
	return v
}

func names(ms []migrate.Migration) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestUpAppliesOnceInOrder(t *testing.T) {
	ctx := context.Background()
	pool := mustPool(t)
	src := migrate.Source{FS: files(three...), Table: "x_schema_version"}
	applied, err := migrate.Up(ctx, pool, src)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(applied); len(got) != 3 || got[0] != "0001_a.sql" || got[2] != "0003_c.sql" {
		t.Fatalf("applied = %v, want the three files in order", got)
	}
	if v := version(t, pool, src.Table); v != 3 {
		t.Fatalf("version = %d, want 3", v)
	}
	applied, err = migrate.Up(ctx, pool, src)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second Up applied %v, err %v; want nothing", names(applied), err)
	}
	// A file added later (the next release) is picked up by its number.
	src.FS = files(append(three[:3:3], "INSERT INTO a (id, note) VALUES (7, 'four');")...)
	applied, err = migrate.Up(ctx, pool, src)
	if err != nil || len(applied) != 1 || applied[0].Version != 4 {
		t.Fatalf("Up after a new file applied %v, err %v; want only 0004", names(applied), err)
	}
	// No advisory lock stays behind.
	var locks int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").Scan(&locks); err != nil || locks != 0 {
		t.Fatalf("advisory locks held after Up: %d (err %v)", locks, err)
	}
}

func TestUpConcurrently(t *testing.T) {
	// Replicas starting together: each migration is applied exactly once.
	pool := mustPool(t)
	src := migrate.Source{FS: files(three...), Table: "x_schema_version"}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
		errs  []error
	)
	for range 5 {
		wg.Go(func() {
			applied, err := migrate.Up(context.Background(), pool, src)
			mu.Lock()
			defer mu.Unlock()
			total += len(applied)
			errs = append(errs, err)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if total != 3 {
		t.Fatalf("migrations applied in total = %d, want 3", total)
	}
	if v := version(t, pool, src.Table); v != 3 {
		t.Fatalf("version = %d, want 3", v)
	}
}

func TestUpComponentsShareADatabase(t *testing.T) {
	ctx := context.Background()
	pool := mustPool(t)
	if _, err := migrate.Up(ctx, pool, migrate.Source{FS: files(three...), Table: "one_schema_version"}); err != nil {
		t.Fatal(err)
	}
	other := files("CREATE TABLE other (id int);")
	applied, err := migrate.Up(ctx, pool, migrate.Source{FS: other, Table: "two_schema_version"})
	if err != nil || len(applied) != 1 {
		t.Fatalf("second component applied %v, err %v", names(applied), err)
	}
}

func TestUpRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	pool := mustPool(t)
	src := migrate.Source{FS: files(three...), Table: "x_schema_version"}
	if _, err := migrate.Up(ctx, pool, src); err != nil {
		t.Fatal(err)
	}
	src.FS = files(three[:2]...) // an older binary
	_, err := migrate.Up(ctx, pool, src)
	if !errors.Is(err, migrate.ErrNewerSchema) {
		t.Fatalf("Up with an older binary: err = %v, want ErrNewerSchema", err)
	}
	if v := version(t, pool, src.Table); v != 3 {
		t.Fatalf("version = %d after the refusal, want 3", v)
	}
}

func TestUpRollsBackAFailedMigration(t *testing.T) {
	ctx := context.Background()
	pool := mustPool(t)
	src := migrate.Source{FS: files(three[0], "CREATE TABLE half (id int); SELECT no_such_function();"), Table: "x_schema_version"}
	applied, err := migrate.Up(ctx, pool, src)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42883" {
		t.Fatalf("err = %v, want the PostgreSQL error undefined_function", err)
	}
	if got := names(applied); len(got) != 1 || got[0] != "0001_a.sql" {
		t.Fatalf("applied = %v, want only 0001_a.sql", got)
	}
	if v := version(t, pool, src.Table); v != 1 {
		t.Fatalf("version = %d, want 1", v)
	}
	var half bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('half') IS NOT NULL").Scan(&half); err != nil || half {
		t.Fatalf("table of the failed migration exists: %v (err %v)", half, err)
	}
}

func TestUpRejectsInvalidSources(t *testing.T) {
	pool := mustPool(t)
	sql := &fstest.MapFile{Data: []byte("SELECT 1;")}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":       {"0001_a.sql": sql, "0003_c.sql": sql},
		"duplicate": {"0001_a.sql": sql, "001_b.sql": sql},
		"empty":     {"README.md": sql},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := migrate.Up(context.Background(), pool, migrate.Source{FS: fsys, Table: "x_schema_version"})
			if !errors.Is(err, migrate.ErrInvalidSource) {
				t.Fatalf("err = %v, want ErrInvalidSource", err)
			}
		})
	}
}

func TestUpAdoptsLegacyTable(t *testing.T) {
	// A database the previous runner migrated: one row per applied
	// version (its layouts had name, applied_at and sometimes checksum).
	ctx := context.Background()
	pool := mustPool(t)
	if _, err := pool.Exec(ctx, three[0]+three[1]+`
		CREATE TABLE old_migrations (version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO old_migrations (version, name, checksum) VALUES (1, '0001_a.sql', 'x'), (2, '0002_b.sql', 'y');`); err != nil {
		t.Fatal(err)
	}
	src := migrate.Source{FS: files(three...), Table: "x_schema_version", Legacy: "old_migrations"}
	applied, err := migrate.Up(ctx, pool, src)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(applied); len(got) != 1 || got[0] != "0003_c.sql" {
		t.Fatalf("applied = %v, want only 0003_c.sql", got)
	}
	if v := version(t, pool, src.Table); v != 3 {
		t.Fatalf("version = %d, want 3", v)
	}
	// Once adopted, the legacy table is not read again.
	if _, err := pool.Exec(ctx, "DELETE FROM old_migrations"); err != nil {
		t.Fatal(err)
	}
	if applied, err := migrate.Up(ctx, pool, src); err != nil || len(applied) != 0 {
		t.Fatalf("Up after adoption applied %v, err %v", names(applied), err)
	}
}

func TestUpWithoutLegacyTableStartsFresh(t *testing.T) {
	pool := mustPool(t)
	src := migrate.Source{FS: files(three...), Table: "x_schema_version", Legacy: "old_migrations"}
	applied, err := migrate.Up(context.Background(), pool, src)
	if err != nil || len(applied) != 3 {
		t.Fatalf("applied %v, err %v; want all three", names(applied), err)
	}
}

func TestUpRefusesGappedLegacyHistory(t *testing.T) {
	ctx := context.Background()
	pool := mustPool(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE old_migrations (version int PRIMARY KEY);
		INSERT INTO old_migrations VALUES (1), (3);`); err != nil {
		t.Fatal(err)
	}
	_, err := migrate.Up(ctx, pool, migrate.Source{FS: files(three...), Table: "x_schema_version", Legacy: "old_migrations"})
	if err == nil {
		t.Fatal("Up adopted a legacy history with a gap")
	}
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('x_schema_version') IS NOT NULL").Scan(&exists); err != nil || exists {
		t.Fatalf("version table created after a refused adoption: %v (err %v)", exists, err)
	}
}

func TestUpReturnsWhenCancelled(t *testing.T) {
	pool := mustPool(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := migrate.Up(ctx, pool, migrate.Source{FS: files(three...), Table: "x_schema_version"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

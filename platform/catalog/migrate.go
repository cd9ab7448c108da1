package catalog

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// MigrationsTable records the applied schema migrations of the catalog. It
// is named after its owner (not plain "schema_migrations") so that another
// service sharing the database can keep its own table.
const MigrationsTable = "indexer_schema_migrations"

// migrationLockKey is the pg_advisory_xact_lock key that serialises
// concurrent Migrate calls ("vidpipe.indexer.migrate" in ASCII, truncated).
const migrationLockKey int64 = 0x76696470_69646578

// Migration is one embedded schema change.
type Migration struct {
	// Version is the number the file name starts with, e.g. 1 for 0001_videos.sql.
	Version int
	// Name is the file name.
	Name string
	// SQL is the file's content; it may hold several statements.
	SQL string
	// Checksum is the hex SHA-256 of SQL, recorded when applied.
	Checksum string
}

// Migrations returns the embedded migrations in version order. File names
// are "NNNN_description.sql"; versions must be unique.
func Migrations() ([]Migration, error) {
	return parseMigrations(migrationFiles, "migrations")
}

func parseMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: name must start with a positive number and '_'", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", e.Name(), err)
		}
		sum := sha256.Sum256(b)
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b), Checksum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// ErrMigrationChanged is returned by Migrate when an applied migration's
// recorded checksum differs from the embedded file: migrations are
// append-only, a released file must never be edited.
var ErrMigrationChanged = errors.New("applied migration was modified")

// Migrate applies the embedded migrations that are not yet recorded in
// [MigrationsTable], all in one transaction under a transaction-scoped
// advisory lock, so several indexer copies starting together are safe: one
// applies, the others wait and then find nothing to do. It is idempotent.
// It returns the migrations it applied (none when the schema was current).
// Versions recorded in the table but unknown to this binary (a newer
// release ran first) are left alone.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]Migration, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	return migrate(ctx, pool, ms)
}

func migrate(ctx context.Context, pool *pgxpool.Pool, ms []Migration) (applied []Migration, err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	// The lock comes first: even CREATE TABLE IF NOT EXISTS races with
	// itself (unique violation on pg_type) when run concurrently.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
		return nil, fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+MigrationsTable+` (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		checksum   text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("migrate: create %s: %w", MigrationsTable, err)
	}
	done, err := appliedChecksums(ctx, tx)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if sum, ok := done[m.Version]; ok {
			if sum != m.Checksum {
				return nil, fmt.Errorf("migrate: %s: %w (recorded %.12s, embedded %.12s)", m.Name, ErrMigrationChanged, sum, m.Checksum)
			}
			continue
		}
		// No arguments: pgx uses the simple protocol, which allows
		// several statements in one call.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return nil, fmt.Errorf("migrate: apply %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+MigrationsTable+" (version, name, checksum) VALUES ($1, $2, $3)",
			m.Version, m.Name, m.Checksum); err != nil {
			return nil, fmt.Errorf("migrate: record %s: %w", m.Name, err)
		}
		applied = append(applied, m)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("migrate: commit: %w", err)
	}
	return applied, nil
}

func appliedChecksums(ctx context.Context, tx pgx.Tx) (map[int]string, error) {
	rows, err := tx.Query(ctx, "SELECT version, checksum FROM "+MigrationsTable)
	if err != nil {
		return nil, fmt.Errorf("migrate: read %s: %w", MigrationsTable, err)
	}
	done := map[int]string{}
	var (
		v   int
		sum string
	)
	if _, err := pgx.ForEachRow(rows, []any{&v, &sum}, func() error {
		done[v] = sum
		return nil
	}); err != nil {
		return nil, fmt.Errorf("migrate: read %s: %w", MigrationsTable, err)
	}
	return done, nil
}

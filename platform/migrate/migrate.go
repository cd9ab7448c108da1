// Package migrate applies a component's embedded SQL migrations to
// PostgreSQL. It is the one migration runner of vidpipe: the status
// projection (upload-api) and the video catalog (indexer) each hand it
// their own [Source].
//
// The migrations themselves are run by tern's migrator
// (github.com/jackc/tern/v2/migrate): each file in its own transaction
// together with the version update, under a session-level PostgreSQL
// advisory lock so that replicas starting together apply each migration
// exactly once. This package adds what tern leaves to its caller: a
// connection of its own (taken out of the pool and closed afterwards, so a
// lock can never stay behind on a pooled connection), a refusal to run
// against a schema newer than the binary, and the adoption of the version
// tables the runners before it kept.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	tern "github.com/jackc/tern/v2/migrate"
)

// Source is one component's migrations.
type Source struct {
	// FS holds the migrations at its root, named NNNN_description.sql and
	// numbered from 1 without gaps or duplicates (the number is the
	// version; other files are ignored). Migrations are append-only: a
	// released file is never edited, a change is a new file. A file is a
	// text/template (tern's format) and may hold several statements; it
	// must not leave its transaction (no COMMIT, no CREATE INDEX
	// CONCURRENTLY).
	FS fs.FS
	// Table is the version table of the component, e.g.
	// "projection_schema_version": one row holding the version of the last
	// applied migration. Each component has its own, so several can share
	// a database.
	Table string
	// Legacy, when set, names the table of the runner this one replaced:
	// one row per applied migration, in a column named version. When Table
	// does not exist yet and Legacy does, Table starts at the highest
	// version recorded there, so a database the old runner migrated
	// resumes where it was. Legacy is left as it is.
	Legacy string
}

// Embedded returns the Source of the migrations in dir of fsys (an
// embed.FS whose //go:embed directive names dir/*.sql), versioned in table
// and adopting legacy (see Source). It panics when dir is not in fsys: the
// embed directive guarantees it, so that is a build mistake.
func Embedded(fsys fs.FS, dir, table, legacy string) Source {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(fmt.Sprintf("migrate: embedded migrations %s: %v", dir, err))
	}
	return Source{FS: sub, Table: table, Legacy: legacy}
}

// Migration is one migration Up applied.
type Migration struct {
	// Version is the number the file name starts with.
	Version int
	// Name is the file name.
	Name string
}

var (
	// ErrNewerSchema is returned by Up when the database records a version
	// higher than the last migration of the Source: a newer release ran
	// first, and this binary does not know the schema it left.
	ErrNewerSchema = errors.New("database schema is newer than this binary")
	// ErrInvalidSource is returned by Up when the migration files cannot be
	// loaded (misnumbered, unparseable, empty): retrying cannot help.
	ErrInvalidSource = errors.New("invalid migrations")
)

// Up applies the migrations of src that the database has not seen yet, in
// version order, and returns them (none when the schema was current). It
// is idempotent and safe to call from several processes at once. A
// migration that fails is rolled back whole and stops Up; the ones before
// it stay applied. Errors from PostgreSQL are wrapped, so errors.As finds
// the *pgconn.PgError.
func Up(ctx context.Context, pool *pgxpool.Pool, src Source) (applied []Migration, err error) {
	if src.Table == "" || src.FS == nil {
		return nil, fmt.Errorf("migrate: %w: Source needs FS and Table", ErrInvalidSource)
	}
	pc, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate %s: connect: %w", src.Table, err)
	}
	// Out of the pool for good: closing it ends the session, which drops
	// any advisory lock even when an unlock could not be sent.
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))

	key := lockKey(src.Table)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return nil, fmt.Errorf("migrate %s: lock: %w", src.Table, err)
	}
	defer func() {
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key); uerr != nil && err == nil {
			err = fmt.Errorf("migrate %s: unlock: %w", src.Table, uerr)
		}
	}()
	if src.Legacy != "" {
		if err := adopt(ctx, conn, src.Table, src.Legacy); err != nil {
			return nil, err
		}
	}

	m, err := tern.NewMigrator(ctx, conn, src.Table)
	if err != nil {
		return nil, fmt.Errorf("migrate %s: version table: %w", src.Table, err)
	}
	if err := m.LoadMigrations(src.FS); err != nil {
		return nil, fmt.Errorf("migrate %s: %w: %w", src.Table, ErrInvalidSource, err)
	}
	current, err := m.GetCurrentVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate %s: read version: %w", src.Table, err)
	}
	if last := len(m.Migrations); int(current) > last {
		return nil, fmt.Errorf("migrate %s: %w (database at version %d, last migration %d)", src.Table, ErrNewerSchema, current, last)
	}
	// OnStart runs just before each migration; the last one is dropped
	// below when it failed.
	m.OnStart = func(seq int32, name, _, _ string) {
		applied = append(applied, Migration{Version: int(seq), Name: name})
	}
	if err := m.Migrate(ctx); err != nil {
		if n := len(applied); n > 0 {
			applied = applied[:n-1]
		}
		return applied, fmt.Errorf("migrate %s: %w", src.Table, err)
	}
	return applied, nil
}

// adopt creates table at the highest version recorded in legacy when table
// does not exist yet and legacy does. Runs under the caller's lock.
func adopt(ctx context.Context, conn *pgx.Conn, table, legacy string) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var haveTable, haveLegacy bool
		if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL", table, legacy).
			Scan(&haveTable, &haveLegacy); err != nil {
			return fmt.Errorf("migrate %s: look for %s: %w", table, legacy, err)
		}
		if haveTable || !haveLegacy {
			return nil
		}
		var top, n int32
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0), count(*) FROM "+pgx.Identifier{legacy}.Sanitize()).
			Scan(&top, &n); err != nil {
			return fmt.Errorf("migrate %s: read %s: %w", table, legacy, err)
		}
		// The old runners applied every file they knew in one transaction,
		// so their versions run from 1 without gaps.
		if top != n {
			return fmt.Errorf("migrate %s: %s records %d versions up to %d: not a contiguous history", table, legacy, n, top)
		}
		id := pgx.Identifier{table}.Sanitize()
		if _, err := tx.Exec(ctx, "CREATE TABLE "+id+" (version int4 NOT NULL)"); err != nil {
			return fmt.Errorf("migrate %s: create: %w", table, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+id+" (version) VALUES ($1)", top); err != nil {
			return fmt.Errorf("migrate %s: adopt version %d of %s: %w", table, top, legacy, err)
		}
		return nil
	})
}

// lockKey is the advisory lock of the component that keeps table: FNV-64a
// of "vidpipe.migrate." + table.
func lockKey(table string) int64 {
	h := fnv.New64a()
	h.Write([]byte("vidpipe.migrate." + table))
	return int64(h.Sum64())
}

package projection

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vidpipe/vidpipe/platform/migrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// VersionTable records the schema version of the projection (see
// [migrate.Source]).
const VersionTable = "projection_schema_version"

// legacyTable is where the projection's own runner recorded applied
// migrations (one row per version) before [migrate.Up]; a database it
// migrated is adopted from it.
const legacyTable = "projection_migrations"

// source returns the projection's migrations: the embedded
// migrations/NNNN_description.sql files, NNNN being the version.
func source() migrate.Source {
	return migrate.Embedded(migrationFS, "migrations", VersionTable, legacyTable)
}

// Migrate applies the embedded migrations the database has not seen yet
// (see [migrate.Up]: a transaction per file under an advisory lock, so
// concurrent callers apply each migration exactly once and a second call
// is a no-op). A database whose projection schema is newer than this
// binary is refused with [migrate.ErrNewerSchema]. Open calls it.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := migrate.Up(ctx, pool, source()); err != nil {
		return fmt.Errorf("projection: %w", err)
	}
	return nil
}

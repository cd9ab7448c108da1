package catalog

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vidpipe/vidpipe/platform/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// VersionTable records the schema version of the catalog (see
// [migrate.Source]). It is named after the catalog, not plain
// "schema_version", so that another component sharing the database keeps
// its own.
const VersionTable = "catalog_schema_version"

// legacyTable is where the indexer's own runner recorded applied
// migrations (one row per version) before [migrate.Up]; a database it
// migrated is adopted from it.
const legacyTable = "indexer_schema_migrations"

// Source returns the catalog's migrations for [migrate.Up]: the embedded
// migrations/NNNN_*.sql files, versioned in [VersionTable].
func Source() migrate.Source {
	return migrate.Embedded(migrationFiles, "migrations", VersionTable, legacyTable)
}

// Migrate applies the catalog migrations the database has not seen yet
// and returns them (none when the schema was current). It is idempotent
// and safe when several indexer copies start together: one applies, the
// others wait on the lock and then find nothing to do. A database whose
// catalog schema is newer than this binary is refused with
// [migrate.ErrNewerSchema]. The indexer, which owns the table, runs it at
// start; readers do not.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]migrate.Migration, error) {
	applied, err := migrate.Up(ctx, pool, Source())
	if err != nil {
		return applied, fmt.Errorf("catalog: %w", err)
	}
	return applied, nil
}

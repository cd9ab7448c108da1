package endpoints

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vidpipe/vidpipe/platform/migrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// VersionTable records the schema version of the webhook tables (see
// [migrate.Source]).
const VersionTable = "webhooks_schema_version"

// Migrate applies the embedded migrations (tables webhook_endpoints,
// webhook_events, webhook_video_owners, webhook_deliveries) that the
// database has not seen yet; see [migrate.Up]. Both upload-api (which
// serves /v1/webhooks) and the webhooks service call it at start: it is
// idempotent and safe to run concurrently.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := migrate.Up(ctx, pool, migrate.Embedded(migrationFS, "migrations", VersionTable, "")); err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	return nil
}

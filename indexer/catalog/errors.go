package catalog

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vidpipe/vidpipe/events"
)

// IsInvalid reports whether err means the data itself is unacceptable, so
// retrying the same input can never succeed: a document that fails
// validation, or one PostgreSQL rejects with SQLSTATE class 22 (data
// exception, e.g. an invalid byte sequence), 23 (integrity constraint
// violation) or 54 (program limit exceeded, e.g. a tsvector too long).
// Everything else — connection refused, a restarting server, timeouts,
// cancellation — is transient.
func IsInvalid(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, events.ErrInvalid) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && len(pgErr.Code) == 5 {
		switch pgErr.Code[:2] {
		case "22", "23", "54":
			return true
		}
	}
	return false
}

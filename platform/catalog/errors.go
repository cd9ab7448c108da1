package catalog

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vidpipe/vidpipe/contract"
)

// IsInvalid reports whether err means the data itself is unacceptable, so
// retrying the same input can never succeed: a document that fails
// validation, or one PostgreSQL rejects with SQLSTATE class 22 (data
// exception, e.g. an invalid byte sequence), 23 (integrity constraint
// violation) or 54 (program limit exceeded, e.g. a tsvector too long).
// Everything else — connection refused, a restarting server, timeouts,
// cancellation — is transient.
func IsInvalid(err error) bool { return ErrorCode(err) != "" }

// ErrorCode is the user-safe error code (contract.ErrorCodes) of an error
// IsInvalid reports: contract.ErrorCodeTooLarge for a program limit (class
// 54: the document is too large for the catalog), else
// contract.ErrorCodeInvalidEvent (the event carried data the contract should
// have excluded); "" for any other error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, contract.ErrInvalid) {
		return contract.ErrorCodeInvalidEvent
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && len(pgErr.Code) == 5 {
		switch pgErr.Code[:2] {
		case "22", "23":
			return contract.ErrorCodeInvalidEvent
		case "54":
			return contract.ErrorCodeTooLarge
		}
	}
	return ""
}

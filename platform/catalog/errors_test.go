package catalog

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vidpipe/vidpipe/contract"
)

func TestIsInvalid(t *testing.T) {
	tests := map[string]struct {
		err  error
		want bool
		code string
	}{
		"nil":                   {nil, false, ""},
		"validation":            {fmt.Errorf("upsert: %w", &contract.FieldError{Type: contract.TypeReady, Field: "title", Reason: "empty"}), true, contract.ErrorCodeInvalidEvent},
		"invalid byte sequence": {fmt.Errorf("upsert: %w", &pgconn.PgError{Code: "22021"}), true, contract.ErrorCodeInvalidEvent},
		"not null violation":    {&pgconn.PgError{Code: "23502"}, true, contract.ErrorCodeInvalidEvent},
		"tsvector too long":     {&pgconn.PgError{Code: "54000"}, true, contract.ErrorCodeTooLarge},
		"admin shutdown":        {&pgconn.PgError{Code: "57P01"}, false, ""},
		"cannot connect now":    {&pgconn.PgError{Code: "57P03"}, false, ""},
		"serialization failure": {&pgconn.PgError{Code: "40001"}, false, ""},
		"undefined table":       {&pgconn.PgError{Code: "42P01"}, false, ""},
		"connection refused":    {errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"), false, ""},
		"deadline":              {context.DeadlineExceeded, false, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := IsInvalid(tc.err); got != tc.want {
				t.Errorf("IsInvalid(%v) = %v, want %v", tc.err, got, tc.want)
			}
			if got := ErrorCode(tc.err); got != tc.code {
				t.Errorf("ErrorCode(%v) = %q, want %q", tc.err, got, tc.code)
			}
		})
	}
}

package stage

import (
	"errors"
	"fmt"

	"github.com/vidpipe/vidpipe/contract"
)

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: the runtime does not retry it and
// dead-letters the record at once with class "permanent". Permanent(nil)
// is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// Permanentf is Permanent(fmt.Errorf(format, args...)).
func Permanentf(format string, args ...any) error {
	return Permanent(fmt.Errorf(format, args...))
}

// IsPermanent reports whether err, or any error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// codedError carries a user-safe error code (contract.ErrorCodes).
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// Coded attaches the user-safe error code (one of contract.ErrorCodes, e.g.
// contract.ErrorCodeUnsupportedFormat) to err. When err dead-letters its
// record, the code travels in the dlq.error_code header and the status
// document shows it with a fixed message, never err's text. It keeps
// Permanent: Coded(code, Permanent(err)) and Permanent(Coded(code, err))
// both are permanent. Coded(code, nil) is nil.
func Coded(code string, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: code, err: err}
}

// ErrorCode is the code of the outermost Coded in err's chain; else
// contract.ErrorCodeInvalidEvent for a decoding or validation error
// (contract.ErrDecode, contract.ErrInvalid, ErrNoKey); else "".
func ErrorCode(err error) string {
	var c *codedError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &c):
		return c.code
	case errors.Is(err, contract.ErrDecode) || errors.Is(err, contract.ErrInvalid) || errors.Is(err, ErrNoKey):
		return contract.ErrorCodeInvalidEvent
	}
	return ""
}

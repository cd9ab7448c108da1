package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxEventSize bounds an encoded event. Larger values are refused by
// Encode and Decode (Kafka's default max message size is 1 MiB).
const MaxEventSize = 512 << 10

// ErrDecode matches every error returned by Decode for bytes that are not
// a valid event (as opposed to an event that fails validation, which
// matches ErrInvalid). Both are permanent.
var ErrDecode = errors.New("undecodable event")

type decodeError struct{ err error }

func (e *decodeError) Error() string        { return "decode: " + e.err.Error() }
func (e *decodeError) Unwrap() error        { return e.err }
func (e *decodeError) Is(target error) bool { return target == ErrDecode }

// Encode validates e and returns its JSON value.
func Encode(e Event) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", e.EventType(), err)
	}
	if len(b) > MaxEventSize {
		return nil, fmt.Errorf("encode %s: %d bytes exceeds %d", e.EventType(), len(b), MaxEventSize)
	}
	return b, nil
}

// Decode parses a record value into T and validates it. Unknown fields are
// ignored; an unknown schema version, bad JSON or a failed validation is an
// error (errors.Is ErrDecode or ErrInvalid).
func Decode[T Event](value []byte) (T, error) {
	var zero T
	switch {
	case len(value) == 0:
		return zero, &decodeError{errors.New("empty value")}
	case len(value) > MaxEventSize:
		return zero, &decodeError{fmt.Errorf("value of %d bytes exceeds %d", len(value), MaxEventSize)}
	case !utf8.Valid(value):
		return zero, &decodeError{errors.New("value is not valid UTF-8")}
	}
	var out T
	if err := json.Unmarshal(value, &out); err != nil {
		return zero, &decodeError{err}
	}
	if err := out.Validate(); err != nil {
		return zero, err
	}
	return out, nil
}

// Envelope is the part every event value shares; use it to look at a value
// without knowing its type.
type Envelope struct {
	SchemaVersion int    `json:"schema_version"`
	VideoID       string `json:"video_id"`
	Owner         string `json:"owner"`
	// Generation is Video.Generation (0 when absent).
	Generation int `json:"generation,omitempty"`
}

// PeekEnvelope decodes only the shared fields of any event value.
func PeekEnvelope(value []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(value, &e); err != nil {
		return e, &decodeError{err}
	}
	return e, nil
}

package config

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"
)

// RedactedValue replaces the value of a non-empty secret.
const RedactedValue = "[REDACTED]"

// Redacted returns cfg (a Config struct, a section, or a pointer to either)
// as a flat map from dotted key to value, for logging the effective
// configuration. Fields tagged secret:"true" that are set show
// RedactedValue (empty ones stay "", so a missing secret is visible);
// durations are shown as strings ("30s"; Off as "0s", the value it
// stands for). The keys are those of
// Keys(cfg). It panics if cfg is not a struct, like Keys.
func Redacted(cfg any) map[string]any {
	rv := reflect.ValueOf(cfg)
	for rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		panic(fmt.Sprintf("config.Redacted: want a struct or a pointer to one, got %T", cfg))
	}
	out := map[string]any{}
	for _, kv := range redactedPairs(rv) {
		out[kv.key] = kv.value
	}
	return out
}

type pair struct {
	key   string
	value any
}

// redactedPairs returns the redacted values of rv's leaves in key order.
func redactedPairs(rv reflect.Value) []pair {
	s, err := walk(rv.Type())
	if err != nil {
		panic(err)
	}
	out := make([]pair, 0, len(s.leaves))
	for _, l := range s.leaves {
		f := rv.FieldByIndex(l.index)
		var v any
		switch {
		case l.Secret && !f.IsZero():
			v = RedactedValue
		case f.Type() == durationType && l.zeroOff && time.Duration(f.Int()) == Off:
			v = time.Duration(0).String() // the configured value: 0
		case f.Type() == durationType:
			v = time.Duration(f.Int()).String()
		default:
			v = f.Interface()
		}
		out = append(out, pair{l.Name, v})
	}
	return out
}

// redactedString formats cfg's redacted values as "key=value ..." in
// field order.
func redactedString(cfg any) string {
	var b strings.Builder
	for i, kv := range redactedPairs(reflect.ValueOf(cfg)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%v", kv.key, kv.value)
	}
	return b.String()
}

// redactedLogValue is cfg's redacted values as a slog group.
func redactedLogValue(cfg any) slog.Value {
	pairs := redactedPairs(reflect.ValueOf(cfg))
	attrs := make([]slog.Attr, len(pairs))
	for i, kv := range pairs {
		attrs[i] = slog.Any(kv.key, kv.value)
	}
	return slog.GroupValue(attrs...)
}

// String shows the section with the secret key redacted.
func (s S3) String() string { return redactedString(s) }

// LogValue logs the section with the secret key redacted.
func (s S3) LogValue() slog.Value { return redactedLogValue(s) }

// String shows the section with the URL redacted.
func (p Postgres) String() string { return redactedString(p) }

// LogValue logs the section with the URL redacted.
func (p Postgres) LogValue() slog.Value { return redactedLogValue(p) }

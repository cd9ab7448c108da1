package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"
)

// The flags with which a binary describes its configuration instead of
// running: Load handles them for every service, so a binary that loads its
// configuration with Load describes it with no code of its own. Both print
// JSON to standard output and make Load return an error that matches
// ErrHelp (a main exits 0 on it, as after -h).
const (
	// ReferenceFlag (--config-reference) prints the binary's
	// configuration reference, a [Reference]: every key with its
	// environment variable, flag, type, default and description. It reads
	// no source (file, environment, other flags). Load returns a
	// *PrintedError matching ErrReferencePrinted.
	ReferenceFlag = "config-reference"
	// CheckFlag (--config-check) loads the configuration as the binary
	// does at start (defaults, file, environment, flags, validation) and,
	// if it is valid, prints the values it would run with, a [Checked]
	// (secrets redacted), instead of starting. Load returns a
	// *PrintedError matching ErrConfigChecked; an invalid configuration is
	// the same error as without the flag.
	CheckFlag = "config-check"
)

// ErrReferencePrinted is matched by the error Load returns after printing
// the reference (--config-reference).
var ErrReferencePrinted = errors.New("config: configuration reference printed")

// ErrConfigChecked is matched by the error Load returns after printing the
// checked configuration (--config-check).
var ErrConfigChecked = errors.New("config: configuration checked and printed")

// PrintedError is the error Load returns for --config-reference and
// --config-check: Output is the JSON it wrote to standard output. It
// matches ErrHelp (the service prints and exits 0, as for -h) and
// ErrReferencePrinted or ErrConfigChecked by Flag.
type PrintedError struct {
	// Flag is ReferenceFlag or CheckFlag.
	Flag string
	// Output is what Load printed: the JSON document and a newline.
	Output []byte
}

func (e *PrintedError) Error() string { return "config: --" + e.Flag + " printed" }

// Is matches ErrHelp, and ErrReferencePrinted or ErrConfigChecked by Flag.
func (e *PrintedError) Is(target error) bool {
	switch target {
	case ErrHelp:
		return true
	case ErrReferencePrinted:
		return e.Flag == ReferenceFlag
	case ErrConfigChecked:
		return e.Flag == CheckFlag
	}
	return false
}

// Reference describes a service's configuration, as --config-reference
// prints it: what the deploy checks and the configuration reference
// (docs/configuration.md) are made from.
type Reference struct {
	// Service is the service name Load was given.
	Service string `json:"service"`
	// Keys are every key, in field order (as -h lists them).
	Keys []Key `json:"keys"`
}

// Checked is what --config-check prints: the values a service would run
// with.
type Checked struct {
	// Service is the service name Load was given.
	Service string `json:"service"`
	// Values maps every key to its value in the syntax of its environment
	// variable (durations "30s", lists "a,b", maps "k=v,k2=v2" sorted by
	// key); a set secret is RedactedValue, a duration whose 0 means off
	// (see Off) and set to 0 is "0s".
	Values map[string]string `json:"values"`
}

// printReference returns the *PrintedError of --config-reference after
// printing service's reference.
func printReference(service string, s schema) error {
	ref := Reference{Service: service, Keys: make([]Key, len(s.leaves))}
	for i, l := range s.leaves {
		ref.Keys[i] = l.Key
	}
	return printJSON(ReferenceFlag, ref)
}

// printChecked returns the *PrintedError of --config-check after printing
// the values of root, a loaded and validated Config.
func printChecked(service string, s schema, root reflect.Value) error {
	c := Checked{Service: service, Values: make(map[string]string, len(s.leaves))}
	for _, l := range s.leaves {
		c.Values[l.Name] = envSyntax(l, root.FieldByIndex(l.index))
	}
	return printJSON(CheckFlag, c)
}

// printJSON writes v as indented JSON to standard output.
func printJSON(flag string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("config: --%s: %w", flag, err)
	}
	b = append(b, '\n')
	if _, err := os.Stdout.Write(b); err != nil {
		return fmt.Errorf("config: --%s: %w", flag, err)
	}
	return &PrintedError{Flag: flag, Output: b}
}

// envSyntax formats the value f of leaf l as its environment variable
// would set it (see Checked.Values).
func envSyntax(l leaf, f reflect.Value) string {
	switch {
	case l.Secret && !f.IsZero():
		return RedactedValue
	case f.Type() == durationType && l.zeroOff && time.Duration(f.Int()) == Off:
		return time.Duration(0).String()
	case f.Type() == durationType:
		return time.Duration(f.Int()).String()
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() != reflect.Uint8:
		items := make([]string, f.Len())
		for i := range items {
			items[i] = fmt.Sprint(f.Index(i).Interface())
		}
		return strings.Join(items, ",")
	case f.Kind() == reflect.Map:
		pairs := map[string]string{}
		for it := f.MapRange(); it.Next(); {
			pairs[it.Key().String()] = fmt.Sprint(it.Value().Interface())
		}
		var items []string
		for _, k := range slices.Sorted(maps.Keys(pairs)) {
			items = append(items, k+"="+pairs[k])
		}
		return strings.Join(items, ",")
	case f.Kind() == reflect.Slice:
		return string(f.Bytes())
	}
	return fmt.Sprint(f.Interface())
}

// typeName names the syntax of a key of type t, for Key.Type: "duration",
// "string", "bool", "int", "uint", "float", "list of T", "map of K to T".
func typeName(t reflect.Type) string {
	if t == durationType {
		return "duration"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "int"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "uint"
	case reflect.Float32, reflect.Float64:
		return "float"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "string"
		}
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map of " + typeName(t.Key()) + " to " + typeName(t.Elem())
	}
	return t.Kind().String()
}

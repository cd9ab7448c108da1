package config

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"time"
)

// Defaulter is implemented by a service Config whose defaults differ from
// the shared sections' `default` tags, e.g. transcode wants a longer
// stage.attempt_timeout than the 10m every stage starts from. Defaults
// returns dotted key → default, in env-var syntax. Load, -h and Keys use
// these defaults in place of the tags.
type Defaulter interface {
	Defaults() map[string]string
}

// applyDefaulter overrides the leaves' defaults with those of the Config
// type t, if it implements Defaulter. An unknown key is an error.
func applyDefaulter(t reflect.Type, s *schema) error {
	d, ok := reflect.New(t).Interface().(Defaulter)
	if !ok {
		d, ok = reflect.New(t).Elem().Interface().(Defaulter)
	}
	if !ok {
		return nil
	}
	over := d.Defaults()
	byName := make(map[string]int, len(s.leaves))
	for i, l := range s.leaves {
		byName[l.Name] = i
	}
	names := make([]string, 0, len(over))
	for k := range over {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		i, ok := byName[k]
		if !ok {
			return fmt.Errorf("config: %s.Defaults names unknown key %q", t, k)
		}
		s.leaves[i].Default = over[k]
	}
	return nil
}

// Off switches off, in code, a duration whose key gives 0 a meaning of
// its own (tagged zero:"off": stage.shutdown_grace, batch_timeout,
// commit_interval and stuck_timeout). In a struct built in code a zero
// duration takes the default (see Stage.WithDefaults); Load stores Off
// for such a key set to 0, and Redacted shows it as 0s. It is the
// smallest Duration, a value no configuration means otherwise (negative
// durations are refused by Validate; Off is not).
const Off time.Duration = math.MinInt64

// LoadDefaults fills out, a pointer to a Config struct or to a section,
// with the defaults of its keys: the `default` tags, or its Defaulter's
// values. It is what Load starts from, without the sources, validation,
// Off or client ids. An error means a default that does not decode (a
// programming error).
func LoadDefaults(out any) error {
	root, s, err := schemaOf(out)
	if err != nil {
		return err
	}
	for _, l := range s.leaves {
		if err := decodeValue(l.Default, root.FieldByIndex(l.index).Addr().Interface()); err != nil {
			return fmt.Errorf("config: default of %s in %s: %w", l.Name, root.Type(), err)
		}
	}
	return nil
}

// DefaultStage returns the Stage defaults, from its `default` tags: the
// values Load starts from.
func DefaultStage() Stage {
	var s Stage
	mustLoadDefaults(&s)
	return s
}

// DefaultKafka returns the Kafka defaults, from its `default` tags (an
// empty ClientID: Load and the stage runtime use the service name).
func DefaultKafka() Kafka {
	var k Kafka
	mustLoadDefaults(&k)
	return k
}

// WithDefaults returns s with every zero field set to its default
// (DefaultStage). Fields set to Off stay off.
func (s Stage) WithDefaults() Stage {
	fillZero(reflect.ValueOf(&s).Elem(), reflect.ValueOf(DefaultStage()))
	return s
}

// WithDefaults returns k with every zero field set to its default
// (DefaultKafka): the brokers, partitions and replication factor.
func (k Kafka) WithDefaults() Kafka {
	fillZero(reflect.ValueOf(&k).Elem(), reflect.ValueOf(DefaultKafka()))
	return k
}

// mustLoadDefaults is LoadDefaults for the sections of this package,
// whose tags the tests check: an error panics.
func mustLoadDefaults(out any) {
	if err := LoadDefaults(out); err != nil {
		panic(err)
	}
}

// fillZero sets every zero leaf of dst (a struct) to the same leaf of def.
// Booleans are left alone: false is a setting, not an absence.
func fillZero(dst, def reflect.Value) {
	for i := 0; i < dst.NumField(); i++ {
		f := dst.Field(i)
		switch {
		case f.Kind() == reflect.Struct:
			fillZero(f, def.Field(i))
		case f.Kind() == reflect.Bool:
		case f.IsZero():
			f.Set(def.Field(i))
		}
	}
}

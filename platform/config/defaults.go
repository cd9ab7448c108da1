package config

import (
	"fmt"
	"reflect"
	"sort"
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

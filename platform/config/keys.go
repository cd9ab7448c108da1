package config

import (
	"fmt"
	"reflect"
	"strings"
)

// EnvPrefix starts the name of every configuration environment variable.
const EnvPrefix = "VIDPIPE"

// Key describes one configuration key, as listed by -h, --config-reference
// (the JSON names are those of the tags), the configuration reference and
// the deploy checks of environment variables.
type Key struct {
	// Name is the dotted key, e.g. "stage.max_attempts" (YAML stage: {max_attempts: 5}).
	Name string `json:"name"`
	// Env is the environment variable, e.g. "VIDPIPE_STAGE_MAX_ATTEMPTS".
	Env string `json:"env"`
	// Flag is the command-line flag, e.g. "--stage.max_attempts".
	Flag string `json:"flag"`
	// Type names the value's syntax: "string", "bool", "int", "uint",
	// "float", "duration" (Go syntax: 500ms, 30s, 1h), "list of T"
	// (comma-separated) or "map of K to T" (k=v,k2=v2).
	Type string `json:"type"`
	// Default is the `default` tag, or the Config's Defaulter value, in
	// the syntax of the env var ("" if none).
	Default string `json:"default"`
	// Description is the `desc` tag.
	Description string `json:"description"`
	// Secret is true for fields tagged secret:"true": their values are never
	// logged (see Redacted).
	Secret bool `json:"secret"`
}

// EnvName returns the environment variable of a dotted key:
// VIDPIPE_ + the key upper-cased with dots (and dashes) replaced by
// underscores. EnvName("stage.max_attempts") == "VIDPIPE_STAGE_MAX_ATTEMPTS".
func EnvName(key string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return EnvPrefix + "_" + strings.ToUpper(r.Replace(key))
}

// Keys lists every leaf key of cfg, a service Config struct or a pointer to
// one (or a single section), in field order. It panics if cfg is not a
// struct or a field cannot be mapped to a key (a programming error, which
// Load reports as an error instead).
func Keys(cfg any) []Key {
	t := reflect.TypeOf(cfg)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("config.Keys: want a struct or a pointer to one, got %T", cfg))
	}
	s, err := walk(t)
	if err == nil {
		err = applyDefaulter(t, &s)
	}
	if err != nil {
		panic(err)
	}
	keys := make([]Key, len(s.leaves))
	for i, l := range s.leaves {
		keys[i] = l.Key
	}
	return keys
}

// leaf is one configuration value: a non-struct field.
type leaf struct {
	Key
	index   []int        // field index path from the root struct
	typ     reflect.Type // field type
	zeroOff bool         // tagged zero:"off": a 0 in the configuration loads as Off
}

// section is a struct reached from the root ("" is the root itself); its
// Validate method, if any, is called after decoding.
type section struct {
	path  string
	index []int
}

// schema is the result of walking a Config type.
type schema struct {
	leaves   []leaf
	sections []section
}

// walk maps the struct type t to its keys. Struct fields are sections
// (recursed into with their tag as prefix), anonymous struct fields without
// a tag or tagged ",squash" are flattened into the parent, fields tagged
// "-" and unexported fields are ignored, and every other field is a leaf.
func walk(t reflect.Type) (schema, error) {
	var s schema
	seen := map[string]bool{}
	s.sections = append(s.sections, section{path: "", index: nil})
	if err := walkStruct(t, "", nil, &s, seen); err != nil {
		return schema{}, err
	}
	return s, nil
}

func walkStruct(t reflect.Type, prefix string, index []int, s *schema, seen map[string]bool) error {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if name == "-" {
			continue
		}
		idx := append(append([]int(nil), index...), i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct && (name == "" || strings.Contains(opts, "squash")) {
			if err := walkStruct(f.Type, prefix, idx, s, seen); err != nil {
				return err
			}
			continue
		}
		if name == "" {
			return fmt.Errorf("config: field %s.%s has no mapstructure tag", t.Name(), f.Name)
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		switch f.Type.Kind() {
		case reflect.Struct:
			s.sections = append(s.sections, section{path: key, index: idx})
			if err := walkStruct(f.Type, key, idx, s, seen); err != nil {
				return err
			}
			continue
		case reflect.Pointer, reflect.Interface, reflect.Func, reflect.Chan, reflect.UnsafePointer:
			return fmt.Errorf("config: field %s.%s (key %s): unsupported type %s", t.Name(), f.Name, key, f.Type)
		case reflect.Map:
			if f.Type.Key().Kind() != reflect.String {
				return fmt.Errorf("config: field %s.%s (key %s): map keys must be strings", t.Name(), f.Name, key)
			}
		}
		if seen[key] {
			return fmt.Errorf("config: key %s is defined twice", key)
		}
		seen[key] = true
		s.leaves = append(s.leaves, leaf{
			Key: Key{
				Name:        key,
				Env:         EnvName(key),
				Flag:        "--" + key,
				Type:        typeName(f.Type),
				Default:     f.Tag.Get("default"),
				Description: f.Tag.Get("desc"),
				Secret:      f.Tag.Get("secret") == "true",
			},
			index:   idx,
			typ:     f.Type,
			zeroOff: f.Tag.Get("zero") == "off",
		})
	}
	return nil
}

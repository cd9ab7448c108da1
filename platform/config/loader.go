// Package config loads the configuration of every vidpipe service: one
// typed Config struct per service made of the shared sections of this
// package (Kafka, S3, Postgres, Stage, Log) and the service's own.
//
// # Sources and precedence
//
// Every leaf key (e.g. "stage.max_attempts") can be set, from highest to
// lowest precedence, by
//
//	a flag                --stage.max_attempts=5
//	an environment var    VIDPIPE_STAGE_MAX_ATTEMPTS=5
//	the YAML file         stage: {max_attempts: 5}
//	the default           the field's `default` tag
//
// The YAML file is --config PATH, else ./vidpipe.yaml if it exists. Lists
// are comma-separated in env vars and flags (a YAML list in the file),
// maps are k=v,k2=v2 pairs, durations use Go syntax (500ms, 30s, 1h).
// An empty environment variable counts as unset.
//
// # Errors
//
// Unknown keys in the file, values of the wrong type and values that a
// section's Validate rejects are errors that name the full key:
//
//	config: stage.max_attempts: must be at least 1 (got 0)
//
// Secrets (fields tagged secret:"true") are never logged: log Redacted(cfg).
//
// viper lives in Load and nowhere else.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// DefaultFile is the config file read when --config is not given, if it
// exists in the working directory.
const DefaultFile = "vidpipe.yaml"

// ErrHelp is returned (wrapped in a *HelpError) by Load when the arguments
// ask for help (-h or --help). Load has then printed the usage to standard
// error; a service's run returns nil (exit 0) on errors.Is(err, ErrHelp).
// The *PrintedError of --config-reference and --config-check matches it
// too: Load has printed what was asked instead of loading, and the service
// exits 0 the same way.
var ErrHelp = pflag.ErrHelp

// HelpError is the error Load returns for -h or --help; Usage is the
// listing it printed.
type HelpError struct{ Usage string }

func (e *HelpError) Error() string        { return "config: help requested" }
func (e *HelpError) Is(target error) bool { return target == ErrHelp }

// validator is implemented by sections (and Config structs) that check
// their values after decoding.
type validator interface{ Validate() error }

// serviceDefaulter is implemented by sections whose defaults depend on the
// service name (Kafka.ClientID).
type serviceDefaulter interface{ defaultService(service string) }

func (k *Kafka) defaultService(service string) {
	if k.ClientID == "" {
		k.ClientID = service
	}
}

// Load fills out, a pointer to a service Config struct, from the defaults,
// the YAML file, the environment (read through getenv; nil reads nothing)
// and the command-line args (without the program name), in that increasing
// order of precedence.
//
// Flags: one per key (--stage.max_attempts; booleans may omit =true), plus
// --config PATH. -h or --help prints every key with its env var and default
// to standard error and returns a *HelpError (errors.Is(err, ErrHelp)).
// --config-reference prints the keys as JSON to standard output instead of
// loading, --config-check prints the loaded and validated values as JSON
// instead of returning nil; both return a *PrintedError, which matches
// ErrHelp too (see ReferenceFlag, CheckFlag). Positional arguments are an
// error.
//
// After decoding, Load calls Validate on every section (struct field,
// nested ones too) that has one, then on *out if it has one, stores Off
// in the Stage durations set to 0 (see Off), and sets empty Kafka client
// ids to service. All errors of one phase (decoding, then validation) are
// returned together (errors.Join), each naming its key; values already in
// *out are ignored, and on error *out may be partly filled.
//
// The phases, in order: the schema (keys and defaults of out's type),
// the flags, the layers (defaults, file, environment, flags), decoding,
// validation, then the values that follow from others (Off, client ids).
func Load(service string, args []string, getenv func(string) string, out any) error {
	root, s, err := schemaOf(out)
	if err != nil {
		return err
	}
	flags, configPath, err := parseFlags(service, args, s)
	if err != nil {
		return err
	}
	if on, _ := flags.GetBool(ReferenceFlag); on {
		return printReference(service, s)
	}
	v, source, err := layers(s, flags, configPath, getenv)
	if err != nil {
		return err
	}
	if err := decode(v, s, source, root); err != nil {
		return err
	}
	if err := validate(s, root); err != nil {
		return err
	}
	resolve(service, s, root)
	if on, _ := flags.GetBool(CheckFlag); on {
		return printChecked(service, s, root)
	}
	return nil
}

// schemaOf checks that out is a non-nil pointer to a struct and returns
// the struct and its schema, with the defaults of its Defaulter if any.
func schemaOf(out any) (reflect.Value, schema, error) {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, schema{}, fmt.Errorf("config: need a non-nil pointer to a struct, got %T", out)
	}
	s, err := walk(rv.Elem().Type())
	if err == nil {
		err = applyDefaulter(rv.Elem().Type(), &s)
	}
	if err != nil {
		return reflect.Value{}, schema{}, err
	}
	return rv.Elem(), s, nil
}

// parseFlags parses args: one flag per key plus --config, whose value it
// returns. -h or --help returns a *HelpError; positional arguments are an
// error.
func parseFlags(service string, args []string, s schema) (*pflag.FlagSet, string, error) {
	flags := pflag.NewFlagSet(service, pflag.ContinueOnError)
	flags.SortFlags = false
	flags.SetOutput(os.Stderr)
	configPath := flags.String("config", "", "YAML config file (default ./"+DefaultFile+" if it exists)")
	flags.Bool(ReferenceFlag, false, "print every key as JSON and exit")
	flags.Bool(CheckFlag, false, "load and validate the configuration, print it as JSON and exit")
	for _, l := range s.leaves {
		flags.String(l.Name, l.Default, l.Description)
		if l.typ.Kind() == reflect.Bool {
			flags.Lookup(l.Name).NoOptDefVal = "true"
		}
	}
	usage := usageText(service, s.leaves)
	flags.Usage = func() { fmt.Fprint(flags.Output(), usage) }
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, "", &HelpError{Usage: usage}
		}
		return nil, "", fmt.Errorf("config: %w (run with -h to list the keys)", err)
	}
	if flags.NArg() > 0 {
		return nil, "", fmt.Errorf("config: unexpected argument %q (run with -h to list the keys)", flags.Arg(0))
	}
	return flags, *configPath, nil
}

// layers stacks the sources in a viper instance: the defaults, the file
// (configPath, else DefaultFile if it exists) with the environment over
// it, then the flags that were set. source names where each key's value
// comes from, for error messages.
func layers(s schema, flags *pflag.FlagSet, configPath string, getenv func(string) string) (*viper.Viper, map[string]string, error) {
	v := viper.New()
	source := map[string]string{}
	for _, l := range s.leaves {
		v.SetDefault(l.Name, l.Default)
		source[l.Name] = "default"
	}

	// The file, then the environment over it, go to viper's config layer.
	settings, path, err := fileSettings(configPath, s)
	if err != nil {
		return nil, nil, err
	}
	for _, l := range s.leaves {
		if path != "" && hasPath(settings, l.Name) {
			source[l.Name] = "file " + path
		}
	}
	if getenv != nil {
		for _, l := range s.leaves {
			if val := getenv(l.Env); val != "" {
				setPath(settings, l.Name, val)
				source[l.Name] = "env " + l.Env
			}
		}
	}
	if err := v.MergeConfigMap(settings); err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}

	flags.Visit(func(f *pflag.Flag) {
		if f.Name == "config" || f.Name == ReferenceFlag || f.Name == CheckFlag {
			return
		}
		v.Set(f.Name, f.Value.String())
		source[f.Name] = "flag --" + f.Name
	})
	return v, source, nil
}

// fileSettings returns the settings of the YAML file at configPath, or of
// DefaultFile when configPath is empty and the file exists, and the path
// read ("" when none: empty settings).
func fileSettings(configPath string, s schema) (map[string]any, string, error) {
	path := configPath
	if path == "" {
		if _, err := os.Stat(DefaultFile); err == nil {
			path = DefaultFile
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("config: file %s: %w", DefaultFile, err)
		}
	}
	if path == "" {
		return map[string]any{}, "", nil
	}
	settings, err := readFile(path, s)
	if err != nil {
		return nil, "", err
	}
	return settings, path, nil
}

// decode decodes each leaf's value from v into its field of root. The
// errors of every leaf are returned together, each naming the key, the
// value (unless secret) and its source.
func decode(v *viper.Viper, s schema, source map[string]string, root reflect.Value) error {
	var errs []error
	for _, l := range s.leaves {
		raw := v.Get(l.Name)
		field := root.FieldByIndex(l.index)
		if err := decodeValue(raw, field.Addr().Interface()); err != nil {
			shown := fmt.Sprintf("%q", fmt.Sprint(raw))
			if l.Secret {
				shown = RedactedValue
			}
			errs = append(errs, fmt.Errorf("config: %s: invalid value %s from %s: %w", l.Name, shown, source[l.Name], err))
		}
	}
	return errors.Join(errs...)
}

// validate calls Validate on every section of root that has one, the root
// last, and returns their errors together, each prefixed with its
// section's key.
func validate(s schema, root reflect.Value) error {
	var errs []error
	order := append(slices.Clone(s.sections[1:]), s.sections[0])
	for _, sec := range order {
		ptr := root.FieldByIndex(sec.index).Addr().Interface()
		if val, ok := ptr.(validator); ok {
			if err := val.Validate(); err != nil {
				errs = append(errs, prefixErrors(sec.path, err)...)
			}
		}
	}
	return errors.Join(errs...)
}

// resolve sets the values that follow from validated ones: Off for the
// durations tagged zero:"off" that are 0, and the client ids that default
// to service.
func resolve(service string, s schema, root reflect.Value) {
	for _, l := range s.leaves {
		if f := root.FieldByIndex(l.index); l.zeroOff && f.Type() == durationType && f.Int() == 0 {
			f.SetInt(int64(Off))
		}
	}
	for _, sec := range s.sections {
		if d, ok := root.FieldByIndex(sec.index).Addr().Interface().(serviceDefaulter); ok {
			d.defaultService(service)
		}
	}
}

// readFile reads the YAML file at path with viper and returns its settings
// as a nested map, after checking that every key in it is known.
func readFile(path string, s schema) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: file: %w", err)
	}
	fv := viper.New()
	fv.SetConfigType("yaml")
	if err := fv.ReadConfig(bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("config: file %s: %w", path, err)
	}
	settings := fv.AllSettings()
	leaves := map[string]bool{}
	for _, l := range s.leaves {
		leaves[l.Name] = true
	}
	sections := map[string]bool{}
	for _, sec := range s.sections {
		sections[sec.path] = true
	}
	var unknown []string
	var check func(m map[string]any, prefix string)
	check = func(m map[string]any, prefix string) {
		for k, val := range m {
			key := prefix + k
			sub, isMap := val.(map[string]any)
			switch {
			case leaves[key]:
				// Known; a wrong type is reported when decoding.
			case sections[key] && isMap:
				check(sub, key+".")
			case sections[key]:
				unknown = append(unknown, fmt.Sprintf("%s: is a section and must be a mapping (got %v)", key, val))
			default:
				unknown = append(unknown, fmt.Sprintf("unknown key %q", key))
			}
		}
	}
	check(settings, "")
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("config: file %s: %s (run with -h to list the keys)", path, strings.Join(unknown, "; "))
	}
	return settings, nil
}

// setPath sets the dotted key in the nested map m, replacing whatever is
// there (a YAML list or mapping for the same key included).
func setPath(m map[string]any, key string, val any) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[parts[len(parts)-1]] = val
}

// hasPath reports whether the nested map m holds the dotted key.
func hasPath(m map[string]any, key string) bool {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			return false
		}
		m = sub
	}
	_, ok := m[parts[len(parts)-1]]
	return ok
}

// usageText lists --config and every key with its env var, default and
// description.
func usageText(service string, leaves []leaf) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s [flags]\n\n", service)
	fmt.Fprintf(&b, "  --config PATH\n      YAML config file (default ./%s if it exists)\n", DefaultFile)
	fmt.Fprintf(&b, "  --%s\n      print every key below as JSON (type, default, description) and exit\n", ReferenceFlag)
	fmt.Fprintf(&b, "  --%s\n      load and validate the configuration, print the values as JSON (secrets redacted) and exit\n\n", CheckFlag)
	fmt.Fprintf(&b, "Every key below is a flag, an environment variable and a YAML key (stage.max_attempts is\n")
	fmt.Fprintf(&b, "stage: {max_attempts: ...}); precedence: flag > environment > file > default.\n")
	fmt.Fprintf(&b, "Lists are comma-separated, maps are k=v,k2=v2, durations look like 500ms, 30s, 1h.\n\n")
	for _, l := range leaves {
		def := fmt.Sprintf("%q", l.Default)
		fmt.Fprintf(&b, "  %s  %s  (default %s)\n", l.Flag, l.Env, def)
		if l.Description != "" {
			fmt.Fprintf(&b, "      %s\n", l.Description)
		}
	}
	return b.String()
}

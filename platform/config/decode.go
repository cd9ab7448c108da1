package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

var durationType = reflect.TypeOf(time.Duration(0))

// decodeValue decodes one raw value (a string from a default, env var or
// flag, or a YAML scalar, list or mapping) into the field that out points
// to. Strings are converted by decodeHook; everything else must already
// have a compatible type (no weak typing: a YAML 2.5 is not an int).
func decodeValue(in, out any) error {
	d, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: decodeHook,
		ZeroFields: true,
		Result:     out,
	})
	if err != nil {
		return err
	}
	if err := d.Decode(in); err != nil {
		// Leaf values are decoded without a field name; drop mapstructure's
		// "'' " wrapper so the caller can name the key instead.
		var de *mapstructure.DecodeError
		if errors.As(err, &de) && de.Unwrap() != nil {
			return de.Unwrap()
		}
		return err
	}
	return nil
}

// decodeHook converts values that come as strings (defaults, env vars,
// flags, YAML scalars) into the field type:
//   - time.Duration: time.ParseDuration ("500ms", "30s", "1h"); a bare
//     number is rejected unless it is 0, since YAML 30 would otherwise mean 30ns;
//   - slices: comma-separated, items trimmed, empty items dropped ("" is empty);
//   - maps: comma-separated key=value pairs ("a=1,b=2");
//   - ints, uints, floats, bools: strconv on the trimmed string;
//   - ints and uints from YAML floats: only whole numbers (2.5 is an error);
//   - strings from YAML numbers and bools: their usual text.
func decodeHook(from, to reflect.Type, data any) (any, error) {
	if to == durationType {
		switch v := data.(type) {
		case string:
			s := strings.TrimSpace(v)
			d, err := time.ParseDuration(s)
			if err != nil {
				return nil, fmt.Errorf("not a duration (want e.g. 500ms, 30s, 1h): %q", v)
			}
			return d, nil
		case time.Duration:
			return v, nil
		case int, int64, int32, uint, uint64, uint32, float64, float32:
			if reflect.ValueOf(v).IsZero() {
				return time.Duration(0), nil
			}
			return nil, fmt.Errorf("duration %v has no unit (want e.g. 500ms, 30s, 1h)", v)
		}
		return data, nil
	}
	if from.Kind() == reflect.String {
		s := reflect.ValueOf(data).String()
		switch to.Kind() {
		case reflect.Slice:
			if to.Elem().Kind() == reflect.Uint8 {
				return data, nil // []byte: raw bytes of the string
			}
			return splitList(s), nil
		case reflect.Map:
			return splitMap(s)
		case reflect.Bool:
			b, err := strconv.ParseBool(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("not a boolean (want true or false): %q", s)
			}
			return b, nil
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, to.Bits())
			if err != nil {
				return nil, fmt.Errorf("not an integer: %q", s)
			}
			return n, nil
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			n, err := strconv.ParseUint(strings.TrimSpace(s), 10, to.Bits())
			if err != nil {
				return nil, fmt.Errorf("not a non-negative integer: %q", s)
			}
			return n, nil
		case reflect.Float32, reflect.Float64:
			n, err := strconv.ParseFloat(strings.TrimSpace(s), to.Bits())
			if err != nil {
				return nil, fmt.Errorf("not a number: %q", s)
			}
			return n, nil
		}
		return data, nil
	}
	if isFloat(from) && (isInt(to) || isUint(to)) {
		if f := reflect.ValueOf(data).Float(); f != math.Trunc(f) {
			return nil, fmt.Errorf("not an integer: %v", data)
		}
	}
	if to.Kind() == reflect.String {
		switch from.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64, reflect.Bool:
			return fmt.Sprint(data), nil
		}
	}
	return data, nil
}

func isInt(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return true
	}
	return false
}

func isUint(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

func isFloat(t reflect.Type) bool {
	return t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64
}

// splitList splits a comma-separated list, trimming items and dropping
// empty ones.
func splitList(s string) []string {
	out := []string{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// splitMap parses comma-separated key=value pairs.
func splitMap(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, item := range splitList(s) {
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not a key=value pair (want e.g. a=1,b=2)", item)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

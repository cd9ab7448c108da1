package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecodeValue(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in      any
		into    any // pointer to a zero value of the target type
		want    any
		wantErr string
	}{
		"duration string":         {in: " 1m30s ", into: new(time.Duration), want: 90 * time.Second},
		"duration zero":           {in: 0, into: new(time.Duration), want: time.Duration(0)},
		"duration without unit":   {in: 30, into: new(time.Duration), wantErr: "has no unit"},
		"duration garbage":        {in: "soon", into: new(time.Duration), wantErr: "not a duration"},
		"list from string":        {in: "a, b,,c ", into: new([]string), want: []string{"a", "b", "c"}},
		"empty list from string":  {in: "", into: new([]string), want: []string{}},
		"list from yaml":          {in: []any{"a", "b"}, into: new([]string), want: []string{"a", "b"}},
		"int list from string":    {in: "1,2", into: new([]int), want: []int{1, 2}},
		"int list with garbage":   {in: "1,x", into: new([]int), wantErr: "not an integer"},
		"map from string":         {in: "a=1, b = 2,c=", into: new(map[string]string), want: map[string]string{"a": "1", "b": "2", "c": ""}},
		"map from yaml":           {in: map[string]any{"a": "1", "b": 2}, into: new(map[string]string), want: map[string]string{"a": "1", "b": "2"}},
		"map pair without =":      {in: "a=1,b", into: new(map[string]string), wantErr: `"b" is not a key=value pair`},
		"int from string":         {in: " 42 ", into: new(int), want: 42},
		"int overflow":            {in: "300", into: new(int8), wantErr: "not an integer"},
		"int from yaml":           {in: 42, into: new(int64), want: int64(42)},
		"int from yaml float":     {in: 2.5, into: new(int), wantErr: "not an integer: 2.5"},
		"int from whole float":    {in: 3.0, into: new(int), want: 3},
		"uint negative":           {in: "-1", into: new(uint), wantErr: "not a non-negative integer"},
		"float from string":       {in: "0.25", into: new(float64), want: 0.25},
		"bool from string":        {in: "TRUE", into: new(bool), want: true},
		"bool garbage":            {in: "yes please", into: new(bool), wantErr: "not a boolean"},
		"string from yaml number": {in: 123, into: new(string), want: "123"},
		"string from yaml bool":   {in: true, into: new(string), want: "true"},
		"string from yaml list":   {in: []any{"a"}, into: new(string), wantErr: "expected type 'string'"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := decodeValue(tt.in, tt.into)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("decode %#v: error %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode %#v: %v", tt.in, err)
			}
			if got := reflect.ValueOf(tt.into).Elem().Interface(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decode %#v = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

package stage

import (
	"errors"
	"fmt"
	"testing"
)

func TestPermanentClassification(t *testing.T) {
	base := errors.New("boom")
	tests := map[string]struct {
		err  error
		want bool
	}{
		"plain error is transient":       {base, false},
		"nil is not permanent":           {nil, false},
		"marked":                         {Permanent(base), true},
		"marked with format":             {Permanentf("bad input %d", 3), true},
		"wrapped marked stays permanent": {fmt.Errorf("ctx: %w", Permanent(base)), true},
		"joined with a permanent":        {errors.Join(base, Permanent(base)), true},
		"deadline is transient":          {fmt.Errorf("x: %w", errors.New("context deadline exceeded")), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := IsPermanent(tc.err); got != tc.want {
				t.Fatalf("IsPermanent(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
	if Permanent(nil) != nil {
		t.Fatal("Permanent(nil) must be nil")
	}
	if !errors.Is(Permanent(base), base) {
		t.Fatal("Permanent must unwrap to the cause")
	}
}

package catalog

import (
	"encoding/base64"
	"errors"
	"math"
	"testing"
	"time"
)

func TestCursorRoundTrip(t *testing.T) {
	id := "0b6f3a4e-2f7d-4c1e-9a55-5b8f7f0e1d2c"
	fp := fingerprint("alice", "kitten")
	tests := map[string]struct {
		c       cursor
		listing bool
	}{
		"rank":          {cursor{query: fp, rank: 0.1, id: id}, false},
		"tiny rank":     {cursor{query: fp, rank: math.SmallestNonzeroFloat32, id: id}, false},
		"zero rank":     {cursor{query: fp, rank: 0, id: id}, false},
		"listing":       {cursor{query: fp, readyAt: time.UnixMicro(1_740_830_400_123_456).UTC(), id: id}, true},
		"pre-1970 time": {cursor{query: fp, readyAt: time.UnixMicro(-5).UTC(), id: id}, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := tc.c.encode(tc.listing)
			got, err := decodeCursor(s, fp, tc.listing)
			if err != nil {
				t.Fatalf("decode %q: %v", s, err)
			}
			if got.rank != tc.c.rank || !got.readyAt.Equal(tc.c.readyAt) || got.id != tc.c.id {
				t.Errorf("round trip = %+v, want %+v", got, tc.c)
			}
			if _, err := decodeCursor(s, fp, !tc.listing); !errors.Is(err, ErrInvalidCursor) {
				t.Errorf("decoded as the other kind: err = %v", err)
			}
			if _, err := decodeCursor(s, fingerprint("bob", "kitten"), tc.listing); !errors.Is(err, ErrInvalidCursor) {
				t.Errorf("decoded for another owner: err = %v", err)
			}
		})
	}
}

func TestDecodeCursorRejectsForgeries(t *testing.T) {
	fp := fingerprint("alice", "q")
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := map[string]string{
		"empty":            "",
		"not base64":       "!!!",
		"wrong version":    enc("2." + fp + ".r0.0b6f3a4e-2f7d-4c1e-9a55-5b8f7f0e1d2c"),
		"bad id":           enc("1." + fp + ".r0.x'; DROP TABLE videos; --"),
		"NaN rank":         enc("1." + fp + ".r7fc00000.0b6f3a4e-2f7d-4c1e-9a55-5b8f7f0e1d2c"),
		"rank not hex":     enc("1." + fp + ".rzz.0b6f3a4e-2f7d-4c1e-9a55-5b8f7f0e1d2c"),
		"missing key":      enc("1." + fp + "..0b6f3a4e-2f7d-4c1e-9a55-5b8f7f0e1d2c"),
		"too many parts":   enc("1." + fp + ".r0.0b6f3a4e-2f7d-4c1e-9a55-5b8f7f0e1d2c.x"),
		"rank overflows32": enc("1." + fp + ".r1ffffffff.0b6f3a4e-2f7d-4c1e-9a55-5b8f7f0e1d2c"),
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeCursor(s, fp, false); !errors.Is(err, ErrInvalidCursor) {
				t.Errorf("err = %v, want ErrInvalidCursor", err)
			}
		})
	}
}

package contract_test

import (
	"testing"

	"github.com/vidpipe/vidpipe/contract"
)

// FuzzDecode checks that Decode never panics and that whatever it accepts
// is valid and re-encodes to a value that decodes to the same event.
func FuzzDecode(f *testing.F) {
	good, _ := contract.Encode(sampleReady("8c0f6f8e-2a8e-4b43-9b64-0f4b8d7f2a11"))
	f.Add(good)
	f.Add([]byte(`{"schema_version":1,"video_id":"x"}`))
	f.Add([]byte(`{"schema_version":2}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, value []byte) {
		ev, err := contract.Decode[contract.VideoReady](value)
		if err != nil {
			return
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid event: %v", err)
		}
		b, err := contract.Encode(ev)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := contract.Decode[contract.VideoReady](b)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		b2, _ := contract.Encode(again)
		if string(b) != string(b2) {
			t.Fatalf("unstable encoding")
		}
	})
}

package scenario

import "testing"

func TestBenchSeconds(t *testing.T) {
	out := `goos: linux
BenchmarkTranscode/handler-2         	       1	13432955780 ns/op
BenchmarkTranscode/ffmpeg-2          	       1	17093368521 ns/op
BenchmarkTranscode/per_rung          	       1	23160222856 ns/op
BenchmarkTranscode/odd-name-x-2      	       1	1000000000 ns/op
PASS
`
	got := benchSeconds(out)
	tests := map[string]float64{
		"BenchmarkTranscode/handler":    13.432955780,
		"BenchmarkTranscode/ffmpeg":     17.093368521,
		"BenchmarkTranscode/per_rung":   23.160222856,
		"BenchmarkTranscode/odd-name-x": 1,
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			if v, ok := got[name]; !ok || v != want {
				t.Fatalf("got %v (%v), want %v; all: %v", v, ok, want, got)
			}
		})
	}
	if len(got) != len(tests) {
		t.Fatalf("parsed %d results, want %d: %v", len(got), len(tests), got)
	}
}

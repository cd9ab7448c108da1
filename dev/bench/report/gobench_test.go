package report

import (
	"strings"
	"testing"
)

func TestGoBench(t *testing.T) {
	out := `goos: linux
pkg: github.com/vidpipe/vidpipe/contract
BenchmarkEncode/uploaded-2     	  102176	      1173 ns/op	     448 B/op	       4 allocs/op
BenchmarkDecode/ready-2        	   10656	     11084 ns/op	 104.20 MB/s	    1712 B/op	      38 allocs/op
PASS
ok  	github.com/vidpipe/vidpipe/contract	1.283s
pkg: github.com/vidpipe/vidpipe/platform/stage
BenchmarkNewMessage-2         	   17824	      5696 ns/op
BenchmarkBroken-2 --- FAIL
`
	tbl := GoBench(out)
	tests := map[string]struct {
		row  int
		want string
	}{
		"encode row":       {0, "contract BenchmarkEncode/uploaded-2 102176 1173 — 448 4"},
		"MB/s kept":        {1, "contract BenchmarkDecode/ready-2 10656 11084 104.20 1712 38"},
		"package switches": {2, "platform/stage BenchmarkNewMessage-2 17824 5696 — — —"},
	}
	if len(tbl.Rows) != 3 {
		t.Fatalf("%d rows, want 3: %v", len(tbl.Rows), tbl.Rows)
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := strings.Join(tbl.Rows[tc.row], " "); got != tc.want {
				t.Fatalf("row %d = %q, want %q", tc.row, got, tc.want)
			}
		})
	}
}

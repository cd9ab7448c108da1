package report

import (
	"bufio"
	"strings"
)

// GoBench turns `go test -bench -benchmem` output into a table: package,
// benchmark, iterations, ns/op, MB/s, B/op, allocs/op. Lines that are not
// benchmark results are skipped.
func GoBench(output string) Table {
	t := Table{Header: []string{"package", "benchmark", "iterations", "ns/op", "MB/s", "B/op", "allocs/op"}}
	pkg := ""
	sc := bufio.NewScanner(strings.NewReader(output))
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		row := map[string]string{}
		for i := 2; i+1 < len(f); i += 2 {
			row[f[i+1]] = f[i]
		}
		if row["ns/op"] == "" {
			continue
		}
		short := pkg
		if i := strings.LastIndex(pkg, "/vidpipe/"); i >= 0 {
			short = pkg[i+len("/vidpipe/"):]
		}
		t.AddRow(short, f[0], f[1], row["ns/op"], orDash(row["MB/s"]), orDash(row["B/op"]), orDash(row["allocs/op"]))
	}
	return t
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

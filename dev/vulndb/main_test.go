package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mustReadJSON decodes the JSON file at path into v.
func mustReadJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

func TestBuildFromOSVFiles(t *testing.T) {
	root := t.TempDir()
	var stdout strings.Builder
	if err := run([]string{"-src", "testdata/osv", "-time", "2026-11-05T23:49:57Z", "-out", root}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "local")
	if got := strings.TrimSpace(stdout.String()); got != dir {
		t.Fatalf("printed %q, want %q", got, dir)
	}
	stamp := time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)
	future := time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC)

	var db struct{ Modified time.Time }
	mustReadJSON(t, filepath.Join(dir, "index", "db.json"), &db)
	if !db.Modified.Equal(future) {
		t.Errorf("db modified %v, want the latest entry time %v", db.Modified, future)
	}

	var mods []moduleMeta
	mustReadJSON(t, filepath.Join(dir, "index", "modules.json"), &mods)
	want := map[string][]string{
		"example.com/m":     {"GO-2099-0001"}, // listed once although affected twice
		"golang.org/x/text": {"GO-2022-1059"},
		"stdlib":            {"GO-2099-0001"},
	}
	if len(mods) != len(want) {
		t.Fatalf("modules index %+v, want %v", mods, want)
	}
	for i, m := range mods {
		if i > 0 && mods[i-1].Path >= m.Path {
			t.Errorf("modules index not sorted: %q before %q", mods[i-1].Path, m.Path)
		}
		var ids []string
		for _, v := range m.Vulns {
			ids = append(ids, v.ID)
		}
		if strings.Join(ids, ",") != strings.Join(want[m.Path], ",") {
			t.Errorf("module %s lists %v, want %v", m.Path, ids, want[m.Path])
		}
	}

	tests := map[string]struct {
		id                  string
		modified, published time.Time
	}{
		"zero times take the commit time": {"GO-2022-1059", stamp, stamp},
		"own times kept":                  {"GO-2099-0001", future, time.Date(2098, 1, 2, 3, 4, 5, 0, time.UTC)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var e struct {
				ID                  string
				Modified, Published time.Time
				Summary             string
				Affected            []json.RawMessage
			}
			mustReadJSON(t, filepath.Join(dir, "ID", tc.id+".json"), &e)
			if e.ID != tc.id || !e.Modified.Equal(tc.modified) || !e.Published.Equal(tc.published) {
				t.Errorf("entry %+v, want modified %v published %v", e, tc.modified, tc.published)
			}
			if e.Summary == "" || len(e.Affected) == 0 {
				t.Errorf("entry lost fields: %+v", e)
			}
		})
	}
}

func TestBuildRejectsBadInput(t *testing.T) {
	tests := map[string]struct {
		file, content, want string
	}{
		"id differs from file name": {"GO-2022-0001.json", `{"id":"GO-2022-0002","affected":[]}`, "does not match"},
		"not an id":                 {"x.json", `{"id":"x","affected":[]}`, "does not match"},
		"not JSON":                  {"GO-2022-0001.json", `{`, "GO-2022-0001.json"},
		"package without a name":    {"GO-2022-0001.json", `{"id":"GO-2022-0001","affected":[{"package":{}}]}`, "without a name"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			src := t.TempDir()
			if err := os.WriteFile(filepath.Join(src, tc.file), []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			err := run([]string{"-src", src, "-time", "2026-01-01T00:00:00Z", "-out", root}, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("a failed build left %v in the output root", entries)
			}
		})
	}
}

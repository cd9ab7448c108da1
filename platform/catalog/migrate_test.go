package catalog

import (
	"testing"
	"testing/fstest"
)

func TestParseMigrations(t *testing.T) {
	sql := &fstest.MapFile{Data: []byte("SELECT 1;")}
	tests := map[string]struct {
		files    fstest.MapFS
		versions []int
		wantErr  bool
	}{
		"sorted by number, not name": {
			files:    fstest.MapFS{"m/0010_b.sql": sql, "m/0002_a.sql": sql, "m/README.md": sql},
			versions: []int{2, 10},
		},
		"duplicate version": {
			files:   fstest.MapFS{"m/0001_a.sql": sql, "m/001_b.sql": sql},
			wantErr: true,
		},
		"no number": {
			files:   fstest.MapFS{"m/init.sql": sql},
			wantErr: true,
		},
		"zero version": {
			files:   fstest.MapFS{"m/0000_init.sql": sql},
			wantErr: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ms, err := parseMigrations(tc.files, "m")
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseMigrations succeeded: %+v", ms)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.Version)
				if len(m.Checksum) != 64 {
					t.Errorf("%s: checksum %q", m.Name, m.Checksum)
				}
			}
			if len(got) != len(tc.versions) {
				t.Fatalf("versions = %v, want %v", got, tc.versions)
			}
			for i := range got {
				if got[i] != tc.versions[i] {
					t.Fatalf("versions = %v, want %v", got, tc.versions)
				}
			}
		})
	}
}

func TestEmbeddedMigrationsParse(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 {
		t.Fatalf("embedded migrations = %+v, want to start at version 1", ms)
	}
}

package servers

import (
	"errors"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// InstallHint tells a developer how to get a missing tool.
const InstallHint = "run `make deps` (installs ffmpeg, kcat, minio)"

// MinIOBinary finds the minio server: in PATH, then in $GOBIN, then in the
// bin directory of each GOPATH entry (default ~/go), where
// `go install github.com/minio/minio@...` puts it.
func MinIOBinary() (string, error) {
	if path, err := exec.LookPath("minio"); err == nil {
		return path, nil
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	for _, gopath := range filepath.SplitList(build.Default.GOPATH) {
		dirs = append(dirs, filepath.Join(gopath, "bin"))
	}
	for _, dir := range dirs {
		path := filepath.Join(dir, "minio")
		if isExecutable(path) {
			return path, nil
		}
	}
	return "", fmt.Errorf("minio server binary not found in PATH or in %s: %s", strings.Join(dirs, ", "), InstallHint)
}

// PostgresBinaries are the PostgreSQL server programs StartPostgres runs.
type PostgresBinaries struct {
	InitDB   string // initdb
	Postgres string // postgres, the server
}

// pgLibDir holds one directory per installed major version on Debian.
const pgLibDir = "/usr/lib/postgresql"

// FindPostgres finds initdb and postgres: in the newest
// /usr/lib/postgresql/<version>/bin that has both (Debian does not put the
// server in PATH), else in PATH.
func FindPostgres() (PostgresBinaries, error) {
	entries, _ := os.ReadDir(pgLibDir) // a missing directory falls through to PATH
	var versions []string
	for _, e := range entries {
		versions = append(versions, e.Name())
	}
	for _, v := range newestFirst(versions) {
		bin := filepath.Join(pgLibDir, v, "bin")
		b := PostgresBinaries{InitDB: filepath.Join(bin, "initdb"), Postgres: filepath.Join(bin, "postgres")}
		if isExecutable(b.InitDB) && isExecutable(b.Postgres) {
			return b, nil
		}
	}
	initdb, err1 := exec.LookPath("initdb")
	postgres, err2 := exec.LookPath("postgres")
	if err := errors.Join(err1, err2); err != nil {
		return PostgresBinaries{}, fmt.Errorf("PostgreSQL server binaries (initdb, postgres) not found in %s/<version>/bin or PATH (%v): install the Debian package postgresql (apt-get install postgresql) or %s", pgLibDir, err, InstallHint)
	}
	return PostgresBinaries{InitDB: initdb, Postgres: postgres}, nil
}

// newestFirst returns the names that are version numbers ("15", "9.6",
// "16.2"), highest first, dropping the others.
func newestFirst(names []string) []string {
	type version struct {
		name  string
		parts []int
	}
	var vs []version
	for _, n := range names {
		var parts []int
		for _, s := range strings.Split(n, ".") {
			i, err := strconv.Atoi(s)
			if err != nil {
				parts = nil
				break
			}
			parts = append(parts, i)
		}
		if parts != nil {
			vs = append(vs, version{n, parts})
		}
	}
	sort.SliceStable(vs, func(i, j int) bool {
		a, b := vs[i].parts, vs[j].parts
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] > b[k]
			}
		}
		return len(a) > len(b)
	})
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.name
	}
	return out
}

// isExecutable reports whether path is a regular file with an execute bit.
func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

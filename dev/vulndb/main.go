// Command vulndb builds a Go vulnerability database that govulncheck reads
// with -db file:///DIR, from the OSV files of the golang.org/x/vulndb
// module (its data/osv directory), which the Go module proxy serves. It
// lets `make vulncheck` run where vuln.go.dev is unreachable but the
// module proxy is not.
//
// The output is the v1 database layout (https://go.dev/security/vuln/database):
//
//	DIR/index/db.json        {"modified": <latest entry modification>}
//	DIR/index/modules.json   [{"path": ..., "vulns": [{"id": ..., "modified": ...}]}]
//	DIR/ID/GO-YYYY-NNNN.json the OSV entry
//
// The OSV files in the vulndb repository carry zero "modified" and
// "published" times (the hosted database fills them from git history);
// they are set to the commit time of the vulndb module version, so the
// database's date is the date of its data. The modules index leaves out
// the optional "fixed" hint: govulncheck then checks every entry of a
// module it uses against the entry's version ranges, which is exact.
//
// The database is written to a temporary directory and renamed into
// place, so a failed run never leaves a partial database; an existing
// database for the same vulndb version is reused.
//
// Usage:
//
//	vulndb [-version latest] -out ROOT
//
// fetches golang.org/x/vulndb@version with `go mod download`, writes the
// database to ROOT/<resolved version> and prints that directory. With
// -src DIR -time RFC3339 it converts the OSV files in DIR instead.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "vulndb:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vulndb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("version", "latest", "version of golang.org/x/vulndb to build the database from (a module query)")
	out := fs.String("out", "", "root directory; the database goes to ROOT/<vulndb version>")
	src := fs.String("src", "", "convert the OSV files in this directory instead of fetching golang.org/x/vulndb")
	stamp := fs.String("time", "", "with -src: RFC 3339 time for entries without modified/published times")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-out is required")
	}
	var mod vulndbModule
	if *src != "" {
		t, err := time.Parse(time.RFC3339, *stamp)
		if err != nil {
			return fmt.Errorf("-time: %w", err)
		}
		mod = vulndbModule{Version: "local", Time: t, OSVDir: *src}
	} else {
		var err error
		if mod, err = download(*version); err != nil {
			return err
		}
	}
	dir := filepath.Join(*out, mod.Version)
	if _, err := os.Stat(filepath.Join(dir, "index", "db.json")); err == nil && *src == "" {
		fmt.Fprintf(stderr, "vulndb: golang.org/x/vulndb %s (%s) already built in %s\n",
			mod.Version, mod.Time.Format(time.RFC3339), dir)
		fmt.Fprintln(stdout, dir)
		return nil
	}
	db, err := load(mod.OSVDir, mod.Time.UTC())
	if err != nil {
		return err
	}
	if err := db.writeAtomic(dir); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "vulndb: golang.org/x/vulndb %s: %d entries, %d modules, modified %s, written to %s\n",
		mod.Version, len(db.entries), len(db.modules), db.modified.Format(time.RFC3339), dir)
	fmt.Fprintln(stdout, dir)
	return nil
}

// vulndbModule is a downloaded version of golang.org/x/vulndb.
type vulndbModule struct {
	Version string
	Time    time.Time // commit time of the version
	OSVDir  string    // its data/osv directory
}

// download fetches golang.org/x/vulndb@version into the module cache with
// the go command (through GOPROXY, checked against GOSUMDB).
func download(version string) (vulndbModule, error) {
	cmd := exec.Command("go", "mod", "download", "-json", "golang.org/x/vulndb@"+version)
	cmd.Dir = os.TempDir() // outside any module or workspace
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	var dl struct {
		Version, Info, Dir, Error string
	}
	if jerr := json.Unmarshal(b, &dl); jerr == nil && dl.Error != "" {
		return vulndbModule{}, fmt.Errorf("go mod download golang.org/x/vulndb@%s: %s", version, dl.Error)
	}
	if err != nil {
		return vulndbModule{}, fmt.Errorf("go mod download golang.org/x/vulndb@%s: %w: %s", version, err, stderr.String())
	}
	ib, err := os.ReadFile(dl.Info)
	if err != nil {
		return vulndbModule{}, fmt.Errorf("golang.org/x/vulndb@%s: %w", dl.Version, err)
	}
	var info struct{ Time time.Time }
	if err := json.Unmarshal(ib, &info); err != nil || info.Time.IsZero() {
		return vulndbModule{}, fmt.Errorf("golang.org/x/vulndb@%s: no commit time in %s", dl.Version, dl.Info)
	}
	return vulndbModule{Version: dl.Version, Time: info.Time, OSVDir: filepath.Join(dl.Dir, "data", "osv")}, nil
}

// idPattern is the form of Go vulnerability ids.
var idPattern = regexp.MustCompile(`^GO-[0-9]{4}-[0-9]{4,}$`)

// entryHead is the part of an OSV entry the indexes need.
type entryHead struct {
	ID        string    `json:"id"`
	Modified  time.Time `json:"modified"`
	Published time.Time `json:"published"`
	Affected  []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
	} `json:"affected"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
}

type moduleMeta struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

// database is a loaded vulnerability database.
type database struct {
	modified time.Time
	entries  map[string][]byte // id → OSV JSON
	modules  map[string]*moduleMeta
}

// load reads every *.json file of dir as an OSV entry; t replaces zero
// modified and published times.
func load(dir string, t time.Time) (*database, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no OSV files (*.json) in %s", dir)
	}
	db := &database{entries: map[string][]byte{}, modules: map[string]*moduleMeta{}}
	for _, f := range files {
		if err := db.add(f, t); err != nil {
			return nil, err
		}
	}
	return db, nil
}

func (db *database) add(file string, t time.Time) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var head entryHead
	if err := json.Unmarshal(raw, &head); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if !idPattern.MatchString(head.ID) || filepath.Base(file) != head.ID+".json" {
		return fmt.Errorf("%s: id %q does not match the file name GO-YYYY-NNNN.json", file, head.ID)
	}
	if _, dup := db.entries[head.ID]; dup {
		return fmt.Errorf("%s: duplicate id %s", file, head.ID)
	}
	// Keep every field of the entry; only fill in the times.
	var full map[string]json.RawMessage
	if err := json.Unmarshal(raw, &full); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if head.Modified.IsZero() {
		head.Modified = t
		full["modified"], _ = json.Marshal(t)
	}
	if head.Published.IsZero() {
		full["published"], _ = json.Marshal(head.Modified)
	}
	b, err := json.Marshal(full)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	db.entries[head.ID] = b
	if head.Modified.After(db.modified) {
		db.modified = head.Modified
	}
	seen := map[string]bool{}
	for _, a := range head.Affected {
		p := a.Package.Name
		if p == "" {
			return fmt.Errorf("%s: an affected package without a name", file)
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		m := db.modules[p]
		if m == nil {
			m = &moduleMeta{Path: p}
			db.modules[p] = m
		}
		m.Vulns = append(m.Vulns, moduleVuln{ID: head.ID, Modified: head.Modified})
	}
	return nil
}

// writeAtomic writes the database to a new directory beside out and
// renames it to out, replacing any previous database there.
func (db *database) writeAtomic(out string) error {
	out = filepath.Clean(out)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := db.write(tmp); err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

func (db *database) write(dir string) error {
	for _, d := range []string{"index", "ID"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	for id, b := range db.entries {
		if err := os.WriteFile(filepath.Join(dir, "ID", id+".json"), b, 0o644); err != nil {
			return err
		}
	}
	mods := make([]*moduleMeta, 0, len(db.modules))
	for _, m := range db.modules {
		sort.Slice(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool { return strings.Compare(mods[i].Path, mods[j].Path) < 0 })
	for name, v := range map[string]any{
		"modules.json": mods,
		"db.json": struct {
			Modified time.Time `json:"modified"`
		}{db.modified},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "index", name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

package browser

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// AxeRelPath is where `npm ci` in dev/browser puts axe-core, relative to
// the repository root (the folder holding go.work).
const AxeRelPath = "dev/browser/node_modules/axe-core/axe.min.js"

var (
	axeOnce sync.Once
	axeSrc  string
	axeErr  error
)

// AxeSource is the text of axe.min.js: $VIDPIPE_AXE_JS, else AxeRelPath
// under the repository root found from the working directory. It fails
// (wrapping ErrMissingTool) when the file is missing.
func AxeSource() (string, error) {
	axeOnce.Do(func() {
		p := os.Getenv("VIDPIPE_AXE_JS")
		if p == "" {
			root, err := RepoRoot()
			if err != nil {
				axeErr = err
				return
			}
			p = filepath.Join(root, AxeRelPath)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			axeErr = fmt.Errorf("browser: axe-core not installed (%v): %w", err, ErrMissingTool)
			return
		}
		axeSrc = string(b)
	})
	return axeSrc, axeErr
}

// RepoRoot is the directory holding go.work at or above the working
// directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("browser: no go.work at or above the working directory")
		}
		dir = parent
	}
}

// AxeViolation is one rule that axe-core found broken on the page.
type AxeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Target         []any  `json:"target"`
		HTML           string `json:"html"`
		FailureSummary string `json:"failureSummary"`
	} `json:"nodes"`
}

func (v AxeViolation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s [%s]", v.ID, v.Impact, v.Help, v.HelpURL)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n    %v %s\n      %s", n.Target, n.HTML, strings.ReplaceAll(n.FailureSummary, "\n", "\n      "))
	}
	return b.String()
}

// Axe injects axe-core into the page (once per document) and runs every
// rule on the whole document; it returns the violations of impact serious
// or critical.
func (tab *Tab) Axe() []AxeViolation {
	tab.t.Helper()
	src, err := AxeSource()
	if err != nil {
		tab.t.Fatalf("%v", err)
	}
	if !Eval[bool](tab, `typeof window.axe === "object"`) {
		Eval[bool](tab, src+"\n;true")
	}
	all := Eval[[]AxeViolation](tab, `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations)`)
	var out []AxeViolation
	for _, v := range all {
		if v.Impact == "serious" || v.Impact == "critical" {
			out = append(out, v)
		}
	}
	return out
}

// CheckAxe fails the test, printing them, when axe-core finds serious or
// critical violations on the page; label names the page and the emulation.
func (tab *Tab) CheckAxe(label string) {
	tab.t.Helper()
	vs := tab.Axe()
	if len(vs) == 0 {
		return
	}
	lines := make([]string, len(vs))
	for i, v := range vs {
		lines[i] = v.String()
	}
	tab.t.Errorf("axe-core on %s: %d serious/critical violations:\n  %s", label, len(vs), strings.Join(lines, "\n  "))
}

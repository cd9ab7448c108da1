// Command configref writes the configuration reference (docs/configuration.md)
// from the services' Config types. Run from the repository root: make docs.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vidpipe/vidpipe/deploy/configref"
)

func main() {
	if err := os.MkdirAll(filepath.Dir(configref.Path), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "configref:", err)
		os.Exit(1)
	}
	md, err := configref.Markdown()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(configref.Path, []byte(md), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "configref:", err)
		os.Exit(1)
	}
	fmt.Println("wrote", configref.Path)
}

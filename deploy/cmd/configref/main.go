// Command configref writes the configuration reference (docs/configuration.md)
// from what each service binary prints with --config-reference: it builds
// them into a temporary directory first. Run from the repository root:
// make docs.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vidpipe/vidpipe/deploy/configref"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "configref:", err)
		os.Exit(1)
	}
	fmt.Println("wrote", configref.Path)
}

func run(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "vidpipe-configref-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bins, err := configref.Build(ctx, ".", dir)
	if err != nil {
		return err
	}
	refs, err := configref.References(ctx, bins)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(configref.Path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(configref.Path, []byte(configref.Markdown(refs)), 0o644)
}

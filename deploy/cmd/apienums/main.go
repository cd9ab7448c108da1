// Command apienums rewrites the enums of services/upload-api/server/openapi.yaml
// that come from the pipeline table (the statuses and the failed stages; see
// deploy/apienums). Run from the repository root: make docs.
package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/deploy/apienums"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "apienums:", err)
		os.Exit(1)
	}
}

func run() error {
	doc, err := os.ReadFile(apienums.Path)
	if err != nil {
		return err
	}
	out, err := apienums.Rewrite(doc, contract.DefaultPipeline())
	if err != nil {
		return err
	}
	if bytes.Equal(out, doc) {
		fmt.Println("unchanged", apienums.Path)
		return nil
	}
	fi, err := os.Stat(apienums.Path)
	if err != nil {
		return err
	}
	if err := os.WriteFile(apienums.Path, out, fi.Mode().Perm()); err != nil {
		return err
	}
	fmt.Println("wrote", apienums.Path)
	return nil
}

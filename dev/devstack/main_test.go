package devstack

import (
	"fmt"
	"os"
	"testing"
)

// testBinDir holds the programs the tests build (testdata/child).
var testBinDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "devstack-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testBinDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

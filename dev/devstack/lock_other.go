//go:build !linux

package devstack

import (
	"fmt"
	"os"
)

// lockDir creates path; there is no lock outside Linux.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	return f, nil
}

//go:build !unix

package storage

import "errors"

// partMemMapped: elsewhere part buffers are heap slices.
const partMemMapped = false

func mapPartMem(int) ([]byte, error) {
	return nil, errors.New("storage: no mapped part buffers on this platform")
}

func isPartMem([]byte) bool { return false }

func releasePartMem([]byte) {}

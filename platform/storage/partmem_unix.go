//go:build unix

package storage

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// partMemMapped: part buffers are anonymous private mappings here.
const partMemMapped = true

// partMaps records the mappings made, by the address of their first byte,
// so that only they are ever handed to madvise.
var partMaps sync.Map // *byte → struct{}

// mapPartMem maps size bytes of anonymous private memory, outside the Go
// heap. The mapping is never unmapped (see PartBuffers).
func mapPartMem(size int) ([]byte, error) {
	p, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("storage: map a %d-byte part buffer: %w", size, err)
	}
	partMaps.Store(&p[0], struct{}{})
	return p, nil
}

// isPartMem reports whether p is a whole mapping of mapPartMem.
func isPartMem(p []byte) bool {
	if len(p) == 0 {
		return false
	}
	_, ok := partMaps.Load(&p[0])
	return ok
}

// releasePartMem returns the pages of mapping p to the kernel; the
// mapping stays valid and reads as zeros until written again.
func releasePartMem(p []byte) {
	_ = unix.Madvise(p, unix.MADV_DONTNEED) // only a hint: on failure the pages stay resident
}

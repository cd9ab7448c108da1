package storage

import (
	"runtime"
	"testing"
)

// TestPartBuffersOutsideHeap: the part buffers of NewPartBuffers do not
// count in the Go heap, so they do not set the collector's heap goal
// (with 16 MiB buffers in the heap, an upload-api process grew to twice
// its buffers). Fails with heap buffers: the heap grows by 64 MiB.
func TestPartBuffersOutsideHeap(t *testing.T) {
	const size = 16 << 20
	b := NewPartBuffers(size, 3)
	before := heapInUse()
	var held [][]byte
	for range 4 {
		p := b.get()
		for i := 0; i < len(p); i += 4096 {
			p[i] = 1 // touch every page
		}
		held = append(held, p)
	}
	grew := int64(heapInUse()) - int64(before)
	if grew > 4<<20 {
		t.Fatalf("four %d MiB part buffers grew the Go heap by %.1f MiB; want them outside it", size>>20, float64(grew)/(1<<20))
	}
	for _, p := range held {
		b.put(p)
	}
	runtime.KeepAlive(held)
}

// TestPartBuffersReuseMappings: buffers that are not kept, and kept ones
// after the idle release, come back for the next streams (no new mapping
// while released ones wait), and a released buffer's old bytes are gone
// (its pages went back to the kernel).
func TestPartBuffersReuseMappings(t *testing.T) {
	const size = 5 << 20
	b := NewPartBuffers(size, 1) // keeps 2
	first := map[*byte]bool{}
	var held [][]byte
	for range 5 {
		p := b.get()
		p[0], p[size-1] = 7, 7
		first[&p[0]] = true
		held = append(held, p)
	}
	if !isPartMem(held[0]) {
		t.Fatal("NewPartBuffers handed out a heap buffer, want a mapping")
	}
	for _, p := range held {
		b.put(p)
	}
	if n := len(b.cold); n != 3 {
		t.Fatalf("%d buffers released after 5 returned with 2 kept, want 3", n)
	}
	b.release()
	if n := len(b.cold); n != 5 {
		t.Fatalf("%d buffers released after the idle release, want 5", n)
	}
	for range 5 {
		p := b.get()
		if !first[&p[0]] {
			t.Fatal("a new mapping was made while released ones were waiting")
		}
		if p[0] != 0 || p[size-1] != 0 {
			t.Fatalf("a released buffer still holds its bytes (%d, %d): its pages were not returned", p[0], p[size-1])
		}
	}
}

// TestPrivatePartBuffersStayInHeap: the private set of a PutStream call
// without Buffers uses heap slices, which the collector frees with it.
func TestPrivatePartBuffersStayInHeap(t *testing.T) {
	b := &PartBuffers{size: 5 << 20, spare: make(chan struct{}, 1)}
	if p := b.get(); isPartMem(p) {
		t.Fatal("a private set handed out a mapping")
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

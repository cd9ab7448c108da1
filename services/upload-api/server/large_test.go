package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"hash"
	"io"
	"mime/multipart"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/vidpipe/vidpipe/contract"
)

// largeUploadBytes is the size of the large upload: at least 512 MiB.
const largeUploadBytes = 512 << 20

// patternReader yields n bytes: head, then a cheap, position-dependent
// pattern, hashing what it yields. Nothing is held in memory besides one
// 64 KiB block.
type patternReader struct {
	head  []byte
	n     int64
	off   int64
	block []byte
	h     hash.Hash
}

func newPatternReader(head []byte, n int64) *patternReader {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i*131 + i>>8)
	}
	return &patternReader{head: head, n: n, block: b, h: sha256.New()}
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if rest := r.n - r.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	var n int
	if r.off < int64(len(r.head)) {
		n = copy(p, r.head[r.off:])
	} else {
		i := int(r.off % int64(len(r.block)))
		n = copy(p, r.block[i:])
		p[0] ^= byte(r.off >> 16) // vary the blocks
	}
	r.h.Write(p[:n])
	r.off += int64(n)
	return n, nil
}

// TestUploadLarge streams a 512 MiB file generated on the fly through a
// pipe (never held in memory) and checks the stored object's size and
// SHA-256, and that the heap stayed flat meanwhile: what it grew by from
// before the upload (the test and the server share the process, so the
// bound covers both) stays far below the file's size.
func TestUploadLarge(t *testing.T) {
	e := mustEnv(t)
	src := newPatternReader(mustClip(t)[:4096], largeUploadBytes)

	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fw, err := mw.CreateFormFile("file", "large.mp4")
		if err == nil {
			_, err = io.Copy(fw, src)
		}
		if err == nil {
			err = mw.WriteField("title", "Large")
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()

	// What the upload adds to the heap: buffers other tests' servers in
	// this process still keep (storage.PartBuffers keeps its free ones for
	// a minute) are in the baseline, not in the upload's figure.
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if grown := ms.HeapInuse - min(ms.HeapInuse, base.HeapInuse); grown > peak.Load() {
				peak.Store(grown)
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.URL+"/v1/videos", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	acc := mustAccepted(t, resp, body)
	t.Logf("%d MiB in %v (%.0f MiB/s), heap in use grew by %d MiB at most (from %d MiB)", largeUploadBytes>>20, elapsed.Round(time.Millisecond),
		float64(largeUploadBytes>>20)/elapsed.Seconds(), peak.Load()>>20, base.HeapInuse>>20)
	if p := peak.Load(); p > 160<<20 {
		t.Errorf("heap in use grew by %d MiB while streaming: the upload is buffered", p>>20)
	}

	obj, err := e.MinIO.Client(t).GetObject(ctx, e.Bucket, contract.SourceKey(acc.ID), minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	h := sha256.New()
	n, err := io.Copy(h, obj)
	if err != nil {
		t.Fatal(err)
	}
	if n != largeUploadBytes || string(h.Sum(nil)) != string(src.h.Sum(nil)) {
		t.Fatalf("stored %d bytes (sha256 match: %v), uploaded %d", n, string(h.Sum(nil)) == string(src.h.Sum(nil)), int64(largeUploadBytes))
	}
	msgs := e.Kafka.ReadAll(t, contract.TopicUploaded, 1, 10*time.Second)
	var ev contract.VideoUploaded
	if err := json.Unmarshal(msgs[0].Value, &ev); err != nil || ev.Source.Size != largeUploadBytes || ev.Title != "Large" {
		t.Fatalf("event %+v (%v)", ev.Video, err)
	}
}

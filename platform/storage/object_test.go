package storage_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/storage"
)

func TestPutGetStat(t *testing.T) {
	t.Parallel()
	s := MustStore(t)
	tests := map[string]struct {
		body        string
		size        int64 // -1: unknown
		contentType string
		wantType    string
	}{
		"known size":         {body: "hello world", size: 11, contentType: "text/plain", wantType: "text/plain"},
		"unknown size":       {body: "streamed", size: -1, contentType: "video/mp4", wantType: "video/mp4"},
		"empty object":       {body: "", size: 0, contentType: "text/plain", wantType: "text/plain"},
		"default type":       {body: "x", size: 1, wantType: "application/octet-stream"},
		"nested key/slashes": {body: "seg", size: 3, contentType: "video/mp2t", wantType: "video/mp2t"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			key := "videos/" + strings.ReplaceAll(name, " ", "-") + "/obj"
			info, err := s.Put(ctx, key, strings.NewReader(tt.body), tt.size, tt.contentType)
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if info.Key != key || info.Size != int64(len(tt.body)) || info.ETag == "" || info.ContentType != tt.wantType {
				t.Errorf("Put info = %+v, want key %q size %d type %q and an ETag", info, key, len(tt.body), tt.wantType)
			}

			st, err := s.Stat(ctx, key)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			if st.Key != key || st.Size != int64(len(tt.body)) || st.ContentType != tt.wantType || st.ETag != info.ETag || st.LastModified.IsZero() {
				t.Errorf("Stat = %+v, want key %q size %d type %q ETag %q and a modification time", st, key, len(tt.body), tt.wantType, info.ETag)
			}

			rc, err := s.Get(ctx, key)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if string(got) != tt.body {
				t.Errorf("Get body = %q, want %q", got, tt.body)
			}
		})
	}
}

func TestPutOverwrites(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s := MustStore(t)
	for _, body := range []string{"first version", "second"} {
		if _, err := s.Put(ctx, "k", strings.NewReader(body), int64(len(body)), ""); err != nil {
			t.Fatalf("Put %q: %v", body, err)
		}
	}
	if got := MustRead(t, s, "k"); got != "second" {
		t.Fatalf("after overwrite, body = %q, want %q", got, "second")
	}
}

func TestMissingKeyIsErrNotFound(t *testing.T) {
	t.Parallel()
	s := MustStore(t)
	const key = "uploads/nope/source"
	tests := map[string]func(t *testing.T) error{
		"Stat": func(t *testing.T) error { _, err := s.Stat(testContext(t), key); return err },
		"Get": func(t *testing.T) error {
			rc, err := s.Get(testContext(t), key)
			if rc != nil {
				rc.Close()
			}
			return err
		},
		"GetToFile": func(t *testing.T) error {
			path := filepath.Join(t.TempDir(), "out")
			_, err := s.GetToFile(testContext(t), key, path)
			if _, statErr := os.Stat(path); !errors.Is(statErr, os.ErrNotExist) {
				t.Errorf("GetToFile of a missing key left %s (stat: %v)", path, statErr)
			}
			return err
		},
	}
	for name, call := range tests {
		t.Run(name, func(t *testing.T) {
			err := call(t)
			if !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("%s error = %v, want ErrNotFound", name, err)
			}
			if !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), s.Bucket()) {
				t.Errorf("%s error %q does not name the bucket and key", name, err)
			}
		})
	}
}

// genReader yields n deterministic pseudo-random bytes and hides its size:
// it has no Len, Seek, ReadAt or WriteTo, like a request body being relayed.
type genReader struct {
	rng *rand.ChaCha8
	n   int64
}

func newGenReader(seed byte, n int64) *genReader {
	var s [32]byte
	s[0] = seed
	return &genReader{rng: rand.NewChaCha8(s), n: n}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.n {
		p = p[:g.n]
	}
	g.rng.Read(p)
	g.n -= int64(len(p))
	return len(p), nil
}

// TestPutUnknownSizeStreamsMultipart uploads ~64 MiB of unknown size with
// the smallest part size: the upload must be a multipart upload of
// ceil(size/part) parts (an S3 multipart ETag ends in -<parts>), which is
// what bounds memory to one part, and the bytes must come back intact.
func TestPutUnknownSizeStreamsMultipart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	m := harness.SharedMinIO(t)
	cfg := m.S3Config(harness.MustBucket(t, m))
	cfg.PartSize = 5 << 20
	s := MustNew(t, cfg)

	const size = 64<<20 + 12345
	wantParts := (size + cfg.PartSize - 1) / cfg.PartSize
	sent := sha256.New()
	info, err := s.Put(ctx, "big", io.TeeReader(newGenReader(1, size), sent), -1, "application/octet-stream")
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if info.Size != size {
		t.Errorf("Put size = %d, want %d", info.Size, size)
	}
	if suffix := fmt.Sprintf("-%d", wantParts); !strings.HasSuffix(info.ETag, suffix) {
		t.Errorf("ETag %q does not end in %q: not a multipart upload of %d-byte parts", info.ETag, suffix, cfg.PartSize)
	}

	rc, err := s.Get(ctx, "big")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	got := sha256.New()
	n, err := io.Copy(got, rc)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if n != size || !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Fatalf("read back %d bytes with sha256 %x, want %d bytes with %x", n, got.Sum(nil), size, sent.Sum(nil))
	}
}

// TestPutFileAndGetToFile round-trips a file of known size above the part
// size, so it goes up as a multipart upload of two parts.
func TestPutFileAndGetToFile(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	m := harness.SharedMinIO(t)
	cfg := m.S3Config(harness.MustBucket(t, m))
	cfg.PartSize = 5 << 20
	s := MustNew(t, cfg)
	dir := t.TempDir()
	src := filepath.Join(dir, "source.bin")
	want, err := io.ReadAll(newGenReader(2, 6<<20+7))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, want, 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := s.PutFile(ctx, "uploads/v1/source", src, "video/mp4")
	if err != nil {
		t.Fatalf("PutFile: %v", err)
	}
	if info.Size != int64(len(want)) || !strings.HasSuffix(info.ETag, "-2") {
		t.Errorf("PutFile info = %+v, want size %d and a 2-part multipart ETag", info, len(want))
	}

	dst := filepath.Join(dir, "sub", "dir", "copy.bin") // directories are created
	n, err := s.GetToFile(ctx, "uploads/v1/source", dst)
	if err != nil {
		t.Fatalf("GetToFile: %v", err)
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(want)) || !bytes.Equal(got, want) {
		t.Fatalf("GetToFile wrote %d bytes (file %d), want %d identical bytes", n, len(got), len(want))
	}
	entries, err := os.ReadDir(filepath.Dir(dst))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("download dir holds %d entries, want only the file (no leftover .part)", len(entries))
	}

	if _, err := s.PutFile(ctx, "k", filepath.Join(dir, "missing"), ""); err == nil || !strings.Contains(err.Error(), "k") {
		t.Errorf("PutFile of a missing file = %v, want an error naming the key", err)
	}
}

func TestListRemoveRemovePrefix(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s := MustStore(t)
	keys := []string{"videos/a/hls/0.ts", "videos/a/hls/index.m3u8", "videos/a/thumb.jpg", "videos/ab/thumb.jpg", "uploads/a/source"}
	for _, k := range keys {
		if _, err := s.Put(ctx, k, strings.NewReader(k), int64(len(k)), "text/plain"); err != nil {
			t.Fatalf("Put %s: %v", k, err)
		}
	}
	listKeys := func(prefix string) []string {
		t.Helper()
		infos, err := s.List(ctx, prefix)
		if err != nil {
			t.Fatalf("List %q: %v", prefix, err)
		}
		var out []string
		for _, i := range infos {
			if i.Size != int64(len(i.Key)) {
				t.Errorf("List: %s has size %d, want %d", i.Key, i.Size, len(i.Key))
			}
			out = append(out, i.Key)
		}
		return out
	}

	if got, want := listKeys("videos/a/"), []string{"videos/a/hls/0.ts", "videos/a/hls/index.m3u8", "videos/a/thumb.jpg"}; !slices.Equal(got, want) {
		t.Fatalf("List videos/a/ = %q, want %q", got, want)
	}
	if got := listKeys(""); len(got) != len(keys) {
		t.Fatalf("List of the bucket = %q, want %d keys", got, len(keys))
	}

	if err := s.RemovePrefix(ctx, "videos/a/"); err != nil {
		t.Fatalf("RemovePrefix: %v", err)
	}
	if got := listKeys("videos/a/"); len(got) != 0 {
		t.Fatalf("after RemovePrefix, List videos/a/ = %q, want none", got)
	}
	if got, want := listKeys(""), []string{"uploads/a/source", "videos/ab/thumb.jpg"}; !slices.Equal(got, want) {
		t.Fatalf("after RemovePrefix, bucket holds %q, want %q", got, want)
	}
	if err := s.RemovePrefix(ctx, "videos/none/"); err != nil {
		t.Fatalf("RemovePrefix of nothing: %v", err)
	}
	if err := s.RemovePrefix(ctx, ""); err == nil {
		t.Fatal("RemovePrefix with an empty prefix succeeded, want it refused")
	}

	if err := s.Remove(ctx, "uploads/a/source"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := s.Stat(ctx, "uploads/a/source"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after Remove = %v, want ErrNotFound", err)
	}
	if err := s.Remove(ctx, "uploads/a/source"); err != nil {
		t.Fatalf("Remove of a missing key = %v, want nil", err)
	}
}

// MustRead returns the body of key or fails the test.
func MustRead(tb testing.TB, s *storage.Store, key string) string {
	tb.Helper()
	rc, err := s.Get(testContext(tb), key)
	if err != nil {
		tb.Fatalf("Get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatalf("read %s: %v", key, err)
	}
	return string(b)
}

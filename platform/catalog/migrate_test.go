package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"testing"
)

// released pins the SHA-256 of every migration already shipped: migrations
// are append-only, so a change to a released file is a mistake (a database
// that ran it would never see the edit). A new file needs no entry here.
var released = map[string]string{
	"0001_videos.sql": "e434d8d8cfe2a73deb353086698799296edfe34a858e25feed39b6b7cb565c96",
}

func TestReleasedMigrationsUnchanged(t *testing.T) {
	fsys := Source().FS
	for name, want := range released {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Errorf("released migration %s: %v", name, err)
			continue
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("released migration %s was edited (sha256 %s, released %s): add a new migration instead", name, got, want)
		}
	}
}

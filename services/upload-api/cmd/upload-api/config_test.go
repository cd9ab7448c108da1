package main

import (
	"testing"

	uploadapi "github.com/vidpipe/vidpipe/services/upload-api"
)

// TestServerOptionsUploadBuffers: api.upload_buffer_bytes 0 means no
// spare part buffers, which the server options spell as a negative value
// (their zero means the default).
func TestServerOptionsUploadBuffers(t *testing.T) {
	tests := map[string]struct {
		parallel int
		bytes    int64
		wantPar  int
		wantOff  bool
		want     int64
	}{
		"defaults":   {parallel: 1, bytes: 32 << 20, wantPar: 1, want: 32 << 20},
		"no buffers": {parallel: 3, bytes: 0, wantPar: 3, wantOff: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var cfg uploadapi.Config
			cfg.API.UploadParallelParts, cfg.API.UploadBufferBytes = tt.parallel, tt.bytes
			o := serverOptions(cfg, nil)
			if o.UploadParallelParts != tt.wantPar {
				t.Errorf("UploadParallelParts = %d, want %d", o.UploadParallelParts, tt.wantPar)
			}
			if got := o.UploadBufferBytes; (tt.wantOff && got >= 0) || (!tt.wantOff && got != tt.want) {
				t.Errorf("UploadBufferBytes = %d, want %d (off: %v)", got, tt.want, tt.wantOff)
			}
		})
	}
}

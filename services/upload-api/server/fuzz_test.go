package server

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/services/upload-api/tusupload"
)

// The fuzz targets below cover the pure parsing of client input: the
// multipart form fields, the tus Upload-Metadata header, the playlist
// path of HLS requests and the playlist rewriting. Seeds are in
// testdata/fuzz/<Name>; `make fuzz` runs each target for a bounded time.

const fuzzVideoID = "8c0f6f8e-2a8e-4b43-9b64-0f4b8d7f2a11"

// mustCleanFilenameProperties checks what cleanFilename promises.
func mustCleanFilenameProperties(t *testing.T, in, got string) {
	t.Helper()
	switch {
	case !utf8.ValidString(got):
		t.Fatalf("cleanFilename(%q) = %q: not valid UTF-8", in, got)
	case strings.IndexFunc(got, unicode.IsControl) >= 0:
		t.Fatalf("cleanFilename(%q) = %q: control character", in, got)
	case strings.ContainsAny(got, `/\`):
		t.Fatalf("cleanFilename(%q) = %q: path separator", in, got)
	case got == "." || got == "..":
		t.Fatalf("cleanFilename(%q) = %q", in, got)
	case utf8.RuneCountInString(got) > maxFilenameLen:
		t.Fatalf("cleanFilename(%q): %d characters", in, utf8.RuneCountInString(got))
	case strings.TrimSpace(got) != got:
		t.Fatalf("cleanFilename(%q) = %q: surrounding spaces", in, got)
	}
	if again := cleanFilename(got); again != got {
		t.Fatalf("cleanFilename is not idempotent: %q → %q → %q", in, got, again)
	}
}

// mustValidUpload fails unless fields accepted by the API make a valid
// video.uploaded event: else the upload would end in a 500 after the
// whole file was stored.
func mustValidUpload(t *testing.T, f videoFields) contract.VideoUploaded {
	t.Helper()
	ev := uploadedEvent(fuzzVideoID, "alice", "vidpipe", f, 1, "video/mp4")
	if err := ev.Validate(); err != nil {
		t.Fatalf("accepted fields %+v make an invalid event: %v", f, err)
	}
	return ev
}

// FuzzUploadFields feeds the multipart form fields (title, description,
// tags) and the file name through the API's parsers: whatever they accept
// must make a valid event, tags come out trimmed, unique (ignoring case)
// and comma-free, and file names come out safe to display.
func FuzzUploadFields(f *testing.F) {
	f.Add("Holiday", "A day at the sea.\nWith waves.", "sea, beach,Sea", "../../etc/holiday.mp4")
	f.Add("", "", "", `C:\Users\x\clip.webm`)
	f.Add("Katzen 🐈 — 猫の動画", "\t", " , ,", " .. ")
	f.Add("bad\x1b[31m", "ok", "a\x07b", "a\x00b.mkv")
	f.Fuzz(func(t *testing.T, title, description, tags, filename string) {
		var fl videoFields
		var err error
		fl.Filename = cleanFilename(filename)
		mustCleanFilenameProperties(t, filename, fl.Filename)
		if fl.Title, err = parseTitle(title); err != nil {
			return
		}
		if fl.Description, err = parseDescription(description); err != nil {
			return
		}
		if fl.Tags, err = parseTags(tags); err != nil {
			return
		}
		seen := map[string]bool{}
		for _, tag := range fl.Tags {
			k := strings.ToLower(tag)
			if tag == "" || strings.TrimSpace(tag) != tag || strings.Contains(tag, ",") || seen[k] {
				t.Fatalf("parseTags(%q) = %q: empty, untrimmed, comma or duplicate tag %q", tags, fl.Tags, tag)
			}
			seen[k] = true
		}
		ev := mustValidUpload(t, fl)
		if ev.Title == "" {
			t.Fatal("event without a title")
		}
	})
}

// FuzzTusMetadata feeds an Upload-Metadata header through tusd's parser
// and the API's checks (as the tus creation hook does). Accepted metadata
// makes a valid event, and the normalised metadata stored with the upload
// checks again to the same fields when the upload finishes (else a
// finished upload would be rejected after all its bytes arrived).
func FuzzTusMetadata(f *testing.F) {
	f.Add(tusMeta(map[string]string{"filename": "clip.mp4", "title": "A clip", "tags": "a,b"}))
	f.Add(tusMeta(map[string]string{"filename": "../../../etc/passwd", "description": "x\ny"}))
	f.Add(tusMeta(map[string]string{"title": "a\x00b", "owner": "mallory"}))
	f.Add("filename,title !!!,tags " + strings.Repeat("A", 12))
	f.Fuzz(func(t *testing.T, header string) {
		h := handler.ParseMetadataHeader(header)
		meta := tusupload.Metadata{Filename: h["filename"], Title: h["title"], Description: h["description"], Tags: h["tags"]}
		fl, err := metaFields(meta)
		if err != nil {
			return
		}
		mustCleanFilenameProperties(t, meta.Filename, fl.Filename)
		mustValidUpload(t, fl)
		// What the creation hook stores, as the finish hook reads it back.
		stored, err := tusIntake{}.CheckMetadata(meta)
		if err != nil {
			t.Fatalf("CheckMetadata refused what metaFields accepted: %v", err)
		}
		again, err := metaFields(stored)
		if err != nil {
			t.Fatalf("stored metadata %+v no longer checks: %v", stored, err)
		}
		if fmt.Sprintf("%q", again) != fmt.Sprintf("%q", fl) {
			t.Fatalf("stored metadata checks to %+v, created with %+v", again, fl)
		}
	})
}

// mustSafeKey fails unless key stays inside the video's HLS prefix.
func mustSafeKey(t *testing.T, key string) {
	t.Helper()
	if key == "" || key == ".." || strings.HasPrefix(key, "../") || strings.HasPrefix(key, "/") ||
		strings.ContainsAny(key, "\\\x00") || path.Clean(key) != key {
		t.Fatalf("key %q escapes the HLS prefix", key)
	}
	full := contract.HLSPrefix(fuzzVideoID) + key
	if !strings.HasPrefix(path.Clean(full)+"/", contract.HLSPrefix(fuzzVideoID)) {
		t.Fatalf("object %q is outside %q", full, contract.HLSPrefix(fuzzVideoID))
	}
}

// FuzzCleanHLSPath checks that an accepted playlist path names a .m3u8
// object inside the video's HLS prefix.
func FuzzCleanHLSPath(f *testing.F) {
	for _, p := range []string{"master.m3u8", "720p/index.m3u8", "../master.m3u8", "720p/../../x.m3u8",
		"/master.m3u8", "720p//index.m3u8", "a\\b.m3u8", "./x.m3u8", "%2e%2e/x.m3u8", "720p/seg_00000.ts"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, ok := cleanHLSPath(p)
		if !ok {
			return
		}
		if c != p || !strings.HasSuffix(c, ".m3u8") || strings.ContainsFunc(c, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("cleanHLSPath(%q) = %q", p, c)
		}
		mustSafeKey(t, c)
	})
}

// FuzzRewritePlaylist checks the playlist rewriting whatever the playlist
// holds: only keys inside the video's HLS prefix are presigned, every
// other reference left in the output is a relative playlist path that
// carries the signature, and nothing points elsewhere.
func FuzzRewritePlaylist(f *testing.F) {
	f.Add([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\n360p/index.m3u8\n"), "master.m3u8")
	f.Add([]byte("#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2,\nseg_00000.ts\n#EXT-X-ENDLIST\n"), "360p/index.m3u8")
	f.Add([]byte("#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,URI=\"../../other/hls/a.m3u8\"\nhttps://evil.example/x.ts\n/etc/passwd\nfile:///etc/passwd\n"), "master.m3u8")
	f.Add([]byte("#EXTM3U\nhttps%3a//evil.example/x.m3u8\njavascript%3aalert(1)//.m3u8\n%2e%2e/%2e%2e/x.ts\n"), "360p/index.m3u8")
	const sig = "exp=1700000000&sig=00ff"
	const signer = "https://s3.test/presigned/"
	f.Fuzz(func(t *testing.T, playlist []byte, at string) {
		p, ok := cleanHLSPath(at)
		if !ok {
			return
		}
		var presigned []string
		out, err := rewritePlaylist(playlist, path.Dir(p), sig, func(key string) (string, error) {
			mustSafeKey(t, key)
			presigned = append(presigned, key)
			return signer + url.PathEscape(key), nil
		})
		if err != nil {
			return
		}
		check := func(ref string) {
			if strings.TrimSpace(ref) == "" || strings.HasPrefix(ref, signer) {
				return
			}
			u, err := url.Parse(ref)
			if err != nil || u.IsAbs() || u.Host != "" || u.Opaque != "" || strings.HasPrefix(u.Path, "/") || u.RawQuery != sig {
				t.Fatalf("output reference %q is not a signed relative playlist path (playlist %q)", ref, playlist)
			}
			// Resolved against the playlist's API URL, it stays within
			// the video's playlists.
			base := &url.URL{Scheme: "https", Host: "api.test", Path: hlsPath(fuzzVideoID, p)}
			r := base.ResolveReference(u)
			if r.Host != "api.test" || !strings.HasPrefix(r.Path, hlsPath(fuzzVideoID, "")) {
				t.Fatalf("output reference %q resolves to %s (playlist %q)", ref, r, playlist)
			}
		}
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.HasPrefix(line, "#") {
				check(line)
				continue
			}
			for _, m := range uriAttr.FindAllStringSubmatch(line, -1) {
				check(m[1])
			}
		}
		if slices.ContainsFunc(presigned, func(k string) bool { return strings.HasSuffix(k, ".m3u8") }) {
			t.Fatalf("a playlist was presigned instead of served by the API: %q", presigned)
		}
	})
}

package contract_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// keyPath is the JSON path of a field that carries an object key; "[]"
// stands for the first element of an array.
type keyPath []string

func (p keyPath) field() string {
	var b strings.Builder
	for _, s := range p {
		switch {
		case s == "[]":
			b.WriteString("[0]")
		case b.Len() > 0:
			b.WriteString("." + s)
		default:
			b.WriteString(s)
		}
	}
	return b.String()
}

// keyFields lists, by reflection, every string field of t whose JSON name
// is "key" or ends in "_key": every field of an event that names an object.
func keyFields(t reflect.Type, prefix keyPath) []keyPath {
	var out []keyPath
	switch t.Kind() {
	case reflect.Pointer:
		return keyFields(t.Elem(), prefix)
	case reflect.Slice:
		return keyFields(t.Elem(), append(append(keyPath{}, prefix...), "[]"))
	case reflect.Struct:
		if t == reflect.TypeOf(time.Time{}) {
			return nil
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" {
				out = append(out, keyFields(f.Type, prefix)...)
				continue
			}
			if name == "" || name == "-" {
				continue
			}
			p := append(append(keyPath{}, prefix...), name)
			if f.Type.Kind() == reflect.String {
				if name == "key" || strings.HasSuffix(name, "_key") {
					out = append(out, p)
				}
				continue
			}
			out = append(out, keyFields(f.Type, p)...)
		}
	}
	return out
}

// setPath sets the value at p in a decoded JSON document.
func setPath(tb testing.TB, doc any, p keyPath, v string) {
	tb.Helper()
	for i, s := range p {
		last := i == len(p)-1
		switch d := doc.(type) {
		case map[string]any:
			if last {
				d[s] = v
				return
			}
			next, ok := d[s]
			if !ok {
				tb.Fatalf("sample lacks %s (the sample must carry every key field)", p.field())
			}
			doc = next
		case []any:
			if s != "[]" || len(d) == 0 {
				tb.Fatalf("bad path %s", p.field())
			}
			doc = d[0]
		default:
			tb.Fatalf("bad path %s", p.field())
		}
	}
}

// fullReady is sampleReady with the optional key fields set too.
func fullReady(id string) contract.VideoReady {
	e := sampleReady(id)
	e.Thumbnails.Sprite = &contract.Image{Key: contract.ThumbnailPrefix(id) + "sprite.jpg", Width: 800, Height: 90, Size: 7}
	e.Thumbnails.SpriteVTTKey = contract.ThumbnailPrefix(id) + "sprite.vtt"
	return e
}

// TestEveryKeyFieldIsTiedToItsVideo covers the class "an event points a
// reader at an object outside its video": for every event type and every
// field that carries an object key (found by reflection, so a new key
// field is covered the day it is added), a key of another video, of
// another area of the bucket, or one that escapes the prefix is rejected
// by Decode with a FieldError naming that field.
func TestEveryKeyFieldIsTiedToItsVideo(t *testing.T) {
	id, other := contract.NewID(), contract.NewID()
	ready := fullReady(id)
	th := contract.VideoThumbnailed{SchemaVersion: 1, Video: ready.Video, Media: ready.Media, Renditions: ready.Renditions,
		HLS: ready.HLS, DASH: ready.DASH, Thumbnails: ready.Thumbnails, TranscodedAt: ready.TranscodedAt, ThumbnailedAt: ready.ThumbnailedAt}
	tr := contract.VideoTranscoded{SchemaVersion: 1, Video: ready.Video, Media: ready.Media, Renditions: ready.Renditions,
		HLS: ready.HLS, DASH: ready.DASH, TranscodedAt: ready.TranscodedAt}
	up := contract.VideoUploaded{SchemaVersion: 1, Video: ready.Video}
	types := []struct {
		ev     contract.Event
		decode func([]byte) error
	}{
		{up, func(b []byte) error { _, err := contract.Decode[contract.VideoUploaded](b); return err }},
		{tr, func(b []byte) error { _, err := contract.Decode[contract.VideoTranscoded](b); return err }},
		{th, func(b []byte) error { _, err := contract.Decode[contract.VideoThumbnailed](b); return err }},
		{ready, func(b []byte) error { _, err := contract.Decode[contract.VideoReady](b); return err }},
	}
	hostile := map[string]string{
		"another video's source":        contract.SourceKey(other),
		"another video's rendition":     contract.RenditionKey(other, "1080p"),
		"another video's master":        contract.HLSMasterKey(other),
		"another video's thumbnail":     contract.ThumbnailPrefix(other) + "poster.jpg",
		"another video's prefix":        contract.OutputPrefix(other),
		"this id without the slash":     strings.TrimSuffix(contract.OutputPrefix(id), "/"),
		"this id as a longer name":      strings.TrimSuffix(contract.OutputPrefix(id), "/") + "0/x.mp4",
		"escape from this prefix":       contract.OutputPrefix(id) + "../" + other + "/mp4/1080p.mp4",
		"absolute":                      "/" + contract.RenditionKey(id, "1080p"),
		"a dead letter value":           contract.DeadLetterValueKey(contract.StageTranscode, contract.TopicUploaded, 0, 1),
		"the tus area":                  "tus/" + contract.SourceKey(id) + ".info",
		"a URL":                         "s3://vidpipe/" + contract.RenditionKey(id, "1080p"),
		"uppercase id":                  "videos/" + strings.ToUpper(id) + "/mp4/1080p.mp4",
		"backslash":                     contract.OutputPrefix(id) + "..\\" + other,
		"empty":                         "",
		"NUL":                           contract.OutputPrefix(id) + "a\x00b",
		"this video's source elsewhere": "uploads/" + id + "/source2",
	}
	seen := map[string]bool{}
	for _, tc := range types {
		paths := keyFields(reflect.TypeOf(tc.ev), nil)
		if len(paths) == 0 {
			t.Fatalf("%s: no key fields found", tc.ev.EventType())
		}
		good, err := contract.Encode(tc.ev)
		if err != nil {
			t.Fatalf("%s: sample invalid: %v", tc.ev.EventType(), err)
		}
		for _, p := range paths {
			seen[p.field()] = true
			for name, k := range hostile {
				optional := p.field() == "renditions[0].playlist_key" || p.field() == "thumbnails.sprite_vtt_key"
				if k == "" && optional {
					continue // optional fields may be absent
				}
				t.Run(tc.ev.EventType()+"/"+p.field()+"/"+name, func(t *testing.T) {
					var doc any
					if err := json.Unmarshal(good, &doc); err != nil {
						t.Fatal(err)
					}
					setPath(t, doc, p, k)
					b, err := json.Marshal(doc)
					if err != nil {
						t.Fatal(err)
					}
					err = tc.decode(b)
					var fe *contract.FieldError
					if !errors.As(err, &fe) || fe.Field != p.field() {
						t.Fatalf("key %q in %s: Decode = %v, want a FieldError on %s", k, p.field(), err, p.field())
					}
				})
			}
		}
	}
	// The reflection found what the contract has (a guard against a walk
	// that silently finds nothing).
	for _, f := range []string{"source.key", "renditions[0].key", "renditions[0].playlist_key", "hls.master_key",
		"thumbnails.poster.key", "thumbnails.small.key", "thumbnails.sprite.key", "thumbnails.sprite_vtt_key"} {
		if !seen[f] {
			t.Errorf("key field %s not covered", f)
		}
	}
	// The source key of an output, or an output key as the source, is
	// refused as well: each field holds its own kind of key.
	e := fullReady(id)
	e.Source.Key = contract.RenditionKey(id, "1080p")
	if err := e.Validate(); err == nil || !strings.Contains(err.Error(), "source.key") {
		t.Errorf("rendition key as the source: %v", err)
	}
	e = fullReady(id)
	e.Renditions[0].Key = contract.SourceKey(id)
	if err := e.Validate(); err == nil || !strings.Contains(err.Error(), "renditions[0].key") {
		t.Errorf("source key as a rendition: %v", err)
	}
}

func TestVideoOwnsKey(t *testing.T) {
	id, other := contract.NewID(), contract.NewID()
	for _, k := range []string{contract.SourceKey(id), contract.RenditionKey(id, "720p"), contract.HLSMasterKey(id),
		contract.HLSPrefix(id) + "720p/seg_00001.m4s", contract.ThumbnailPrefix(id) + "poster.jpg"} {
		if !contract.VideoOwnsKey(id, k) {
			t.Errorf("VideoOwnsKey(%s) = false", k)
		}
	}
	for _, k := range []string{contract.SourceKey(other), contract.RenditionKey(other, "720p"), "", "/" + contract.SourceKey(id),
		contract.OutputPrefix(id) + "../" + other + "/x", contract.DeadLetterValueKey(contract.StageIndexer, "t", 0, 0),
		strings.TrimSuffix(contract.OutputPrefix(id), "/")} {
		if contract.VideoOwnsKey(id, k) {
			t.Errorf("VideoOwnsKey(%s) = true", k)
		}
	}
	if contract.VideoOwnsKey("../x", "videos/../x/a") {
		t.Error("an invalid id owns a key")
	}
}

// TestTextRejectsInvisibleFormatting: bidi controls, other format
// characters and line separators are refused in every text field of the
// contract; joiners (emoji sequences, scripts that need them) are not.
func TestTextRejectsInvisibleFormatting(t *testing.T) {
	id := contract.NewID()
	bad := map[string]rune{"RLO": '\u202E', "LRI": '\u2066', "PDI": '\u2069', "RLM": '\u200F', "ALM": '\u061C',
		"BOM": '\uFEFF', "soft hyphen": '\u00AD', "tag char": '\U000E0041', "line separator": '\u2028',
		"paragraph separator": '\u2029', "word joiner": '\u2060'}
	fields := map[string]func(*contract.VideoReady, string){
		"title":           func(e *contract.VideoReady, s string) { e.Title = s },
		"description":     func(e *contract.VideoReady, s string) { e.Description = s },
		"tags[0]":         func(e *contract.VideoReady, s string) { e.Tags = []string{s} },
		"source.filename": func(e *contract.VideoReady, s string) { e.Source.Filename = s },
	}
	for name, r := range bad {
		for field, set := range fields {
			e := sampleReady(id)
			set(&e, "clip"+string(r)+"4pm.exe")
			var fe *contract.FieldError
			if err := e.Validate(); !errors.As(err, &fe) || fe.Field != field {
				t.Errorf("%s in %s: Validate = %v", name, field, err)
			}
		}
	}
	e := sampleReady(id)
	e.Title = "family 👨\u200d👩\u200d👧 and می\u200cخواهم"
	e.Description = "line one\nline two\ttabbed"
	if err := e.Validate(); err != nil {
		t.Errorf("joiners rejected: %v", err)
	}
}

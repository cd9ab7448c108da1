package server

import (
	"errors"
	"testing"
)

func TestParseDeadLetterID(t *testing.T) {
	for name, tc := range map[string]struct {
		in        string
		topic     string
		partition int
		offset    int64
		ok        bool
	}{
		"plain":          {"video.transcode.dlq/2/17", "video.transcode.dlq", 2, 17, true},
		"zero":           {"video.indexer.dlq/0/0", "video.indexer.dlq", 0, 0, true},
		"leading zero":   {"video.transcode.dlq/0/017", "", 0, 0, false},
		"plus sign":      {"video.transcode.dlq/+1/17", "", 0, 0, false},
		"negative":       {"video.transcode.dlq/0/-1", "", 0, 0, false},
		"no offset":      {"video.transcode.dlq/0", "", 0, 0, false},
		"no topic":       {"/0/1", "", 0, 0, false},
		"not numbers":    {"video.transcode.dlq/a/b", "", 0, 0, false},
		"empty":          {"", "", 0, 0, false},
		"slash in topic": {"a/b/1/2", "a/b", 1, 2, true},
	} {
		t.Run(name, func(t *testing.T) {
			topic, p, o, ok := parseDeadLetterID(tc.in)
			if ok != tc.ok || (ok && (topic != tc.topic || p != tc.partition || o != tc.offset)) {
				t.Fatalf("parseDeadLetterID(%q) = %q %d %d %v, want %q %d %d %v", tc.in, topic, p, o, ok, tc.topic, tc.partition, tc.offset, tc.ok)
			}
		})
	}
}

func TestRewriteSpriteVTT(t *testing.T) {
	const dir, prefix = "videos/v/thumbs", "videos/v/thumbs/"
	presign := func(key string) (string, error) { return "https://s3.example/" + key + "?X-Amz-Signature=s", nil }
	for name, tc := range map[string]struct {
		in      string
		want    string
		dropped int
	}{
		"rewritten with fragment": {
			in:   "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nsprite.jpg#xywh=0,0,160,90\n",
			want: "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nhttps://s3.example/videos/v/thumbs/sprite.jpg?X-Amz-Signature=s#xywh=0,0,160,90\n",
		},
		"cue identifier and CRLF kept": {
			in:   "WEBVTT\r\n\r\n1\r\n00:00:00.000 --> 00:00:01.000\r\n./sprite.jpg#xywh=0,0,1,1\r\n",
			want: "WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.000\nhttps://s3.example/videos/v/thumbs/sprite.jpg?X-Amz-Signature=s#xywh=0,0,1,1\n",
		},
		"another video's image dropped": {
			in:      "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n../../w/thumbs/sprite.jpg#xywh=0,0,1,1\n",
			want:    "WEBVTT\n",
			dropped: 1,
		},
		"escaped traversal dropped": {
			in:      "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n%2e%2e/%2e%2e/w/thumbs/sprite.jpg#xywh=0,0,1,1\n",
			want:    "WEBVTT\n",
			dropped: 1,
		},
		"absolute and rooted dropped": {
			in: "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nhttps://evil.example/a.jpg#xywh=0,0,1,1\n\n" +
				"00:00:01.000 --> 00:00:02.000\n/videos/v/thumbs/sprite.jpg#xywh=0,0,1,1\n\n" +
				"00:00:02.000 --> 00:00:03.000\n//evil.example/a.jpg\n",
			want:    "WEBVTT\n",
			dropped: 3,
		},
		"note with an arrow kept as is": {
			in:   "WEBVTT\n\nNOTE a --> b\nsprite.jpg\n",
			want: "WEBVTT\n\nNOTE a --> b\nsprite.jpg\n",
		},
	} {
		t.Run(name, func(t *testing.T) {
			out, dropped, err := rewriteSpriteVTT([]byte(tc.in), dir, prefix, presign)
			if err != nil || string(out) != tc.want || dropped != tc.dropped {
				t.Fatalf("got %q, dropped %d, %v\nwant %q, dropped %d", out, dropped, err, tc.want, tc.dropped)
			}
		})
	}
	boom := errors.New("storage down")
	_, _, err := rewriteSpriteVTT([]byte("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nsprite.jpg\n"), dir, prefix,
		func(string) (string, error) { return "", boom })
	if !errors.Is(err, boom) {
		t.Fatalf("presign failure: %v", err)
	}
}

package thumbnail

import (
	"strings"
	"testing"
	"time"
)

func TestVTTTime(t *testing.T) {
	tests := map[string]struct {
		d    time.Duration
		want string
	}{
		"zero":          {0, "00:00:00.000"},
		"millis":        {1234 * time.Millisecond, "00:00:01.234"},
		"minutes":       {61*time.Second + 5*time.Millisecond, "00:01:01.005"},
		"hours":         {2*time.Hour + 3*time.Minute + 4*time.Second, "02:03:04.000"},
		"sub-ms floors": {999 * time.Microsecond, "00:00:00.000"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := vttTime(tc.d); got != tc.want {
				t.Errorf("vttTime(%v) = %q, want %q", tc.d, got, tc.want)
			}
		})
	}
}

func TestWriteSpriteVTT(t *testing.T) {
	var b strings.Builder
	if err := writeSpriteVTT(&b, 10, 4, 3, 160, 90); err != nil {
		t.Fatal(err)
	}
	want := `WEBVTT

00:00:00.000 --> 00:00:02.500
sprite.jpg#xywh=0,0,160,90

00:00:02.500 --> 00:00:05.000
sprite.jpg#xywh=160,0,160,90

00:00:05.000 --> 00:00:07.500
sprite.jpg#xywh=320,0,160,90

00:00:07.500 --> 00:00:10.000
sprite.jpg#xywh=0,90,160,90
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

package thumbnail

import (
	"testing"

	"github.com/vidpipe/vidpipe/contract"
)

func TestPickRendition(t *testing.T) {
	r := func(name string, h int) contract.Rendition { return contract.Rendition{Name: name, Height: h} }
	tests := map[string]struct {
		in      []contract.Rendition
		want    string
		wantErr bool
	}{
		"smallest at least 360p": {in: []contract.Rendition{r("1080p", 1080), r("360p", 360), r("720p", 720)}, want: "360p"},
		"skips rungs below 360":  {in: []contract.Rendition{r("240p", 240), r("480p", 480), r("720p", 720)}, want: "480p"},
		"all below: the largest": {in: []contract.Rendition{r("144p", 144), r("240p", 240), r("180p", 180)}, want: "240p"},
		"single rendition":       {in: []contract.Rendition{r("src", 200)}, want: "src"},
		"ties keep the first":    {in: []contract.Rendition{r("a", 720), r("b", 720)}, want: "a"},
		"no renditions":          {in: nil, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := pickRendition(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("picked %q, want an error", got.Name)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tc.want {
				t.Errorf("picked %q, want %q", got.Name, tc.want)
			}
		})
	}
}

package devstack

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/contract"
)

// testServices are the services of the default pipeline's first three
// stages: the tests of the plan's mechanics pin them, so that a stage added
// to the table changes none of these tests.
var testServices = []string{UploadAPI, Transcode, Thumbnail, Indexer}

func TestParseScale(t *testing.T) {
	tests := map[string]struct {
		values  []string
		want    Scale
		wantErr string
	}{
		"default":               {nil, Scale{UploadAPI: 1, Transcode: 1, Thumbnail: 1, Indexer: 1}, ""},
		"one worker":            {[]string{"transcode=2"}, Scale{UploadAPI: 1, Transcode: 2, Thumbnail: 1, Indexer: 1}, ""},
		"repeated flag":         {[]string{"transcode=3", "thumbnail=2"}, Scale{UploadAPI: 1, Transcode: 3, Thumbnail: 2, Indexer: 1}, ""},
		"comma list":            {[]string{"transcode=2, indexer=0"}, Scale{UploadAPI: 1, Transcode: 2, Thumbnail: 1, Indexer: 0}, ""},
		"later wins":            {[]string{"transcode=2", "transcode=4"}, Scale{UploadAPI: 1, Transcode: 4, Thumbnail: 1, Indexer: 1}, ""},
		"api too":               {[]string{"upload-api=2"}, Scale{UploadAPI: 2, Transcode: 1, Thumbnail: 1, Indexer: 1}, ""},
		"zero leaves it out":    {[]string{"upload-api=0"}, Scale{UploadAPI: 0, Transcode: 1, Thumbnail: 1, Indexer: 1}, ""},
		"max":                   {[]string{"thumbnail=32"}, Scale{UploadAPI: 1, Transcode: 1, Thumbnail: 32, Indexer: 1}, ""},
		"unknown service":       {[]string{"ffmpeg=2"}, nil, `unknown service "ffmpeg"`},
		"no count":              {[]string{"transcode"}, nil, "want SERVICE=N"},
		"not a number":          {[]string{"transcode=two"}, nil, "copies must be a number from 0 to 32"},
		"negative":              {[]string{"transcode=-1"}, nil, "copies must be a number from 0 to 32"},
		"too many":              {[]string{"transcode=33"}, nil, "copies must be a number from 0 to 32"},
		"error names the value": {[]string{"transcode=2,thumb=1"}, nil, `--scale "thumb=1"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseScale(testServices, tc.values)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseScale(%q) = %v, %v; want an error containing %q", tc.values, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseScale(%q): %v", tc.values, err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("ParseScale(%q) = %v, want %v", tc.values, got, tc.want)
			}
		})
	}
}

func TestScaleString(t *testing.T) {
	s := Scale{Transcode: 2, UploadAPI: 1}
	want, full := "upload-api=1,transcode=2", Scale{UploadAPI: 1, Transcode: 2}
	for _, svc := range Services[2:] { // every other service of the table, at 0
		want += "," + svc + "=0"
		full[svc] = 0
	}
	if !strings.HasPrefix(want, "upload-api=1,transcode=2,thumbnail=0,indexer=0") {
		t.Fatalf("Services = %v, want upload-api, transcode, thumbnail, indexer first", Services)
	}
	if got := s.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	back, err := ParseScale([]string{s.String()})
	if err != nil || !maps.Equal(back, full) {
		t.Errorf("ParseScale(String()) = %v, %v; want the same scale", back, err)
	}
}

// TestServicesFollowPipeline: the services, their default scale and the
// children's ports come from the pipeline table; a declared stage is one
// more worker, after the others, and --scale knows it.
func TestServicesFollowPipeline(t *testing.T) {
	if want := ServicesOf(contract.DefaultPipeline()); !slices.Equal(Services, want) {
		t.Fatalf("Services = %v, want ServicesOf(DefaultPipeline) %v", Services, want)
	}
	base := contract.DefaultPipeline()
	base.Stages = base.Stages[:3] // transcode, thumbnail, indexer
	p, err := base.With(contract.StageSpec{Name: noopStage, Input: contract.TopicReady, DLQ: noopDLQ,
		Output: contract.Step{Topic: noopOutput, Type: noopType, Status: "nooped", Decode: contract.DecodeAs[contract.VideoReady]}})
	if err != nil {
		t.Fatal(err)
	}
	services := ServicesOf(p)
	if got := strings.Join(services, ","); got != "upload-api,transcode,thumbnail,indexer,noop,webhooks" {
		t.Fatalf("ServicesOf = %s", got)
	}
	s, err := parseScale(services, []string{"noop=2"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Scale{UploadAPI: 1, Transcode: 1, Thumbnail: 1, Indexer: 1, noopStage: 2, Webhooks: 1}); !maps.Equal(s, want) {
		t.Fatalf("scale = %v, want %v", s, want)
	}
	if got := s.String(); !strings.HasSuffix(got, ",noop=2") || !strings.HasPrefix(got, "upload-api=1,transcode=1,thumbnail=1,indexer=1,") {
		t.Errorf("String() = %q, want the table's services, then noop=2", got)
	}
	if _, err := ParseScale([]string{"noop=1"}); err == nil || !strings.Contains(err.Error(), `unknown service "noop"`) {
		t.Errorf("ParseScale of a stage the default pipeline lacks: %v", err)
	}
	children, err := Plan(services, s, 8080, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range children {
		names = append(names, c.Name+":"+strconv.Itoa(c.Port))
	}
	if got, want := strings.Join(names, " "), "upload-api-1:8080 transcode-1:8081 thumbnail-1:8082 indexer-1:8083 noop-1:8084 noop-2:8085 webhooks-1:8087"; got != want {
		t.Errorf("Plan = %s, want %s", got, want)
	}
	if children[0].OpsPort != 8086 {
		t.Errorf("upload-api ops port = %d, want 8086 (after the workers)", children[0].OpsPort)
	}
}

package devstack

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The services of the pipeline, each built from ./<name>/cmd/<name> of the
// repository.
const (
	UploadAPI = "upload-api"
	Transcode = "transcode"
	Thumbnail = "thumbnail"
	Indexer   = "indexer"
)

// Services lists the services in the order they are started and given
// ports: upload-api, then the workers in pipeline order.
var Services = []string{UploadAPI, Transcode, Thumbnail, Indexer}

// MaxCopies bounds the copies of one service.
const MaxCopies = 32

// Scale is the number of copies of each service; a service that is
// missing or 0 does not run.
type Scale map[string]int

// DefaultScale runs one copy of each service.
func DefaultScale() Scale {
	s := Scale{}
	for _, svc := range Services {
		s[svc] = 1
	}
	return s
}

// ParseScale applies values of --scale, in order, to DefaultScale. Each
// value is SERVICE=N or a comma-separated list of them
// ("transcode=2,thumbnail=0"); a later value for a service wins. N is
// 0..MaxCopies; 0 leaves the service out.
func ParseScale(values []string) (Scale, error) {
	s := DefaultScale()
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			name, count, ok := strings.Cut(item, "=")
			if !ok {
				return nil, fmt.Errorf("--scale %q: want SERVICE=N, e.g. transcode=2", item)
			}
			name = strings.TrimSpace(name)
			if !slices.Contains(Services, name) {
				return nil, fmt.Errorf("--scale %q: unknown service %q (want one of %s)", item, name, strings.Join(Services, ", "))
			}
			n, err := strconv.Atoi(strings.TrimSpace(count))
			if err != nil || n < 0 || n > MaxCopies {
				return nil, fmt.Errorf("--scale %q: copies must be a number from 0 to %d", item, MaxCopies)
			}
			s[name] = n
		}
	}
	return s, nil
}

// String is the scale as --scale would take it, in Services order:
// "upload-api=1,transcode=2,thumbnail=1,indexer=1".
func (s Scale) String() string {
	parts := make([]string, 0, len(Services))
	for _, svc := range Services {
		parts = append(parts, fmt.Sprintf("%s=%d", svc, s[svc]))
	}
	return strings.Join(parts, ",")
}

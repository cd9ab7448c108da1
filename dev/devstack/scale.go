package devstack

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vidpipe/vidpipe/contract"
)

// UploadAPI is the API service; every other service is a stage of the
// pipeline table, built from ./services/NAME/cmd/NAME of the repository
// (see PackagePath and Options.Packages).
const UploadAPI = "upload-api"

// The stages of contract.DefaultPipeline, by name.
const (
	Transcode = string(contract.StageTranscode)
	Thumbnail = string(contract.StageThumbnail)
	Indexer   = string(contract.StageIndexer)
)

// Webhooks is the webhooks service (services/webhooks): no stage of the
// pipeline, it runs beside the stages and gets its port after the API's
// operations ports (see Plan).
const Webhooks = string(contract.StageWebhooks)

// ServicesOf lists the services that run pipeline p, in the order they are
// started: upload-api, then p's stages in pipeline order, then webhooks.
func ServicesOf(p contract.Pipeline) []string {
	out := []string{UploadAPI}
	for _, s := range p.StageNames() {
		out = append(out, string(s))
	}
	return append(out, Webhooks)
}

// Services lists the services of contract.DefaultPipeline (ServicesOf).
var Services = ServicesOf(contract.DefaultPipeline())

// MaxCopies bounds the copies of one service.
const MaxCopies = 32

// Scale is the number of copies of each service; a service that is
// missing or 0 does not run.
type Scale map[string]int

// DefaultScale runs one copy of each of Services.
func DefaultScale() Scale { return scaleOf(Services) }

// scaleOf runs one copy of each of services.
func scaleOf(services []string) Scale {
	s := Scale{}
	for _, svc := range services {
		s[svc] = 1
	}
	return s
}

// ParseScale applies values of --scale, in order, to DefaultScale. Each
// value is SERVICE=N or a comma-separated list of them
// ("transcode=2,thumbnail=0"); a later value for a service wins. N is
// 0..MaxCopies; 0 leaves the service out.
func ParseScale(values []string) (Scale, error) { return parseScale(Services, values) }

// parseScale is ParseScale for the given services.
func parseScale(services []string, values []string) (Scale, error) {
	s := scaleOf(services)
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
			if !slices.Contains(services, name) {
				return nil, fmt.Errorf("--scale %q: unknown service %q (want one of %s)", item, name, strings.Join(services, ", "))
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

// String is the scale as --scale would take it, in Services order, then
// any other service of s by name:
// "upload-api=1,transcode=2,thumbnail=1,indexer=1".
func (s Scale) String() string {
	parts := make([]string, 0, len(s))
	for _, svc := range Services {
		parts = append(parts, fmt.Sprintf("%s=%d", svc, s[svc]))
	}
	var other []string
	for svc := range s {
		if !slices.Contains(Services, svc) {
			other = append(other, svc)
		}
	}
	slices.Sort(other)
	for _, svc := range other {
		parts = append(parts, fmt.Sprintf("%s=%d", svc, s[svc]))
	}
	return strings.Join(parts, ",")
}

// Package configkeys lists the VIDPIPE_* environment variables each vidpipe
// binary reads, computed from the services' own Config types with
// config.Keys, and loads a binary's configuration from a given environment
// with the services' own loader. The deploy checks thus follow the code: a
// key renamed in a service makes a stale variable in docker-compose.yml or
// a Kubernetes manifest fail the tests instead of being silently ignored
// (config.Load ignores variables it does not know), and a value the
// service would reject (a duration without unit, a short token) fails too.
package configkeys

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/services/indexer"
	"github.com/vidpipe/vidpipe/services/thumbnail"
	"github.com/vidpipe/vidpipe/services/transcode"
	uploadapi "github.com/vidpipe/vidpipe/services/upload-api"
)

// Binaries are the programs the deploy images run, by image target name
// (deploy/Dockerfile --target) which is also the binary name: upload-api,
// the stages of [contract.DefaultPipeline] in order, then vidpipectl.
var Binaries = BinariesOf(contract.DefaultPipeline())

// Services lists the long-running binaries of p, each with a Config:
// upload-api, then p's stages in order (a stage's binary is its name).
func Services(p contract.Pipeline) []string {
	out := []string{"upload-api"}
	for _, s := range p.StageNames() {
		out = append(out, string(s))
	}
	return out
}

// BinariesOf lists every binary an image of p runs: [Services], then the
// admin CLI vidpipectl.
func BinariesOf(p contract.Pipeline) []string { return append(Services(p), "vidpipectl") }

// configs maps each service binary to a constructor of its Config. The
// Config types cannot be derived from the pipeline table: a new stage
// registers its own here (the deploy checks fail naming a stage that has
// none), and the configuration reference (deploy/configref) follows.
var configs = map[string]func() any{
	"upload-api": func() any { return new(uploadapi.Config) },
	"transcode":  func() any { return new(transcode.Config) },
	"thumbnail":  func() any { return new(thumbnail.Config) },
	"indexer":    func() any { return new(indexer.Config) },
}

// New returns a new zero Config of the service binary (a pointer to the
// service's Config type), or false when none is registered.
func New(binary string) (any, bool) {
	newCfg, ok := configs[binary]
	if !ok {
		return nil, false
	}
	return newCfg(), true
}

// Known returns the VIDPIPE_* variables binary reads, each with its
// config.Key. vidpipectl has no Config: it reads only kafka.brokers from
// the environment (the default of its --brokers flag); every other setting
// of it is a flag.
func Known(binary string) (map[string]config.Key, error) {
	if binary == "vidpipectl" {
		name := "kafka.brokers"
		return map[string]config.Key{config.EnvName(name): {Name: name, Env: config.EnvName(name)}}, nil
	}
	cfg, ok := New(binary)
	if !ok && slices.Contains(Binaries, binary) {
		return nil, fmt.Errorf("vidpipe binary %q has no Config registered in deploy/configkeys (configs)", binary)
	}
	if !ok {
		return nil, fmt.Errorf("unknown vidpipe binary %q (known: %s)", binary, strings.Join(Binaries, ", "))
	}
	out := map[string]config.Key{}
	for _, k := range config.Keys(cfg) {
		out[k.Env] = k
	}
	return out, nil
}

// Check returns one error per VIDPIPE_* variable of env that binary does
// not read, naming where (e.g. "docker-compose.yml service transcode").
// Variables without the VIDPIPE_ prefix are not vidpipe's and pass.
func Check(binary, where string, env []string) []error {
	known, err := Known(binary)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", where, err)}
	}
	var errs []error
	for _, name := range env {
		if !strings.HasPrefix(name, config.EnvPrefix+"_") {
			continue
		}
		if _, ok := known[name]; !ok {
			errs = append(errs, fmt.Errorf("%s: %s is not a configuration key of %s (known: %s)",
				where, name, binary, strings.Join(slices.Sorted(maps.Keys(known)), ", ")))
		}
	}
	return errs
}

// Load loads binary's configuration the way the binary does at start
// (config.Load: defaults, then env, then validation), with env as the whole
// environment and no flags, and returns the decoded Config (a pointer to
// the service's Config type). vidpipectl has no Config and is an error.
// config.Load also reads ./vidpipe.yaml if the working directory has one;
// callers run where there is none.
func Load(binary string, env map[string]string) (any, error) {
	cfg, ok := New(binary)
	if !ok {
		return nil, fmt.Errorf("no configuration loader for %q (services: %s)", binary, strings.Join(Services(contract.DefaultPipeline()), ", "))
	}
	getenv := func(name string) string { return env[name] }
	if err := config.Load(binary, nil, getenv, cfg); err != nil {
		return nil, fmt.Errorf("load %s configuration: %w", binary, err)
	}
	return cfg, nil
}

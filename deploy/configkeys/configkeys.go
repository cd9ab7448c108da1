// Package configkeys lists the VIDPIPE_* environment variables each vidpipe
// binary reads and loads a binary's configuration from a given
// environment, by asking the built binary itself: `BINARY
// --config-reference` prints its keys and `BINARY --config-check` loads
// and validates its configuration (platform/config handles both flags in
// config.Load). deploy thus imports no service: a new stage's binary
// describes itself. The deploy checks follow the code: a key renamed in a
// service makes a stale variable in docker-compose.yml or a Kubernetes
// manifest fail the tests instead of being silently ignored (config.Load
// ignores variables it does not know), and a value the service would
// reject (a duration without unit, a short token) fails too.
package configkeys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/launch"
	"github.com/vidpipe/vidpipe/platform/config"
)

// Binaries are the programs the deploy images run, by binary name:
// upload-api, the stages of [contract.DefaultPipeline] in order, webhooks,
// then vidpipectl.
var Binaries = BinariesOf(contract.DefaultPipeline())

// Services lists the long-running binaries of p: upload-api, then p's
// stages in order (a stage's binary is its name), then webhooks (the
// webhook deliveries, services/webhooks).
func Services(p contract.Pipeline) []string {
	out := []string{"upload-api"}
	for _, s := range p.StageNames() {
		out = append(out, string(s))
	}
	return append(out, Webhooks)
}

// Webhooks is the binary of the webhooks service.
const Webhooks = string(contract.StageWebhooks)

// BinariesOf lists every binary an image of p runs: [Services], then the
// admin CLI vidpipectl.
func BinariesOf(p contract.Pipeline) []string { return append(Services(p), "vidpipectl") }

// MainPackage is the directory of binary's main package, relative to the
// repository root: platform/cmd/vidpipectl for vidpipectl,
// services/NAME/cmd/NAME for upload-api, every stage and webhooks.
func MainPackage(binary string) string {
	if binary == "vidpipectl" {
		return "platform/cmd/vidpipectl"
	}
	return "services/" + binary + "/cmd/" + binary
}

// runTimeout bounds one run of a binary with --config-reference or
// --config-check: both print and exit at once, so a binary still running
// after it ignored the flag and started.
const runTimeout = 30 * time.Second

// Dir is a directory of built vidpipe binaries, each file named as its
// binary (go build -o DIR/ names a binary after its package directory).
type Dir string

// Build compiles the main packages (directories relative to root, the
// repository root: the go.work workspace) into dir as the image's builder
// does (CGO_ENABLED=0, -trimpath: launch.BuildStatic), and returns dir.
func Build(ctx context.Context, root, dir string, packages ...string) (Dir, error) {
	pkgs := make([]string, len(packages))
	for i, p := range packages {
		pkgs[i] = "./" + filepath.ToSlash(p)
	}
	if err := launch.BuildStatic(ctx, root, dir, nil, pkgs...); err != nil {
		return "", err
	}
	return Dir(dir), nil
}

// run runs binary from d with args and exactly env (nothing of this
// process's environment), in d (where no vidpipe.yaml is), and returns its
// standard output; a failure is an error holding its standard error.
func (d Dir) run(ctx context.Context, binary string, env map[string]string, args ...string) ([]byte, error) {
	path := filepath.Join(string(d), binary)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s is not built: %w", binary, err)
	}
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = string(d)
	cmd.Env = []string{}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s %s did not exit within %s: does it pass config.ErrHelp up as success?", binary, strings.Join(args, " "), runTimeout)
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		msg = strings.TrimPrefix(msg, binary+": ") // the mains prefix their error with their name
		if msg == "" {
			return nil, err
		}
		return nil, errors.New(msg)
	}
	return out, nil
}

// Reference returns binary's description of its configuration: what
// `binary --config-reference` prints. It fails for a binary of d that does
// not describe its configuration (it does not load it with config.Load,
// or does not return on config.ErrHelp).
func (d Dir) Reference(ctx context.Context, binary string) (config.Reference, error) {
	out, err := d.run(ctx, binary, nil, "--"+config.ReferenceFlag)
	var ref config.Reference
	if err == nil {
		err = json.Unmarshal(out, &ref)
	}
	if err == nil && len(ref.Keys) == 0 {
		err = errors.New("it printed no key")
	}
	if err != nil {
		return config.Reference{}, fmt.Errorf("%s --%s: %w", binary, config.ReferenceFlag, err)
	}
	return ref, nil
}

// Known returns the VIDPIPE_* variables binary reads, each with its
// config.Key, from its --config-reference. binary must be one of
// [Binaries].
func (d Dir) Known(ctx context.Context, binary string) (map[string]config.Key, error) {
	if !slices.Contains(Binaries, binary) {
		return nil, fmt.Errorf("unknown vidpipe binary %q (known: %s)", binary, strings.Join(Binaries, ", "))
	}
	ref, err := d.Reference(ctx, binary)
	if err != nil {
		return nil, fmt.Errorf("vidpipe binary %q does not describe its configuration: %w", binary, err)
	}
	out := map[string]config.Key{}
	for _, k := range ref.Keys {
		out[k.Env] = k
	}
	return out, nil
}

// Check returns one error per VIDPIPE_* variable of env that binary does
// not read, naming where (e.g. "docker-compose.yml service transcode").
// Variables without the VIDPIPE_ prefix are not vidpipe's and pass.
func (d Dir) Check(ctx context.Context, binary, where string, env []string) []error {
	known, err := d.Known(ctx, binary)
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
// (config.Load: defaults, then env, then validation), with env as the
// whole environment and no flags or file, by running `binary
// --config-check`, and returns the values it would run with, by key, in
// the syntax of their environment variables (config.Checked: durations
// "30s", secrets redacted). An invalid configuration is an error naming
// the key, as the binary reports it.
func (d Dir) Load(ctx context.Context, binary string, env map[string]string) (map[string]string, error) {
	out, err := d.run(ctx, binary, env, "--"+config.CheckFlag)
	if err != nil {
		return nil, fmt.Errorf("load %s configuration: %w", binary, err)
	}
	var c config.Checked
	if err := json.Unmarshal(out, &c); err != nil || len(c.Values) == 0 {
		return nil, fmt.Errorf("load %s configuration: %s --%s printed no values (%v)", binary, binary, config.CheckFlag, err)
	}
	return c.Values, nil
}

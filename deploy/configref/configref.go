// Package configref renders the configuration reference (docs/configuration.md)
// from the services' own Config types, so the documentation lists exactly the
// keys, environment variables and defaults the code reads.
package configref

import (
	"fmt"
	"strings"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/deploy/configkeys"
	"github.com/vidpipe/vidpipe/platform/config"
)

// Services lists the services the reference documents, in its order:
// upload-api, then the stages of [contract.DefaultPipeline]
// ([configkeys.Services]). Their Config types come from configkeys.
func Services() []string { return configkeys.Services(contract.DefaultPipeline()) }

// Path is where the reference lives, relative to the repository root.
const Path = "docs/configuration.md"

// Markdown returns the whole reference. It fails naming a service of
// [Services] whose Config is not registered in deploy/configkeys.
func Markdown() (string, error) {
	var b strings.Builder
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("Generated from the services' Config types by `make docs` (deploy/cmd/configref); a test fails when it is stale.\n\n")
	b.WriteString("Every service reads, in increasing precedence: the defaults below, a YAML file (`--config FILE`, else `./vidpipe.yaml` if present), ")
	b.WriteString("environment variables, then flags `--section.key=value`. Lists are comma-separated, maps are `k=v,k2=v2`, durations take a unit (`500ms`, `2m`, `1h`). ")
	b.WriteString("`<service> -h` prints the same list. Secrets (marked 🔒) are never logged.\n\n")
	for _, name := range Services() {
		cfg, ok := configkeys.New(name)
		if !ok {
			return "", fmt.Errorf("configref: service %q has no Config registered in deploy/configkeys/configkeys.go (configs)", name)
		}
		fmt.Fprintf(&b, "## %s\n\n", name)
		b.WriteString("| key | environment | default | meaning |\n|---|---|---|---|\n")
		for _, k := range config.Keys(cfg) {
			def := k.Default
			if def == "" {
				def = "—"
			} else {
				def = "`" + def + "`"
			}
			desc := k.Description
			if k.Secret {
				desc += " 🔒"
			}
			fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", k.Name, k.Env, def, strings.ReplaceAll(desc, "|", "\\|"))
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}

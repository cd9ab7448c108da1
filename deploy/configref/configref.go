// Package configref renders the configuration reference (docs/configuration.md)
// from the services' own Config types, so the documentation lists exactly the
// keys, environment variables and defaults the code reads.
package configref

import (
	"fmt"
	"strings"

	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/services/indexer"
	"github.com/vidpipe/vidpipe/services/thumbnail"
	"github.com/vidpipe/vidpipe/services/transcode"
	uploadapi "github.com/vidpipe/vidpipe/services/upload-api"
)

// services in documentation order.
var services = []struct {
	name string
	cfg  any
}{
	{"upload-api", uploadapi.Config{}},
	{"transcode", transcode.Config{}},
	{"thumbnail", thumbnail.Config{}},
	{"indexer", indexer.Config{}},
}

// Path is where the reference lives, relative to the repository root.
const Path = "docs/configuration.md"

// Markdown returns the whole reference.
func Markdown() string {
	var b strings.Builder
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("Generated from the services' Config types by `make docs` (deploy/cmd/configref); a test fails when it is stale.\n\n")
	b.WriteString("Every service reads, in increasing precedence: the defaults below, a YAML file (`--config FILE`, else `./vidpipe.yaml` if present), ")
	b.WriteString("environment variables, then flags `--section.key=value`. Lists are comma-separated, maps are `k=v,k2=v2`, durations take a unit (`500ms`, `2m`, `1h`). ")
	b.WriteString("`<service> -h` prints the same list. Secrets (marked 🔒) are never logged.\n\n")
	for _, s := range services {
		fmt.Fprintf(&b, "## %s\n\n", s.name)
		b.WriteString("| key | environment | default | meaning |\n|---|---|---|---|\n")
		for _, k := range config.Keys(s.cfg) {
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
	return b.String()
}

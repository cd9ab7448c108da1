// Package configref renders the configuration reference (docs/configuration.md)
// from what each service binary prints with --config-reference (its Config
// type, read by platform/config), so the documentation lists exactly the
// keys, environment variables and defaults the code reads. deploy imports
// no service: the binaries are built (configkeys.Build) and asked.
package configref

import (
	"context"
	"fmt"
	"strings"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/deploy/configkeys"
	"github.com/vidpipe/vidpipe/platform/config"
)

// Services lists the services the reference documents, in its order:
// upload-api, then the stages of [contract.DefaultPipeline]
// ([configkeys.Services]).
func Services() []string { return configkeys.Services(contract.DefaultPipeline()) }

// Path is where the reference lives, relative to the repository root.
const Path = "docs/configuration.md"

// Build compiles the main package of every service of [Services] into dir
// (configkeys.Build); root is the repository root.
func Build(ctx context.Context, root, dir string) (configkeys.Dir, error) {
	var pkgs []string
	for _, s := range Services() {
		pkgs = append(pkgs, configkeys.MainPackage(s))
	}
	return configkeys.Build(ctx, root, dir, pkgs...)
}

// References returns the description of each service of [Services], in
// order, from its binary in bins. It fails naming a service whose binary
// does not describe its configuration.
func References(ctx context.Context, bins configkeys.Dir) ([]config.Reference, error) {
	var refs []config.Reference
	for _, name := range Services() {
		ref, err := bins.Reference(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("configref: service %q does not describe its configuration (%w): its main package (%s) must load it with config.Load (platform/config)",
				name, err, configkeys.MainPackage(name))
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// Markdown returns the whole reference for the services' descriptions
// refs, one section per service in the order given.
func Markdown(refs []config.Reference) string {
	var b strings.Builder
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("Generated from the services' Config types by `make docs` (deploy/cmd/configref); a test fails when it is stale.\n\n")
	b.WriteString("Every service reads, in increasing precedence: the defaults below, a YAML file (`--config FILE`, else `./vidpipe.yaml` if present), ")
	b.WriteString("environment variables, then flags `--section.key=value`. Lists are comma-separated, maps are `k=v,k2=v2`, durations take a unit (`500ms`, `2m`, `1h`). ")
	b.WriteString("`<service> -h` prints the same list. Secrets (marked 🔒) are never logged.\n\n")
	for _, ref := range refs {
		fmt.Fprintf(&b, "## %s\n\n", ref.Service)
		b.WriteString("| key | environment | default | meaning |\n|---|---|---|---|\n")
		for _, k := range ref.Keys {
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

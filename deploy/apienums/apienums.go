// Package apienums rewrites the enums of upload-api's OpenAPI description
// (services/upload-api/server/openapi.yaml) that come from the pipeline
// table: the statuses a video can have and the stages it can fail in. YAML
// cannot read the table, so `make docs` (deploy/cmd/apienums) writes them,
// and upload-api's TestOpenAPIStatusesMatchPipeline fails when they are
// stale. Only the enums' own flow sequences are rewritten: every other
// byte of the file (comments, layout, the rest of the document) is kept.
package apienums

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vidpipe/vidpipe/contract"
)

// Path is the OpenAPI description, relative to the repository root.
const Path = "services/upload-api/server/openapi.yaml"

// Enum is one enum of the document the table determines.
type Enum struct {
	// Path is the keys from the document's root to the enum, dot-separated.
	Path string
	// Values are the enum's values, in the table's order.
	Values []string
}

// Enums returns the enums of the document that p determines:
// Accepted.status is the entry step's status; Video.status every status
// of p, then failed; Video.failure.stage every stage name of p.
func Enums(p contract.Pipeline) []Enum {
	var stages []string
	for _, s := range p.StageNames() {
		stages = append(stages, string(s))
	}
	return []Enum{
		{Path: "components.schemas.Accepted.properties.status.enum", Values: []string{p.Entry.Status}},
		{Path: "components.schemas.Video.properties.status.enum", Values: append(p.Statuses(), contract.StatusFailed)},
		{Path: "components.schemas.Video.properties.failure.properties.stage.enum", Values: stages},
	}
}

// Rewrite returns doc with each enum of [Enums](p) set to its values. Each
// enum must be a flow sequence on one line ("enum: [a, b]"); its brackets
// and what lies between them are replaced, nothing else. It fails naming
// an enum that is missing or not written that way.
func Rewrite(doc []byte, p contract.Pipeline) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("apienums: parse %s: %w", Path, err)
	}
	lines := bytes.SplitAfter(doc, []byte("\n"))
	for _, e := range Enums(p) {
		n, err := find(&root, e.Path)
		if err != nil {
			return nil, err
		}
		if n.Kind != yaml.SequenceNode || n.Style&yaml.FlowStyle == 0 {
			return nil, fmt.Errorf("apienums: %s: %s must be a flow sequence [a, b] on one line", Path, e.Path)
		}
		line := lines[n.Line-1]
		start := n.Column - 1 // 1-based column of "["
		if start >= len(line) || line[start] != '[' {
			return nil, fmt.Errorf("apienums: %s:%d: %s: no [ at column %d", Path, n.Line, e.Path, n.Column)
		}
		end := bytes.IndexByte(line[start:], ']')
		if end < 0 {
			return nil, fmt.Errorf("apienums: %s:%d: %s must be a flow sequence [a, b] on one line", Path, n.Line, e.Path)
		}
		var b bytes.Buffer
		b.Write(line[:start])
		b.WriteString("[" + strings.Join(e.Values, ", ") + "]")
		b.Write(line[start+end+1:])
		lines[n.Line-1] = b.Bytes()
	}
	out := bytes.Join(lines, nil)
	// The result must still parse, with the values in place.
	if err := Check(out, p); err != nil {
		return nil, fmt.Errorf("apienums: the rewritten document: %w", err)
	}
	return out, nil
}

// Check reports, one error per enum, where doc's enums differ from
// [Enums](p).
func Check(doc []byte, p contract.Pipeline) error {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return fmt.Errorf("parse %s: %w", Path, err)
	}
	var errs []error
	for _, e := range Enums(p) {
		n, err := find(&root, e.Path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var got []string
		if err := n.Decode(&got); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", Path, e.Path, err))
			continue
		}
		if strings.Join(got, "\x00") != strings.Join(e.Values, "\x00") {
			errs = append(errs, fmt.Errorf("%s: %s is %v, want %v", Path, e.Path, got, e.Values))
		}
	}
	return errors.Join(errs...)
}

// find returns the node at the dot-separated path of mapping keys.
func find(root *yaml.Node, path string) (*yaml.Node, error) {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	for _, key := range strings.Split(path, ".") {
		if n.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("apienums: %s: %s: %q is not under a mapping", Path, path, key)
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				break
			}
		}
		if next == nil {
			return nil, fmt.Errorf("apienums: %s has no %s (missing %q)", Path, path, key)
		}
		n = next
	}
	return n, nil
}

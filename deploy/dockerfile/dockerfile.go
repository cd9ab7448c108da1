// Package dockerfile reads the parts of a multi-stage Dockerfile that the
// deploy checks need: stages with their names and bases, and each stage's
// instructions (ENV, USER, HEALTHCHECK, ENTRYPOINT, ...). It is not a full
// BuildKit parser: it joins continuation lines, drops comments and splits
// instructions, which is all a plain Dockerfile without heredocs needs.
package dockerfile

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Instruction is one Dockerfile instruction.
type Instruction struct {
	// Cmd is the instruction upper-cased: FROM, ENV, RUN, ...
	Cmd string
	// Args is the rest of the instruction, continuation lines joined with
	// a space.
	Args string
	// Line is the 1-based line where the instruction starts.
	Line int
}

// Stage is one FROM block.
type Stage struct {
	// Name is the stage name after AS, lower-cased; "" for an unnamed stage.
	Name string
	// From is the base: an image reference, with global ARG defaults
	// substituted (other $VARs kept as written), or the name of an earlier
	// stage (lower-cased then).
	From string
	// Instructions are the stage's instructions after FROM, in order.
	Instructions []Instruction
}

// File is a parsed Dockerfile.
type File struct {
	Stages []*Stage
}

// Parse reads a Dockerfile. It fails on an instruction before the first
// FROM (other than ARG), a FROM without an image, and duplicate stage names.
func Parse(r io.Reader) (*File, error) {
	var (
		f       File
		cur     *Stage
		pending strings.Builder // continuation lines joined so far
		start   int             // line of the pending instruction
		lineNo  int
		globals = map[string]string{} // global ARG defaults, usable in FROM
	)
	flush := func() error {
		text := strings.TrimSpace(pending.String())
		pending.Reset()
		if text == "" {
			return nil
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := Instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start}
		if in.Cmd == "FROM" {
			in.Args = os.Expand(in.Args, func(name string) string {
				name, def, hasDef := strings.Cut(name, ":-")
				if v, ok := globals[name]; ok && v != "" {
					return v
				}
				if hasDef {
					return def
				}
				return "${" + name + "}" // build-time or undeclared: keep as written
			})
			st, err := parseFrom(in)
			if err != nil {
				return err
			}
			if st.Name != "" {
				if _, dup := f.Stage(st.Name); dup {
					return fmt.Errorf("line %d: stage %q defined twice", in.Line, st.Name)
				}
			}
			if _, ok := f.Stage(strings.ToLower(st.From)); ok {
				st.From = strings.ToLower(st.From)
			}
			f.Stages = append(f.Stages, st)
			cur = st
			return nil
		}
		if cur == nil {
			if in.Cmd == "ARG" {
				name, def, _ := strings.Cut(in.Args, "=")
				globals[strings.TrimSpace(name)] = strings.Trim(strings.TrimSpace(def), `"'`)
				return nil
			}
			return fmt.Errorf("line %d: %s before the first FROM", in.Line, in.Cmd)
		}
		cur.Instructions = append(cur.Instructions, in)
		return nil
	}

	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue // comment (or parser directive), also inside continuations
		}
		if pending.Len() == 0 {
			if trimmed == "" {
				continue
			}
			start = lineNo
		}
		if body, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), "\\"); ok {
			pending.WriteString(strings.TrimSpace(body))
			pending.WriteByte(' ')
			continue
		}
		pending.WriteString(trimmed)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read Dockerfile: %w", err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(f.Stages) == 0 {
		return nil, errors.New("no FROM instruction")
	}
	return &f, nil
}

// parseFrom reads FROM [--platform=...] image [AS name].
func parseFrom(in Instruction) (*Stage, error) {
	var words []string
	for _, w := range strings.Fields(in.Args) {
		if strings.HasPrefix(w, "--") {
			continue // flags such as --platform
		}
		words = append(words, w)
	}
	switch {
	case len(words) == 1:
		return &Stage{From: words[0]}, nil
	case len(words) == 3 && strings.EqualFold(words[1], "AS"):
		return &Stage{From: words[0], Name: strings.ToLower(words[2])}, nil
	}
	return nil, fmt.Errorf("line %d: want FROM image [AS name], got FROM %s", in.Line, in.Args)
}

// Stage returns the stage called name (case-insensitive).
func (f *File) Stage(name string) (*Stage, bool) {
	name = strings.ToLower(name)
	for _, s := range f.Stages {
		if name != "" && s.Name == name {
			return s, true
		}
	}
	return nil, false
}

// Targets lists the names of the named stages, in file order: the values
// `docker build --target` accepts.
func (f *File) Targets() []string {
	var out []string
	for _, s := range f.Stages {
		if s.Name != "" {
			out = append(out, s.Name)
		}
	}
	return out
}

// Chain returns target and the stages it is built FROM, nearest first,
// ending with the stage whose base is an external image.
func (f *File) Chain(target string) ([]*Stage, error) {
	s, ok := f.Stage(target)
	if !ok {
		return nil, fmt.Errorf("no stage %q (stages: %s)", target, strings.Join(f.Targets(), ", "))
	}
	chain := []*Stage{s}
	for {
		base, ok := f.Stage(s.From)
		if !ok {
			return chain, nil
		}
		if len(chain) > len(f.Stages) {
			return nil, fmt.Errorf("stage %q: FROM cycle", target)
		}
		chain = append(chain, base)
		s = base
	}
}

// BaseImage is the external image target is ultimately built from.
func (f *File) BaseImage(target string) (string, error) {
	chain, err := f.Chain(target)
	if err != nil {
		return "", err
	}
	return chain[len(chain)-1].From, nil
}

// Last returns the instruction cmd that is in effect for target: the last
// one in target itself, else in the nearest stage it is built from (how
// USER, ENTRYPOINT, HEALTHCHECK, WORKDIR are inherited).
func (f *File) Last(target, cmd string) (Instruction, bool, error) {
	chain, err := f.Chain(target)
	if err != nil {
		return Instruction{}, false, err
	}
	cmd = strings.ToUpper(cmd)
	for _, s := range chain {
		for i := len(s.Instructions) - 1; i >= 0; i-- {
			if s.Instructions[i].Cmd == cmd {
				return s.Instructions[i], true, nil
			}
		}
	}
	return Instruction{}, false, nil
}

// All returns every instruction cmd of target and the stages it is built
// from, outermost base first (the order in which they take effect).
func (f *File) All(target, cmd string) ([]Instruction, error) {
	chain, err := f.Chain(target)
	if err != nil {
		return nil, err
	}
	cmd = strings.ToUpper(cmd)
	var out []Instruction
	for i := len(chain) - 1; i >= 0; i-- {
		for _, in := range chain[i].Instructions {
			if in.Cmd == cmd {
				out = append(out, in)
			}
		}
	}
	return out, nil
}

// Env returns the environment target's image starts with, as far as this
// Dockerfile sets it: every ENV of target and of the stages it is built
// from (a later ENV wins). Values are unquoted; $VAR references are kept
// as written.
func (f *File) Env(target string) (map[string]string, error) {
	envs, err := f.All(target, "ENV")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, in := range envs {
		pairs, err := ParseEnv(in.Args)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", in.Line, err)
		}
		for _, p := range pairs {
			out[p[0]] = p[1]
		}
	}
	return out, nil
}

// ParseEnv splits the arguments of an ENV instruction into key/value pairs:
// KEY=VALUE KEY2="VALUE 2" (values may be double- or single-quoted), or the
// legacy form KEY VALUE WITH SPACES.
func ParseEnv(args string) ([][2]string, error) {
	args = strings.TrimSpace(args)
	first, rest, _ := strings.Cut(args, " ")
	if first == "" {
		return nil, errors.New("ENV without a variable")
	}
	if !strings.Contains(first, "=") {
		return [][2]string{{first, strings.TrimSpace(rest)}}, nil
	}
	words, err := splitWords(args)
	if err != nil {
		return nil, err
	}
	out := make([][2]string, 0, len(words))
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("ENV %q is not KEY=VALUE", w)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// splitWords splits s on unquoted white space and removes the quotes.
func splitWords(s string) ([]string, error) {
	var (
		out   []string
		word  strings.Builder
		quote rune
		in    bool // inside a word
	)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out = append(out, word.String())
				word.Reset()
				in = false
			}
		default:
			word.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, s)
	}
	if in {
		out = append(out, word.String())
	}
	return out, nil
}

// ExecForm parses the JSON-array ("exec") form of ENTRYPOINT, CMD or
// HEALTHCHECK CMD arguments: ["a", "b"]. ok is false for the shell form.
func ExecForm(args string) (argv []string, ok bool) {
	args = strings.TrimSpace(args)
	if !strings.HasPrefix(args, "[") {
		return nil, false
	}
	if err := json.Unmarshal([]byte(args), &argv); err != nil {
		return nil, false
	}
	return argv, true
}

// Healthcheck splits the arguments of a HEALTHCHECK instruction into its
// options (--interval=10s ... as name → value) and the command (exec form
// required). HEALTHCHECK NONE returns no options and a nil command.
func Healthcheck(args string) (opts map[string]string, argv []string, err error) {
	opts = map[string]string{}
	rest := strings.TrimSpace(args)
	if strings.EqualFold(rest, "NONE") {
		return opts, nil, nil
	}
	for strings.HasPrefix(rest, "--") {
		var opt string
		opt, rest, _ = strings.Cut(rest, " ")
		rest = strings.TrimSpace(rest)
		k, v, ok := strings.Cut(strings.TrimPrefix(opt, "--"), "=")
		if !ok {
			return nil, nil, fmt.Errorf("HEALTHCHECK option %q: want --name=value", opt)
		}
		opts[k] = v
	}
	cmd, rest, _ := strings.Cut(rest, " ")
	if !strings.EqualFold(cmd, "CMD") {
		return nil, nil, fmt.Errorf("HEALTHCHECK %q: want [--options] CMD [...] or NONE", args)
	}
	argv, ok := ExecForm(rest)
	if !ok {
		return nil, nil, fmt.Errorf("HEALTHCHECK CMD %s: want the exec form [\"binary\", \"arg\"] (images may have no shell)", rest)
	}
	return opts, argv, nil
}

// Args returns the build arguments the stage declares (ARG NAME[=default])
// as name → default ("" when it has none). A stage sees only its own ARGs
// (and the global ones it redeclares): an ARG's scope ends with its stage,
// so they are not inherited from the stage it is built from.
func (s *Stage) Args() map[string]string {
	out := map[string]string{}
	for _, in := range s.Instructions {
		if in.Cmd != "ARG" {
			continue
		}
		for _, w := range strings.Fields(in.Args) {
			name, def, _ := strings.Cut(w, "=")
			out[name] = strings.Trim(def, `"'`)
		}
	}
	return out
}

// Expand substitutes build arguments in s the way BuildKit does in COPY,
// ENV, LABEL, WORKDIR, ...: $NAME and ${NAME} (empty when unset),
// ${NAME:-word} (word when unset or empty) and ${NAME:?word} (an error
// naming NAME and word when unset or empty, which fails the build). args
// maps names to values; a name absent from args is unset.
func Expand(s string, args map[string]string) (string, error) {
	var errs []error
	out := os.Expand(s, func(ref string) string {
		if name, word, ok := strings.Cut(ref, ":?"); ok {
			if v := args[name]; v != "" {
				return v
			}
			if word == "" {
				word = "is not allowed to be unset or empty"
			}
			errs = append(errs, fmt.Errorf("%s: %s", name, word))
			return ""
		}
		if name, word, ok := strings.Cut(ref, ":-"); ok {
			if v := args[name]; v != "" {
				return v
			}
			return word
		}
		return args[ref]
	})
	if len(errs) > 0 {
		return "", fmt.Errorf("expand %q: %w", s, errors.Join(errs...))
	}
	return out, nil
}

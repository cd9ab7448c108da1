package dockerfile_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/deploy/dockerfile"
)

const sample = `# syntax=docker/dockerfile:1
ARG GO_VERSION=1.26
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS Builder
RUN go build \
      # a comment inside a continuation
      -o /out/ ./cmd/a

FROM ${DEBIAN:-debian}:bookworm-slim AS base
ENV A=1 B="two words" \
    C='x=y'
USER 65532:65532

from base as app
ENV A=override
ENV LEGACY some value
HEALTHCHECK --interval=10s --timeout=3s CMD ["/bin/hc", "http://127.0.0.1:8081/healthz"]
ENTRYPOINT ["/usr/local/bin/app"]

FROM scratch
`

func MustParse(tb testing.TB, text string) *dockerfile.File {
	tb.Helper()
	f, err := dockerfile.Parse(strings.NewReader(text))
	if err != nil {
		tb.Fatalf("parse: %v", err)
	}
	return f
}

func TestParseStages(t *testing.T) {
	t.Parallel()
	f := MustParse(t, sample)
	if got, want := f.Targets(), []string{"builder", "base", "app"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Targets() = %q, want %q", got, want)
	}
	if n := len(f.Stages); n != 4 {
		t.Fatalf("%d stages, want 4 (the last one unnamed)", n)
	}
	b, _ := f.Stage("BUILDER")
	if b.From != "golang:1.26-bookworm" {
		t.Errorf("builder FROM = %q, want the global ARG substituted and the --platform flag skipped", b.From)
	}
	if len(b.Instructions) != 1 || b.Instructions[0].Args != "go build -o /out/ ./cmd/a" || b.Instructions[0].Line != 4 {
		t.Errorf("builder instructions = %+v, want one RUN on line 4 with the comment dropped", b.Instructions)
	}
	app, _ := f.Stage("app")
	if app.From != "base" {
		t.Errorf("app FROM = %q, want the stage base", app.From)
	}
	img, err := f.BaseImage("app")
	if err != nil || img != "debian:bookworm-slim" {
		t.Errorf("BaseImage(app) = %q, %v", img, err)
	}
}

func TestEnvInheritance(t *testing.T) {
	t.Parallel()
	f := MustParse(t, sample)
	env, err := f.Env("app")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "override", "B": "two words", "C": "x=y", "LEGACY": "some value"}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("Env(app) = %q, want %q", env, want)
	}
}

func TestLast(t *testing.T) {
	t.Parallel()
	f := MustParse(t, sample)
	tests := map[string]struct {
		target, cmd string
		want        string
		found       bool
	}{
		"inherited user":     {target: "app", cmd: "USER", want: "65532:65532", found: true},
		"own entrypoint":     {target: "app", cmd: "entrypoint", want: `["/usr/local/bin/app"]`, found: true},
		"no entrypoint":      {target: "base", cmd: "ENTRYPOINT"},
		"builder has no env": {target: "builder", cmd: "ENV"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, found, err := f.Last(tt.target, tt.cmd)
			if err != nil {
				t.Fatal(err)
			}
			if found != tt.found || in.Args != tt.want {
				t.Errorf("Last(%s, %s) = %q, %v; want %q, %v", tt.target, tt.cmd, in.Args, found, tt.want, tt.found)
			}
		})
	}
	if _, _, err := f.Last("nope", "USER"); err == nil || !strings.Contains(err.Error(), "builder, base, app") {
		t.Errorf("Last(nope) error = %v, want one listing the stages", err)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		text, wantErr string
	}{
		"empty":            {text: "# nothing\n", wantErr: "no FROM"},
		"run before from":  {text: "RUN true\nFROM x\n", wantErr: "line 1: RUN before the first FROM"},
		"from without img": {text: "FROM\n", wantErr: "want FROM image"},
		"from bad as":      {text: "FROM a b c\n", wantErr: "want FROM image"},
		"duplicate stage":  {text: "FROM a AS x\nFROM b AS X\n", wantErr: `stage "x" defined twice`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := dockerfile.Parse(strings.NewReader(tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseEnv(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args    string
		want    [][2]string
		wantErr string
	}{
		"pairs":        {args: `A=1 B=2`, want: [][2]string{{"A", "1"}, {"B", "2"}}},
		"quoted":       {args: `A="x y" B='p q'`, want: [][2]string{{"A", "x y"}, {"B", "p q"}}},
		"empty value":  {args: `A=`, want: [][2]string{{"A", ""}}},
		"legacy":       {args: `A x y`, want: [][2]string{{"A", "x y"}}},
		"unterminated": {args: `A="x`, wantErr: "unterminated"},
		"missing key":  {args: `A=1 =2`, wantErr: "not KEY=VALUE"},
		"nothing":      {args: ``, wantErr: "without a variable"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := dockerfile.ParseEnv(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseEnv(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseEnv(%q) = %q, %v; want %q", tt.args, got, err, tt.want)
			}
		})
	}
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args     string
		wantOpts map[string]string
		wantArgv []string
		wantErr  string
	}{
		"options and exec form": {
			args:     `--interval=10s --timeout=3s CMD ["/hc", "http://x/healthz"]`,
			wantOpts: map[string]string{"interval": "10s", "timeout": "3s"},
			wantArgv: []string{"/hc", "http://x/healthz"},
		},
		"none":            {args: "NONE", wantOpts: map[string]string{}},
		"shell form":      {args: `CMD curl -f http://x`, wantErr: "exec form"},
		"option no value": {args: `--interval CMD ["x"]`, wantErr: "want --name=value"},
		"no CMD":          {args: `["x"]`, wantErr: "want [--options] CMD"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts, argv, err := dockerfile.Healthcheck(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Healthcheck(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(opts, tt.wantOpts) || !reflect.DeepEqual(argv, tt.wantArgv) {
				t.Errorf("Healthcheck(%q) = %v, %q, %v; want %v, %q", tt.args, opts, argv, err, tt.wantOpts, tt.wantArgv)
			}
		})
	}
}

func TestExecForm(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args   string
		want   []string
		wantOK bool
	}{
		"exec":        {args: `["a", "b,c"]`, want: []string{"a", "b,c"}, wantOK: true},
		"empty array": {args: `[]`, want: []string{}, wantOK: true},
		"shell":       {args: `a b`},
		"broken json": {args: `["a",]`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, ok := dockerfile.ExecForm(tt.args)
			if ok != tt.wantOK || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ExecForm(%q) = %q, %v; want %q, %v", tt.args, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestStageArgs(t *testing.T) {
	t.Parallel()
	f := MustParse(t, `ARG GLOBAL=1
FROM scratch AS base
ARG BASEONLY=x
FROM base AS worker
ARG SERVICE
ARG A=1 B="two"
COPY --from=builder /out/${SERVICE:?} /usr/local/bin/service
`)
	w, _ := f.Stage("worker")
	if got, want := w.Args(), map[string]string{"SERVICE": "", "A": "1", "B": "two"}; !reflect.DeepEqual(got, want) {
		t.Errorf("worker Args() = %q, want %q (its own ARGs only: GLOBAL and base's are out of scope)", got, want)
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	args := map[string]string{"SERVICE": "transcode", "EMPTY": ""}
	for in, want := range map[string]string{
		"/out/${SERVICE:?}":          "/out/transcode",
		"/out/$SERVICE":              "/out/transcode",
		"/out/${SERVICE}/x":          "/out/transcode/x",
		"${UNSET:-dflt} ${EMPTY:-e}": "dflt e",
		"/usr/local/bin/service":     "/usr/local/bin/service",
		"${UNSET}-${SERVICE:-other}": "-transcode",
	} {
		if got, err := dockerfile.Expand(in, args); err != nil || got != want {
			t.Errorf("Expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"/out/${UNSET:?}", "/out/${EMPTY:?set it}"} {
		if got, err := dockerfile.Expand(in, args); err == nil {
			t.Errorf("Expand(%q) = %q, want an error (unset or empty with :?)", in, got)
		}
	}
	_, err := dockerfile.Expand("/out/${SERVICE:?pass --build-arg SERVICE=NAME}", nil)
	if err == nil || !strings.Contains(err.Error(), "SERVICE: pass --build-arg SERVICE=NAME") {
		t.Errorf("Expand with SERVICE unset: %v, want the error naming SERVICE and the word", err)
	}
}

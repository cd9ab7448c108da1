package deploy_test

import (
	"bufio"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/deploy/configkeys"
	"github.com/vidpipe/vidpipe/deploy/dockerfile"
)

// healthcheck is the probe binary every runtime image carries besides
// the binary it runs.
const healthcheck = "healthcheck"

// mainPackageDir is where the main package of a shipped binary lives,
// relative to the repository root (the Docker build context): a stage's
// and upload-api's in their service module (services/NAME/cmd/NAME), the
// admin CLI in platform, the probe here.
func mainPackageDir(binary string) string {
	switch binary {
	case "vidpipectl":
		return "platform/cmd/vidpipectl"
	case healthcheck:
		return "deploy/cmd/healthcheck"
	}
	return "services/" + binary + "/cmd/" + binary
}

// builderGoBuild returns the arguments of the builder stage's one
// `go build` as written (before the RUN's shell expands globs).
func builderGoBuild(tb testing.TB, df *dockerfile.File) []string {
	tb.Helper()
	runs, err := df.All("builder", "RUN")
	if err != nil {
		tb.Fatalf("Dockerfile: %v", err)
	}
	var args []string
	n := 0
	for _, r := range runs {
		_, build, ok := strings.Cut(r.Args, "go build")
		if !ok {
			continue
		}
		n++
		args = strings.Fields(build)
	}
	if n != 1 {
		tb.Fatalf("Dockerfile builder: want one RUN go build ./pkg ..., found %d", n)
	}
	return args
}

// servicesGlob is the builder's package pattern that builds every
// service's main package (upload-api and each stage) with no edit of the
// Dockerfile.
const servicesGlob = "./services/*/cmd/*"

// MustBuiltPackages returns the main packages the builder stage's
// `go build` compiles, keyed by binary name (go build -o DIR/ names each
// binary after its package directory): the one list of what the images
// ship. A pattern such as ./services/*/cmd/* is expanded against the
// repository as the RUN's shell expands it in the build context.
// TestDockerfileBuilder checks the result against the binaries the
// pipeline needs.
func MustBuiltPackages(tb testing.TB, df *dockerfile.File) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for _, f := range builderGoBuild(tb, df) {
		pat, ok := strings.CutPrefix(f, "./")
		if !ok {
			continue
		}
		dirs := []string{strings.TrimSuffix(pat, "/")}
		if strings.ContainsAny(pat, "*?[") {
			matches, err := filepath.Glob(filepath.Join(repoRoot, filepath.FromSlash(pat)))
			if err != nil || len(matches) == 0 {
				tb.Fatalf("Dockerfile builder: go build %s matches nothing in the repository (%v): the shell would pass it as written", f, err)
			}
			dirs = dirs[:0]
			for _, m := range matches {
				rel, err := filepath.Rel(repoRoot, m)
				if err != nil {
					tb.Fatal(err)
				}
				dirs = append(dirs, filepath.ToSlash(rel))
			}
		}
		for _, dir := range dirs {
			bin := filepath.Base(dir)
			if prev, dup := out[bin]; dup {
				tb.Fatalf("Dockerfile builder: go build has two packages named %s (%s, %s): one would overwrite the other in /out", bin, prev, dir)
			}
			out[bin] = dir
		}
	}
	if len(out) == 0 {
		tb.Fatalf("Dockerfile builder: go build builds no ./package")
	}
	return out
}

// healthcheckBin is where every runtime image carries the probe.
const healthcheckBin = "/usr/local/bin/healthcheck"

func TestDockerfileBuilder(t *testing.T) {
	t.Parallel()
	df := MustDockerfile(t)
	builder, ok := df.Stage("builder")
	if !ok {
		t.Fatalf("no builder stage (targets: %v)", df.Targets())
	}
	if !strings.HasPrefix(builder.From, "golang:1.26") {
		t.Errorf("builder is FROM %s, want golang:1.26-*", builder.From)
	}
	env := MustTargetEnv(t, df, "builder")
	if env["CGO_ENABLED"] != "0" {
		t.Errorf("builder ENV CGO_ENABLED=%q, want 0 (static binaries for distroless)", env["CGO_ENABLED"])
	}
	// The builder compiles exactly the shipped binaries: each image's
	// (configkeys.Binaries: upload-api, the pipeline's stages, vidpipectl)
	// and the probe, each from its main package.
	// Services are built by a glob, so a new one needs no edit here.
	if !slices.Contains(builderGoBuild(t, df), servicesGlob) {
		t.Errorf("builder's go build lacks %s: every service's main package (services/NAME/cmd/NAME) must be built with no edit of the Dockerfile", servicesGlob)
	}
	built := MustBuiltPackages(t, df)
	want := append(slices.Clone(configkeys.Binaries), healthcheck)
	for _, bin := range want {
		dir, ok := built[bin]
		if !ok {
			t.Errorf("builder's go build lacks ./%s (%s)", mainPackageDir(bin), bin)
			continue
		}
		if dir != mainPackageDir(bin) {
			t.Errorf("builder builds %s from ./%s, want ./%s", bin, dir, mainPackageDir(bin))
		}
		src, err := os.ReadFile(filepath.Join(repoRoot, dir, "main.go"))
		if err != nil || !strings.Contains(string(src), "package main") {
			t.Errorf("%s: no main package at %s: %v", bin, dir, err)
		}
	}
	for bin, dir := range built {
		if !slices.Contains(want, bin) {
			t.Errorf("builder builds ./%s (%s), which no image ships: remove it or add its binary to the pipeline", dir, bin)
		}
	}
}

// Each binary's image (the target, and SERVICE for a generic worker
// target, that docker-compose.yml builds it with) copies the binary from
// the builder and runs it as its exec-form ENTRYPOINT, as the non-root user.
func TestDockerfileTargets(t *testing.T) {
	t.Parallel()
	df := MustDockerfile(t)
	for _, bin := range configkeys.Binaries {
		t.Run(bin, func(t *testing.T) {
			t.Parallel()
			b := MustImageBuild(t, bin)
			if _, ok := df.Stage(b.Target); !ok {
				t.Fatalf("no target %s (targets: %v)", b.Target, df.Targets())
			}
			ep, ok, _ := df.Last(b.Target, "ENTRYPOINT")
			argv, exec := dockerfile.ExecForm(ep.Args)
			if !ok || !exec || len(argv) != 1 || !strings.HasPrefix(argv[0], "/usr/local/bin/") {
				t.Fatalf("target %s: ENTRYPOINT %s, want [\"/usr/local/bin/BINARY\"] (exec form)", b.Target, ep.Args)
			}
			copies, _ := df.All(b.Target, "COPY")
			if !hasCopy(t, copies, b.Args, "/out/"+bin, argv[0]) {
				t.Errorf("target %s with args %v does not COPY --from=builder /out/%s %s (its ENTRYPOINT)", b.Target, b.Args, bin, argv[0])
			}
			user, ok, _ := df.Last(b.Target, "USER")
			if !ok || (user.Args != "65532:65532" && user.Args != "65532") {
				t.Errorf("USER %q, want 65532:65532 (non-root, the uid the manifests run as)", user.Args)
			}
			if errs := MustShippedBinaries(t).Check(t.Context(), bin, "Dockerfile target "+b.Target, keys(MustTargetEnv(t, df, b.Target))); len(errs) > 0 {
				t.Error(errs)
			}
		})
	}
}

// The generic worker targets: a stage's image is one of them with
// SERVICE=NAME; without SERVICE the build fails (${SERVICE:?}) instead of
// copying every binary into a directory.
func TestDockerfileWorkerTargets(t *testing.T) {
	t.Parallel()
	df := MustDockerfile(t)
	generic := genericTargets(df)
	if !slices.Equal(generic, []string{"static-worker", "media-worker"}) {
		t.Fatalf("targets taking ARG %s: %v, want [static-worker media-worker]", serviceArg, generic)
	}
	for _, target := range generic {
		copies, _ := df.All(target, "COPY")
		fromOut := 0
		for _, c := range copies {
			f := strings.Fields(c.Args)
			if len(f) != 3 || !strings.Contains(f[1], "$") {
				continue
			}
			fromOut++
			if src, err := dockerfile.Expand(f[1], nil); err == nil {
				t.Errorf("target %s: COPY %s with SERVICE unset copies %q: want ${%s:?} so the build fails", target, f[1], src, serviceArg)
			}
		}
		if fromOut != 1 {
			t.Errorf("target %s: %d COPY of /out/${%s}, want 1", target, fromOut, serviceArg)
		}
	}
}

func TestDockerfileRuntimeBases(t *testing.T) {
	t.Parallel()
	df := MustDockerfile(t)
	needFFmpeg := map[string]bool{"transcode": true, "thumbnail": true}
	for _, bin := range configkeys.Binaries {
		t.Run(bin, func(t *testing.T) {
			t.Parallel()
			target := MustImageBuild(t, bin).Target
			base, err := df.BaseImage(target)
			if err != nil {
				t.Fatal(err)
			}
			runs, _ := df.All(target, "RUN")
			installs := false
			for _, r := range runs {
				if strings.Contains(r.Args, "apt-get install") && strings.Contains(r.Args, " ffmpeg") {
					installs = true
					if !strings.Contains(r.Args, "--no-install-recommends") || !strings.Contains(r.Args, "rm -rf /var/lib/apt/lists") {
						t.Errorf("ffmpeg install %q: want --no-install-recommends and the apt lists removed", r.Args)
					}
				}
			}
			switch {
			case needFFmpeg[bin]:
				if !strings.HasPrefix(base, "debian:bookworm-slim") || !installs {
					t.Errorf("%s runs ffmpeg: want debian:bookworm-slim with ffmpeg installed, got %s (installs ffmpeg: %v)", bin, base, installs)
				}
			default:
				if !strings.Contains(base, "distroless/static") || installs {
					t.Errorf("%s needs no external binary: want distroless/static, got %s", bin, base)
				}
			}
		})
	}
}

func TestDockerfileHealthchecks(t *testing.T) {
	t.Parallel()
	df := MustDockerfile(t)
	for _, bin := range configkeys.Binaries {
		t.Run(bin, func(t *testing.T) {
			t.Parallel()
			b := MustImageBuild(t, bin)
			hc, ok, _ := df.Last(b.Target, "HEALTHCHECK")
			if bin == "vidpipectl" {
				if ok {
					t.Errorf("vidpipectl is a one-shot CLI, it has no HEALTHCHECK (got %s)", hc.Args)
				}
				return
			}
			if !ok {
				t.Fatal("no HEALTHCHECK")
			}
			_, argv, err := dockerfile.Healthcheck(hc.Args)
			if err != nil {
				t.Fatal(err)
			}
			if len(argv) != 2 || argv[0] != healthcheckBin {
				t.Fatalf("HEALTHCHECK CMD %q, want [%q, URL]", argv, healthcheckBin)
			}
			copies, _ := df.All(b.Target, "COPY")
			if !hasCopy(t, copies, b.Args, "/out/healthcheck", healthcheckBin) {
				t.Errorf("target %s does not carry %s", b.Target, healthcheckBin)
			}
			env := MustTargetEnv(t, df, b.Target)
			MustProbeMatchesAddr(t, argv[1], "/healthz", env[opsAddrKey(bin)])
			// EXPOSE names every listener's port, nothing else.
			exposes, _ := df.All(b.Target, "EXPOSE")
			var got, want []string
			for _, e := range exposes {
				got = append(got, strings.Fields(e.Args)...)
			}
			for _, k := range listenAddrKeys(bin) {
				port, err := portOf(env[k])
				if err != nil || !strings.HasPrefix(env[k], "0.0.0.0:") {
					t.Errorf("image %s=%q: want 0.0.0.0:PORT (%v)", k, env[k], err)
				}
				want = append(want, itoa(port))
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("EXPOSE %v, want the ports %v of %v", got, want, listenAddrKeys(bin))
			}
		})
	}
}

// MustProbeMatchesAddr checks that rawURL reaches path on the port of the
// listen address addr (which must listen on all interfaces, as a container
// must).
func MustProbeMatchesAddr(tb testing.TB, rawURL, path, addr string) {
	tb.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		tb.Fatalf("probe URL %q: %v", rawURL, err)
	}
	want, err := portOf(addr)
	if err != nil {
		tb.Fatalf("listen address %q: %v", addr, err)
	}
	if !strings.HasPrefix(addr, "0.0.0.0:") {
		tb.Errorf("listen address %s: a container must listen on 0.0.0.0", addr)
	}
	if u.Port() != itoa(want) || u.Path != path || u.Hostname() != "127.0.0.1" {
		tb.Errorf("probe %s, want http://127.0.0.1:%d%s (the listen address is %s)", rawURL, want, path, addr)
	}
}

func TestDockerignore(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var patterns []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	if !slices.Contains(patterns, ".git") {
		t.Errorf(".dockerignore does not exclude .git")
	}
	// The builder compiles the whole workspace: go.work, every module's
	// go.mod and go.sum, and the main packages must reach the context.
	needed := []string{"go.work", "go.work.sum"}
	for _, dir := range MustWorkspaceModules(t) {
		needed = append(needed, dir, dir+"/go.mod", dir+"/go.sum")
	}
	for _, dir := range MustBuiltPackages(t, MustDockerfile(t)) {
		needed = append(needed, dir, dir+"/main.go")
	}
	for _, p := range needed {
		for _, pat := range patterns {
			if ignores(pat, p) {
				t.Errorf(".dockerignore pattern %q excludes %s, which the build needs", pat, p)
			}
		}
	}
}

// ignores reports whether a .dockerignore pattern excludes path (a
// simplified matcher: filepath.Match on the path and its parents, and
// **/ patterns on every suffix; negations never exclude).
func ignores(pattern, path string) bool {
	if strings.HasPrefix(pattern, "!") {
		return false
	}
	pattern = strings.TrimPrefix(strings.TrimSuffix(pattern, "/"), "/")
	parts := strings.Split(path, "/")
	for i := 1; i <= len(parts); i++ {
		prefix := strings.Join(parts[:i], "/")
		if ok, _ := filepath.Match(pattern, prefix); ok {
			return true
		}
		if rest, ok := strings.CutPrefix(pattern, "**/"); ok {
			for j := 0; j < i; j++ {
				if ok, _ := filepath.Match(rest, strings.Join(parts[j:i], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}

// MustWorkspaceModules lists the `use` directories of go.work.
func MustWorkspaceModules(tb testing.TB) []string {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "go.work"))
	if err != nil {
		tb.Fatal(err)
	}
	var dirs []string
	inUse := false
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "use ("):
			inUse = true
		case inUse && line == ")":
			inUse = false
		case inUse && line != "":
			dirs = append(dirs, strings.TrimPrefix(line, "./"))
		case strings.HasPrefix(line, "use "):
			dirs = append(dirs, strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(line, "use ")), "./"))
		}
	}
	if !slices.Contains(dirs, "deploy") {
		tb.Fatalf("go.work uses %v, want deploy among them", dirs)
	}
	return dirs
}

// hasCopy reports whether one of copies copies src (from another stage)
// to dst, with the build arguments args substituted.
func hasCopy(tb testing.TB, copies []dockerfile.Instruction, args map[string]string, src, dst string) bool {
	tb.Helper()
	for _, c := range copies {
		f := strings.Fields(c.Args)
		if len(f) != 3 || !strings.HasPrefix(f[0], "--from=") {
			continue
		}
		s, err := dockerfile.Expand(f[1], args)
		if err != nil {
			tb.Errorf("line %d: %v", c.Line, err)
			continue
		}
		d, err := dockerfile.Expand(f[2], args)
		if err != nil {
			tb.Errorf("line %d: %v", c.Line, err)
			continue
		}
		if s == src && d == dst {
			return true
		}
	}
	return false
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

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

// MustBuiltPackages returns the main packages the builder stage's
// `go build` compiles, keyed by binary name (go build -o DIR/ names each
// binary after its package directory): the one list of what the images
// ship. TestDockerfileBuilder checks it against the binaries the pipeline
// needs.
func MustBuiltPackages(tb testing.TB, df *dockerfile.File) map[string]string {
	tb.Helper()
	runs, err := df.All("builder", "RUN")
	if err != nil {
		tb.Fatalf("Dockerfile: %v", err)
	}
	out := map[string]string{}
	n := 0
	for _, r := range runs {
		_, build, ok := strings.Cut(r.Args, "go build")
		if !ok {
			continue
		}
		n++
		for _, f := range strings.Fields(build) {
			dir, ok := strings.CutPrefix(f, "./")
			if !ok {
				continue
			}
			dir = strings.TrimSuffix(dir, "/")
			bin := filepath.Base(dir)
			if prev, dup := out[bin]; dup {
				tb.Fatalf("Dockerfile builder: go build has two packages named %s (%s, %s): one would overwrite the other in /out", bin, prev, dir)
			}
			out[bin] = dir
		}
	}
	if n != 1 || len(out) == 0 {
		tb.Fatalf("Dockerfile builder: want one RUN go build ./pkg ..., found %d building %v", n, out)
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
	env := MustImageEnv(t, df, "builder")
	if env["CGO_ENABLED"] != "0" {
		t.Errorf("builder ENV CGO_ENABLED=%q, want 0 (static binaries for distroless)", env["CGO_ENABLED"])
	}
	// The builder compiles exactly the shipped binaries: each image's
	// (configkeys.Binaries: upload-api, the pipeline's stages, vidpipectl)
	// and the probe, each from its main package.
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

func TestDockerfileTargets(t *testing.T) {
	t.Parallel()
	df := MustDockerfile(t)
	for _, bin := range configkeys.Binaries {
		t.Run(bin, func(t *testing.T) {
			t.Parallel()
			if _, ok := df.Stage(bin); !ok {
				t.Fatalf("no target %s (targets: %v)", bin, df.Targets())
			}
			ep, ok, _ := df.Last(bin, "ENTRYPOINT")
			argv, exec := dockerfile.ExecForm(ep.Args)
			if !ok || !exec || len(argv) != 1 || argv[0] != "/usr/local/bin/"+bin {
				t.Errorf("ENTRYPOINT %s, want [\"/usr/local/bin/%s\"]", ep.Args, bin)
			}
			copies, _ := df.All(bin, "COPY")
			if !hasCopy(copies, "/out/"+bin, "/usr/local/bin/"+bin) {
				t.Errorf("target %s does not COPY --from=builder /out/%s /usr/local/bin/%s", bin, bin, bin)
			}
			user, ok, _ := df.Last(bin, "USER")
			if !ok || (user.Args != "65532:65532" && user.Args != "65532") {
				t.Errorf("USER %q, want 65532:65532 (non-root, the uid the manifests run as)", user.Args)
			}
			if errs := configkeys.Check(bin, "Dockerfile target "+bin, keys(MustImageEnv(t, df, bin))); len(errs) > 0 {
				t.Error(errs)
			}
		})
	}
}

func TestDockerfileRuntimeBases(t *testing.T) {
	t.Parallel()
	df := MustDockerfile(t)
	needFFmpeg := map[string]bool{"transcode": true, "thumbnail": true}
	for _, bin := range configkeys.Binaries {
		t.Run(bin, func(t *testing.T) {
			t.Parallel()
			base, err := df.BaseImage(bin)
			if err != nil {
				t.Fatal(err)
			}
			runs, _ := df.All(bin, "RUN")
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
			hc, ok, _ := df.Last(bin, "HEALTHCHECK")
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
			copies, _ := df.All(bin, "COPY")
			if !hasCopy(copies, "/out/healthcheck", healthcheckBin) {
				t.Errorf("target %s does not carry %s", bin, healthcheckBin)
			}
			env := MustImageEnv(t, df, bin)
			MustProbeMatchesAddr(t, argv[1], "/healthz", env[opsAddrKey(bin)])
			// EXPOSE names every listener's port, nothing else.
			exposes, _ := df.All(bin, "EXPOSE")
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
// to dst.
func hasCopy(copies []dockerfile.Instruction, src, dst string) bool {
	for _, c := range copies {
		f := strings.Fields(c.Args)
		if len(f) == 3 && strings.HasPrefix(f[0], "--from=") && f[1] == src && f[2] == dst {
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

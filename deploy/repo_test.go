package deploy_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/deploy/configkeys"
	"github.com/vidpipe/vidpipe/deploy/dockerfile"
	"github.com/vidpipe/vidpipe/deploy/manifest"
)

// Paths, relative to this package's directory (deploy/), where go test runs.
const (
	repoRoot       = ".."
	composePath    = "../docker-compose.yml"
	dockerfilePath = "Dockerfile"
	k8sDir         = "k8s"
	// imageRepo prefixes every vidpipe image name: vidpipe/<binary>[:tag].
	imageRepo = "vidpipe/"
)

// workers are the stage binaries of the pipeline table
// (contract.DefaultPipeline); a stage's binary, image target and consumer
// group share its name.
func workers() []string {
	var out []string
	for _, s := range contract.DefaultPipeline().StageNames() {
		out = append(out, string(s))
	}
	return out
}

// services are the long-running binaries: the API and the workers.
func services() []string { return configkeys.Services(contract.DefaultPipeline()) }

// MustDockerfile parses deploy/Dockerfile.
func MustDockerfile(tb testing.TB) *dockerfile.File {
	tb.Helper()
	f, err := os.Open(dockerfilePath)
	if err != nil {
		tb.Fatalf("open Dockerfile: %v", err)
	}
	defer f.Close()
	df, err := dockerfile.Parse(f)
	if err != nil {
		tb.Fatalf("parse %s: %v", dockerfilePath, err)
	}
	return df
}

// MustTargetEnv returns the environment the image of target starts with.
func MustTargetEnv(tb testing.TB, df *dockerfile.File, target string) map[string]string {
	tb.Helper()
	env, err := df.Env(target)
	if err != nil {
		tb.Fatalf("Dockerfile target %s: %v", target, err)
	}
	return env
}

// MustImageEnv returns the environment the image of binary starts with:
// that of the target docker-compose.yml builds it with.
func MustImageEnv(tb testing.TB, df *dockerfile.File, binary string) map[string]string {
	tb.Helper()
	return MustTargetEnv(tb, df, MustImageBuild(tb, binary).Target)
}

// MustManifests decodes every YAML file under deploy/k8s strictly, keyed by
// its path relative to deploy/.
func MustManifests(tb testing.TB) map[string][]manifest.Object {
	tb.Helper()
	out := map[string][]manifest.Object{}
	err := filepath.WalkDir(k8sDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(path); ext != ".yaml" && ext != ".yml" {
			return fmt.Errorf("%s: only YAML belongs under %s", path, k8sDir)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		objs, err := manifest.Decode(path, data)
		if err != nil {
			return err
		}
		if len(objs) == 0 {
			return fmt.Errorf("%s: no object", path)
		}
		out[path] = objs
		return nil
	})
	if err != nil {
		tb.Fatalf("decode manifests: %v", err)
	}
	if len(out) == 0 {
		tb.Fatalf("no manifest under %s", k8sDir)
	}
	return out
}

// binaryOfImage returns the vidpipe binary an image runs: vidpipe/transcode:dev
// → transcode. ok is false for other images.
func binaryOfImage(image string) (string, bool) {
	rest, ok := strings.CutPrefix(image, imageRepo)
	if !ok {
		return "", false
	}
	name, _, _ := strings.Cut(rest, ":")
	name, _, _ = strings.Cut(name, "@")
	return name, name != ""
}

// portOf returns the port of a host:port listen address.
func portOf(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}

// opsAddrKey is the variable holding the listen address of a service's
// /healthz, /readyz and /metrics: upload-api's operations listener (its
// API listener serves /healthz only), a worker's HTTP listener.
func opsAddrKey(binary string) string {
	if binary == "upload-api" {
		return "VIDPIPE_API_OPS_ADDR"
	}
	if binary == configkeys.Webhooks {
		return "VIDPIPE_WEBHOOKS_OPS_ADDR"
	}
	return "VIDPIPE_STAGE_HTTP_ADDR"
}

// listenAddrKeys are the variables holding every listen address of a
// service, in the order of its container ports.
func listenAddrKeys(binary string) []string {
	if binary == "upload-api" {
		return []string{"VIDPIPE_API_ADDR", "VIDPIPE_API_OPS_ADDR"}
	}
	if binary == configkeys.Webhooks {
		return []string{"VIDPIPE_WEBHOOKS_OPS_ADDR"}
	}
	return []string{"VIDPIPE_STAGE_HTTP_ADDR"}
}

// merge returns the union of maps, later ones winning.
func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// MustFlagString returns the value of flag (--name value or --name=value)
// in args.
func MustFlagString(tb testing.TB, args []string, flag string) string {
	tb.Helper()
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	tb.Fatalf("%q has no %s", args, flag)
	return ""
}

// MustFlagInt is MustFlagString for an integer flag.
func MustFlagInt(tb testing.TB, args []string, flag string) int {
	tb.Helper()
	n, err := strconv.Atoi(MustFlagString(tb, args, flag))
	if err != nil {
		tb.Fatalf("%s in %q: %v", flag, args, err)
	}
	return n
}

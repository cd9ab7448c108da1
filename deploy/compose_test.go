package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/vidpipe/vidpipe/deploy/dockerfile"
	"github.com/vidpipe/vidpipe/platform/config"
)

// MustCompose loads docker-compose.yml the way `docker compose` does
// (compose-go: schema validation, interpolation, merge keys, path
// resolution), with an empty environment so the defaults in the file are
// what is checked.
func MustCompose(tb testing.TB) *types.Project {
	tb.Helper()
	p, err := loadCompose()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func loadCompose() (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{composePath},
		cli.WithWorkingDirectory(repoRoot),
		cli.WithEnv([]string{}),
		cli.WithInterpolation(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return nil, fmt.Errorf("compose options: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", composePath, err)
	}
	return p, nil
}

// serviceArg is the build argument of deploy/Dockerfile's generic worker
// targets (static-worker, media-worker: the stages that declare ARG
// SERVICE): the binary the image ships, /out/SERVICE.
const serviceArg = "SERVICE"

// imageBuild is how an image is built from deploy/Dockerfile: a target
// and the build arguments given a value.
type imageBuild struct {
	Target string
	Args   map[string]string
}

// binary is the vidpipe binary the image runs: the SERVICE argument of a
// generic target, else the target's name.
func (b imageBuild) binary() string {
	if v := b.Args[serviceArg]; v != "" {
		return v
	}
	return b.Target
}

// buildOf returns how a compose service's image is built. ok is false for
// a service that uses a published image.
func buildOf(s types.ServiceConfig) (imageBuild, bool) {
	if s.Build == nil {
		return imageBuild{}, false
	}
	b := imageBuild{Target: s.Build.Target, Args: map[string]string{}}
	for k, v := range s.Build.Args {
		if v != nil {
			b.Args[k] = *v
		}
	}
	return b, true
}

// composeBinary returns the vidpipe binary a compose service runs: the
// SERVICE build argument of a generic worker target, else the build
// target of deploy/Dockerfile. ok is false for other images.
func composeBinary(s types.ServiceConfig) (string, bool) {
	b, ok := buildOf(s)
	return b.binary(), ok
}

// genericTargets are the targets of df that take the SERVICE build
// argument, in file order: the worker targets any stage's image is built
// with.
func genericTargets(df *dockerfile.File) []string {
	var out []string
	for _, st := range df.Stages {
		if _, ok := st.Args()[serviceArg]; ok && st.Name != "" {
			out = append(out, st.Name)
		}
	}
	return out
}

// composeBuilds maps each binary to how docker-compose.yml builds its
// image (vidpipectl's by kafka-init): the one place that says which
// Dockerfile target, with which arguments, makes a binary's image.
var composeBuilds = sync.OnceValues(func() (map[string]imageBuild, error) {
	p, err := loadCompose()
	if err != nil {
		return nil, err
	}
	out := map[string]imageBuild{}
	for _, s := range p.Services {
		if b, ok := buildOf(s); ok {
			out[b.binary()] = b
		}
	}
	return out, nil
})

// MustImageBuild returns how the image of binary is built (from
// docker-compose.yml).
func MustImageBuild(tb testing.TB, binary string) imageBuild {
	tb.Helper()
	builds, err := composeBuilds()
	if err != nil {
		tb.Fatal(err)
	}
	b, ok := builds[binary]
	if !ok {
		tb.Fatalf("no service of %s builds the image of %s", composePath, binary)
	}
	return b
}

// composeEnv returns the service's environment: the image's ENV under the
// compose environment. A variable without a value is an error.
func composeEnv(tb testing.TB, df *dockerfile.File, s types.ServiceConfig) map[string]string {
	tb.Helper()
	env := map[string]string{}
	if b, ok := buildOf(s); ok {
		env = MustTargetEnv(tb, df, b.Target)
	}
	for k, v := range s.Environment {
		if v == nil {
			tb.Errorf("service %s: %s has no value (it would come from the host's environment)", s.Name, k)
			continue
		}
		env[k] = *v
	}
	return env
}

func TestComposeServices(t *testing.T) {
	t.Parallel()
	p := MustCompose(t)
	// The infrastructure, the topics and bucket set-up, and one service
	// per long-running binary (upload-api and the pipeline's stages).
	want := slices.Sorted(slices.Values(append([]string{"kafka", "kafka-init", "minio", "minio-init", "postgres"}, services()...)))
	if got := p.ServiceNames(); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Errorf("services %v, want %v", got, want)
	}
	for _, bin := range append(services(), "vidpipectl") {
		n := 0
		for _, s := range p.Services {
			if b, _ := composeBinary(s); b == bin {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d services run %s, want 1", n, bin)
		}
	}
}

func TestComposeBuilds(t *testing.T) {
	t.Parallel()
	p := MustCompose(t)
	for name, s := range p.Services {
		if s.Build == nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctxDir := s.Build.Context
			if !filepath.IsAbs(ctxDir) {
				ctxDir = filepath.Join(repoRoot, ctxDir)
			}
			if fi, err := os.Stat(ctxDir); err != nil || !fi.IsDir() {
				t.Fatalf("build context %s: not a directory: %v", s.Build.Context, err)
			}
			if fi, err := os.Stat(filepath.Join(ctxDir, "go.work")); err != nil || fi.IsDir() {
				t.Errorf("build context %s is not the repository root (no go.work): %v", s.Build.Context, err)
			}
			dfPath := s.Build.Dockerfile
			if !filepath.IsAbs(dfPath) {
				dfPath = filepath.Join(ctxDir, dfPath)
			}
			f, err := os.Open(dfPath)
			if err != nil {
				t.Fatalf("Dockerfile: %v", err)
			}
			defer f.Close()
			df, err := dockerfile.Parse(f)
			if err != nil {
				t.Fatalf("%s: %v", dfPath, err)
			}
			st, ok := df.Stage(s.Build.Target)
			if s.Build.Target == "" || !ok {
				t.Fatalf("build target %q is not a stage of %s (stages: %v)", s.Build.Target, dfPath, df.Targets())
			}
			// A generic worker target gets the binary as SERVICE; another
			// target takes no SERVICE (it would be ignored).
			b, _ := buildOf(s)
			_, generic := st.Args()[serviceArg]
			switch {
			case generic && b.Args[serviceArg] == "":
				t.Errorf("build target %q needs args %s: the stage it ships", s.Build.Target, serviceArg)
			case !generic && b.Args[serviceArg] != "":
				t.Errorf("build args %s: %s, but target %q declares no ARG %s (targets that do: %v)", serviceArg, b.Args[serviceArg], s.Build.Target, serviceArg, genericTargets(df))
			}
			if want := imageRepo + b.binary() + ":dev"; s.Image != want {
				t.Errorf("image %q, want %q (the name deploy/k8s/base uses, tag dev)", s.Image, want)
			}
		})
	}
}

func TestComposeWorkersScale(t *testing.T) {
	t.Parallel()
	p := MustCompose(t)
	for name, s := range p.Services {
		bin, ok := composeBinary(s)
		if !ok || !slices.Contains(workers(), bin) {
			continue
		}
		if s.ContainerName != "" {
			t.Errorf("worker %s has container_name %q: `docker compose up --scale %s=3` needs none", name, s.ContainerName, name)
		}
		if len(s.Ports) > 0 {
			t.Errorf("worker %s publishes %v: copies would clash on the host port", name, s.Ports)
		}
		if s.Scale != nil || (s.Deploy != nil && s.Deploy.Replicas != nil) {
			t.Errorf("worker %s fixes its replicas; leave them to --scale", name)
		}
	}
}

func TestComposeHostPortsAreLocal(t *testing.T) {
	t.Parallel()
	p := MustCompose(t)
	for name, s := range p.Services {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("service %s publishes %s:%d on %q, want 127.0.0.1 only", name, port.Published, port.Target, port.HostIP)
			}
		}
	}
	// The API and its operations listener (/readyz, /metrics), each on
	// the host port of the same number as its listen address.
	df := MustDockerfile(t)
	up := p.Services["upload-api"]
	env := composeEnv(t, df, up)
	var want []string
	for _, k := range listenAddrKeys("upload-api") {
		port, err := portOf(env[k])
		if err != nil {
			t.Fatalf("upload-api %s=%q: %v", k, env[k], err)
		}
		want = append(want, itoa(port)+":"+itoa(port))
	}
	var got []string
	for _, port := range up.Ports {
		got = append(got, port.Published+":"+itoa(int(port.Target)))
	}
	if !slices.Equal(got, want) || !slices.Equal(want, []string{"8080:8080", "8090:8090"}) {
		t.Errorf("upload-api ports %v, want 127.0.0.1:8080:8080 (api.addr) and 127.0.0.1:8090:8090 (api.ops_addr), the ports of %v = %v", got, listenAddrKeys("upload-api"), want)
	}
}

func TestComposeEnvironment(t *testing.T) {
	t.Parallel()
	p := MustCompose(t)
	df := MustDockerfile(t)
	for name, s := range p.Services {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := composeEnv(t, df, s)
			bin, ok := composeBinary(s)
			if !ok {
				for k := range env {
					if strings.HasPrefix(k, config.EnvPrefix+"_") {
						t.Errorf("%s is set on %s, which runs no vidpipe binary", k, name)
					}
				}
				return
			}
			for _, err := range MustShippedBinaries(t).Check(t.Context(), bin, "docker-compose.yml service "+name, keys(env)) {
				t.Error(err)
			}
			if bin == "vidpipectl" {
				return
			}
			if _, err := MustShippedBinaries(t).Load(t.Context(), bin, env); err != nil {
				t.Errorf("service %s: %v", name, err)
			}
		})
	}
}

func TestComposeHealthAndOrder(t *testing.T) {
	t.Parallel()
	p := MustCompose(t)
	df := MustDockerfile(t)
	for name, s := range p.Services {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			oneShot := s.Restart == types.RestartPolicyNo
			if !oneShot && (s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0) {
				t.Errorf("long-running service %s has no healthcheck", name)
			}
			for dep, d := range s.DependsOn {
				ds, ok := p.Services[dep]
				if !ok {
					t.Errorf("depends on unknown service %s", dep)
					continue
				}
				switch d.Condition {
				case types.ServiceConditionHealthy:
					if ds.HealthCheck == nil || ds.HealthCheck.Disable {
						t.Errorf("waits for %s to be healthy, which has no healthcheck", dep)
					}
				case types.ServiceConditionCompletedSuccessfully:
					if ds.Restart != types.RestartPolicyNo {
						t.Errorf("waits for %s to complete, which restarts (%q)", dep, ds.Restart)
					}
				default:
					t.Errorf("depends on %s with condition %q, want service_healthy or service_completed_successfully", dep, d.Condition)
				}
			}
			bin, ok := composeBinary(s)
			if !ok || !slices.Contains(services(), bin) {
				return
			}
			if d, ok := s.DependsOn["kafka-init"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
				t.Errorf("%s must start after kafka-init created the topics", name)
			}
			env := composeEnv(t, df, s)
			test := []string(s.HealthCheck.Test)
			if len(test) != 3 || test[0] != "CMD" || test[1] != healthcheckBin {
				t.Fatalf("healthcheck %q, want [CMD %s URL]", test, healthcheckBin)
			}
			MustProbeMatchesAddr(t, test[2], "/readyz", env[opsAddrKey(bin)])
		})
	}
}

func TestComposeStopGrace(t *testing.T) {
	t.Parallel()
	p := MustCompose(t)
	df := MustDockerfile(t)
	for name, s := range p.Services {
		bin, ok := composeBinary(s)
		if !ok || !slices.Contains(services(), bin) {
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg, err := MustShippedBinaries(t).Load(t.Context(), bin, composeEnv(t, df, s))
			if err != nil {
				t.Fatal(err)
			}
			need, what := shutdownNeed(t, bin, cfg)
			var stop time.Duration = 10 * time.Second // Docker's default
			if s.StopGracePeriod != nil {
				stop = time.Duration(*s.StopGracePeriod)
			}
			if stop < need+composeStopMargin {
				t.Errorf("stop_grace_period %s, want at least %s (%s) + %s", stop, need, what, composeStopMargin)
			}
		})
	}
}

// composeStopMargin is the time allowed after the service's own shutdown
// bound: committing offsets, leaving the group, closing clients.
const composeStopMargin = 10 * time.Second

// shutdownNeed returns how long a service may take to stop after SIGTERM,
// by its loaded configuration vals (configkeys.Dir.Load), and which key
// says so: upload-api's api.shutdown_timeout, a worker's
// stage.shutdown_grace, webhooks' webhooks.attempt_timeout (the attempts
// in flight end within it).
func shutdownNeed(tb testing.TB, bin string, vals map[string]string) (time.Duration, string) {
	tb.Helper()
	key := "stage.shutdown_grace"
	switch bin {
	case "upload-api":
		key = "api.shutdown_timeout"
	case "webhooks":
		key = "webhooks.attempt_timeout"
	}
	return MustDuration(tb, vals, key), key
}

// MustDuration returns the duration key of a loaded configuration
// (configkeys.Dir.Load: in Go syntax, "30s").
func MustDuration(tb testing.TB, vals map[string]string, key string) time.Duration {
	tb.Helper()
	v, ok := vals[key]
	d, err := time.ParseDuration(v)
	if !ok || err != nil {
		tb.Fatalf("the loaded configuration has no duration %s (%q, %v)", key, v, err)
	}
	return d
}

func TestComposeTopics(t *testing.T) {
	t.Parallel()
	p := MustCompose(t)
	init := p.Services["kafka-init"]
	args := []string(init.Command)
	if len(args) < 2 || args[0] != "topics" || args[1] != "create" {
		t.Fatalf("kafka-init command %q, want topics create ...", args)
	}
	n := MustFlagInt(t, args, "--partitions")
	kafka := p.Services["kafka"]
	if v := kafka.Environment["KAFKA_NUM_PARTITIONS"]; v == nil || *v != strconv.Itoa(n) {
		t.Errorf("kafka KAFKA_NUM_PARTITIONS=%s, want %d like kafka-init", deref(v), n)
	}
	if v := kafka.Environment["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]; v == nil || *v != "false" {
		t.Errorf("kafka must not auto-create topics (a typo would make a 1-partition topic)")
	}
	brokers := MustFlagString(t, args, "--brokers")
	for name, s := range p.Services {
		if v := s.Environment[config.EnvName("kafka.brokers")]; v != nil && *v != brokers {
			t.Errorf("service %s uses brokers %s, kafka-init %s", name, *v, brokers)
		}
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return "<unset>"
	}
	return *p
}

// kafka-init passes min.insync.replicas, valid for its replication factor,
// and every service that sets the kafka durability keys agrees with it.
func TestComposeTopicDurability(t *testing.T) {
	t.Parallel()
	p := MustCompose(t)
	args := []string(p.Services["kafka-init"].Command)
	k := config.Kafka{Brokers: []string{"kafka:19092"}, Partitions: 1,
		ReplicationFactor: MustFlagInt(t, args, "--replication"), MinInsyncReplicas: MustFlagInt(t, args, "--min-insync-replicas")}
	if err := k.Validate(); err != nil {
		t.Fatalf("kafka-init: %v", err)
	}
	for name, s := range p.Services {
		for key, want := range map[string]int{"kafka.replication_factor": k.ReplicationFactor, "kafka.min_insync_replicas": k.MinInsyncReplicas} {
			if v := s.Environment[config.EnvName(key)]; v != nil && *v != strconv.Itoa(want) {
				t.Errorf("service %s: %s=%s, kafka-init creates %d", name, config.EnvName(key), *v, want)
			}
		}
	}
}

// minKafka is the oldest Apache Kafka the stack may run: kafka-go's
// consumer groups (the stage runtime) send JoinGroup v1. Kafka 4.0.0
// removed JoinGroup v0 and v1 (KIP-896), so every worker's group join
// failed with UNSUPPORTED_VERSION; 4.0.1 and 4.1.0 added them back
// (KAFKA-19444). 3.x still has them but is the ZooKeeper-era line; the
// compose file runs a current 4.x.
var minKafka = [3]int{4, 0, 1}

// kafkaSupported reports whether release v is one the compose file may
// run: major version 4, at or above [minKafka].
func kafkaSupported(v [3]int) bool { return v[0] == 4 && slices.Compare(v[:], minKafka[:]) >= 0 }

// The compose broker is apache/kafka 4.x at or above 4.0.1, in KRaft mode,
// with every internal topic's replication set for its single node.
func TestComposeKafka(t *testing.T) {
	t.Parallel()
	kafka, ok := MustCompose(t).Services["kafka"]
	if !ok {
		t.Fatal("no kafka service")
	}
	repo, tag, _ := strings.Cut(kafka.Image, ":")
	if repo != "apache/kafka" {
		t.Errorf("kafka image %q, want apache/kafka (the Apache Kafka project's image)", kafka.Image)
	}
	v, err := parseRelease(tag)
	if err != nil {
		t.Fatalf("kafka image %q: want a release tag MAJOR.MINOR.PATCH, not %q: %v", kafka.Image, tag, err)
	}
	if !kafkaSupported(v) {
		t.Errorf("kafka image %q: want Kafka 4.x at or above %d.%d.%d (4.0.0 refuses kafka-go's JoinGroup v1; KAFKA-19444)", kafka.Image, minKafka[0], minKafka[1], minKafka[2])
	}
	// deploy/README.md names the image the file runs.
	if readme, err := os.ReadFile("README.md"); err != nil || !strings.Contains(string(readme), "`"+kafka.Image+"`") {
		t.Errorf("deploy/README.md does not name the compose Kafka image `%s` (%v)", kafka.Image, err)
	}
	env := map[string]string{}
	for k, v := range kafka.Environment {
		env[k] = deref(v).(string)
	}
	if env["KAFKA_PROCESS_ROLES"] != "broker,controller" || env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "" || env["CLUSTER_ID"] == "" {
		t.Errorf("kafka: want a combined KRaft node (KAFKA_PROCESS_ROLES=broker,controller, KAFKA_CONTROLLER_QUORUM_VOTERS, CLUSTER_ID), got %v", env)
	}
	for k, v := range env {
		if strings.Contains(k, "ZOOKEEPER") {
			t.Errorf("kafka: %s=%s, but Kafka 4 has no ZooKeeper mode", k, v)
		}
		// One broker: an internal topic asking for more replicas (the
		// defaults are 3, with a min ISR of 2) is never created.
		if (strings.HasSuffix(k, "_REPLICATION_FACTOR") || strings.HasSuffix(k, "_MIN_ISR")) && v != "1" {
			t.Errorf("kafka: %s=%s, want 1 on a single broker", k, v)
		}
	}
	for _, k := range []string{"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
		"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR", "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR"} {
		if env[k] != "1" {
			t.Errorf("kafka: %s=%q, want 1 on a single broker (its default needs 3 brokers)", k, env[k])
		}
	}
}

// parseRelease parses a MAJOR.MINOR.PATCH release tag.
func parseRelease(tag string) ([3]int, error) {
	var v [3]int
	parts := strings.Split(tag, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("%q has %d dot-separated parts", tag, len(parts))
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, fmt.Errorf("%q: part %q is not a number", tag, p)
		}
		v[i] = n
	}
	return v, nil
}

func TestParseRelease(t *testing.T) {
	t.Parallel()
	for tag, want := range map[string][3]int{"4.1.1": {4, 1, 1}, "4.0.1": {4, 0, 1}, "3.9.1": {3, 9, 1}} {
		if got, err := parseRelease(tag); err != nil || got != want {
			t.Errorf("parseRelease(%q) = %v, %v, want %v", tag, got, err, want)
		}
	}
	for _, tag := range []string{"latest", "4.1", "4.1.1-rc1", "", "4.x.1"} {
		if _, err := parseRelease(tag); err == nil {
			t.Errorf("parseRelease(%q) accepted", tag)
		}
	}
	// The pin: 4.0.0 and 3.9.1 are refused, 4.0.1 and later 4.x accepted.
	for tag, ok := range map[string]bool{"4.0.0": false, "3.9.1": false, "4.0.1": true, "4.1.0": true, "4.1.1": true, "5.0.0": false} {
		v, _ := parseRelease(tag)
		if got := kafkaSupported(v); got != ok {
			t.Errorf("%s accepted = %v, want %v", tag, got, ok)
		}
	}
}

package deploy_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/deploy/configkeys"
	"github.com/vidpipe/vidpipe/deploy/keda"
	"github.com/vidpipe/vidpipe/deploy/manifest"
	"github.com/vidpipe/vidpipe/platform/config"
)

const (
	baseDir   = "k8s/base"
	namespace = "vidpipe"
	// runAsUser is the uid of the images' USER.
	runAsUser = 65532
	// k8sStopMargin is what a pod needs after its own shutdown bound:
	// committing offsets, leaving the consumer group, closing clients.
	k8sStopMargin = 30 * time.Second
)

// MustKustomize builds the base in-process with kustomize (the library
// behind `kubectl kustomize`) and decodes the result strictly. The build
// runs once per test binary; callers must not modify the objects.
func MustKustomize(tb testing.TB) []manifest.Object {
	tb.Helper()
	objs, err := kustomizeBase()
	if err != nil {
		tb.Fatal(err)
	}
	return objs
}

var kustomizeBase = sync.OnceValues(func() ([]manifest.Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), baseDir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", baseDir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", baseDir, err)
	}
	objs, err := manifest.Decode("kustomize build "+baseDir, out)
	if err != nil {
		return nil, fmt.Errorf("decode the built base: %w", err)
	}
	return objs, nil
})

// cluster is the built base, by kind and name.
type cluster struct {
	deployments   map[string]*appsv1.Deployment
	jobs          map[string]*batchv1.Job
	configMaps    map[string]*corev1.ConfigMap
	secrets       map[string]*corev1.Secret
	services      map[string]*corev1.Service
	pdbs          []*policyv1.PodDisruptionBudget
	scaledObjects map[string]*keda.ScaledObject
}

func MustCluster(tb testing.TB) cluster {
	tb.Helper()
	objs := MustKustomize(tb)
	c := cluster{
		deployments:   byName(manifest.As[*appsv1.Deployment](objs)),
		jobs:          byName(manifest.As[*batchv1.Job](objs)),
		configMaps:    byName(manifest.As[*corev1.ConfigMap](objs)),
		secrets:       byName(manifest.As[*corev1.Secret](objs)),
		services:      byName(manifest.As[*corev1.Service](objs)),
		pdbs:          manifest.As[*policyv1.PodDisruptionBudget](objs),
		scaledObjects: byName(manifest.As[*keda.ScaledObject](objs)),
	}
	return c
}

func byName[T interface{ GetName() string }](objs []T) map[string]T {
	out := make(map[string]T, len(objs))
	for _, o := range objs {
		out[o.GetName()] = o
	}
	return out
}

// MustContainer returns the pod's only container and the binary its image runs.
func MustContainer(tb testing.TB, what string, spec corev1.PodSpec) (corev1.Container, string) {
	tb.Helper()
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 {
		tb.Fatalf("%s: want exactly one container", what)
	}
	c := spec.Containers[0]
	bin, ok := binaryOfImage(c.Image)
	if !ok || !slices.Contains(configkeys.Binaries, bin) {
		tb.Fatalf("%s: image %s is not a vidpipe image (%s<binary>)", what, c.Image, imageRepo)
	}
	if c.Name != bin {
		tb.Errorf("%s: container %q runs %s; name it after the binary", what, c.Name, bin)
	}
	return c, bin
}

// MustEnv resolves the container's environment as the kubelet would
// (envFrom, then env; ConfigMap and Secret references must exist), under
// the image's ENV from the Dockerfile.
func (c cluster) MustEnv(tb testing.TB, imageEnv map[string]string, ctr corev1.Container) map[string]string {
	tb.Helper()
	env := merge(imageEnv)
	for _, from := range ctr.EnvFrom {
		var data map[string]string
		switch {
		case from.ConfigMapRef != nil:
			cm, ok := c.configMaps[from.ConfigMapRef.Name]
			if !ok {
				tb.Fatalf("container %s: envFrom ConfigMap %s does not exist", ctr.Name, from.ConfigMapRef.Name)
			}
			data = cm.Data
		case from.SecretRef != nil:
			data = c.MustSecretData(tb, from.SecretRef.Name)
		}
		for k, v := range data {
			env[from.Prefix+k] = v
		}
	}
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			v, ok := c.configMaps[ref.Name].Data[ref.Key]
			if !ok {
				tb.Fatalf("container %s: %s refers to missing ConfigMap key %s/%s", ctr.Name, e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = v
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := c.MustSecretData(tb, ref.Name)[ref.Key]
			if !ok {
				tb.Fatalf("container %s: %s refers to missing Secret key %s/%s", ctr.Name, e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = v
		default:
			tb.Fatalf("container %s: %s: only values and ConfigMap/Secret keys are checked", ctr.Name, e.Name)
		}
	}
	return env
}

// MustSecretData returns a Secret's values (stringData over decoded data).
func (c cluster) MustSecretData(tb testing.TB, name string) map[string]string {
	tb.Helper()
	s, ok := c.secrets[name]
	if !ok {
		tb.Fatalf("Secret %s does not exist", name)
	}
	out := map[string]string{}
	for k, v := range s.Data {
		out[k] = string(v) // sigs.k8s.io/json already base64-decoded []byte
	}
	maps.Copy(out, s.StringData)
	return out
}

func TestKustomizationsListEveryFile(t *testing.T) {
	t.Parallel()
	files := MustManifests(t)
	for path, objs := range files {
		if filepath.Base(path) != "kustomization.yaml" {
			continue
		}
		k, ok := objs[0].Obj.(*kusttypes.Kustomization)
		if !ok || len(objs) != 1 {
			t.Fatalf("%s: want one Kustomization", path)
		}
		dir := filepath.Dir(path)
		listed := map[string]bool{}
		for _, r := range k.Resources {
			if listed[r] {
				t.Errorf("%s lists %s twice", path, r)
			}
			listed[r] = true
			if _, err := os.Stat(filepath.Join(dir, r)); err != nil {
				t.Errorf("%s lists %s: %v", path, r, err)
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() || e.Name() == "kustomization.yaml" {
				continue
			}
			if !listed[e.Name()] {
				t.Errorf("%s is not in %s's resources: kubectl apply -k would skip it", filepath.Join(dir, e.Name()), path)
			}
		}
	}
	if _, ok := files[filepath.Join(baseDir, "kustomization.yaml")]; !ok {
		t.Errorf("no %s/kustomization.yaml", baseDir)
	}
}

func TestManifestKinds(t *testing.T) {
	t.Parallel()
	count := map[string]int{}
	for _, objs := range MustManifests(t) {
		for _, o := range objs {
			count[o.Kind]++
		}
	}
	// One Deployment, PodDisruptionBudget and NetworkPolicy per service,
	// one ScaledObject per stage (contract.DefaultPipeline); the topics Job
	// has its own NetworkPolicy.
	svcs, stages := len(services()), len(workers())
	want := map[string]int{
		"Kustomization": 1, "Namespace": 1, "ConfigMap": 2, "Secret": 3, "Job": 1,
		"Deployment": svcs, "Service": 1, "ScaledObject": stages, "PodDisruptionBudget": svcs, "NetworkPolicy": svcs + 1,
	}
	if !maps.Equal(count, want) {
		t.Errorf("manifests hold %v, want %v", count, want)
	}
}

func TestKustomizeBuild(t *testing.T) {
	t.Parallel()
	objs := MustKustomize(t)
	for _, o := range objs {
		m, ok := o.Obj.(interface {
			GetNamespace() string
			GetLabels() map[string]string
		})
		if !ok {
			t.Errorf("%s %s: no metadata", o.Kind, o.Name())
			continue
		}
		if o.Kind == "Namespace" {
			if o.Name() != namespace {
				t.Errorf("Namespace %s, want %s", o.Name(), namespace)
			}
			continue
		}
		if m.GetNamespace() != namespace {
			t.Errorf("%s %s in namespace %q, want %s", o.Kind, o.Name(), m.GetNamespace(), namespace)
		}
		if m.GetLabels()["app.kubernetes.io/part-of"] != "vidpipe" {
			t.Errorf("%s %s lacks app.kubernetes.io/part-of=vidpipe", o.Kind, o.Name())
		}
	}
	c := MustCluster(t)
	var pods []corev1.PodTemplateSpec
	for _, d := range c.deployments {
		pods = append(pods, d.Spec.Template)
	}
	for _, j := range c.jobs {
		pods = append(pods, j.Spec.Template)
	}
	for _, p := range pods {
		for _, ctr := range p.Spec.Containers {
			if _, tag, ok := strings.Cut(strings.TrimPrefix(ctr.Image, imageRepo), ":"); !ok || tag == "" {
				t.Errorf("container %s: image %s has no tag after kustomize (list it under images:)", ctr.Name, ctr.Image)
			}
			if ctr.ImagePullPolicy != corev1.PullIfNotPresent {
				t.Errorf("container %s: imagePullPolicy %q, want IfNotPresent (images loaded into kind are used)", ctr.Name, ctr.ImagePullPolicy)
			}
		}
	}
}

func TestK8sDeployments(t *testing.T) {
	t.Parallel()
	c := MustCluster(t)
	var got []string
	for name, d := range c.deployments {
		_, bin := MustContainer(t, "Deployment "+name, d.Spec.Template.Spec)
		got = append(got, bin)
		sel, err := metav1LabelSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("Deployment %s: selector %v does not match its pods %v (%v)", name, d.Spec.Selector, d.Spec.Template.Labels, err)
		}
		scaled := slices.Contains(workers(), bin)
		if scaled && d.Spec.Replicas != nil {
			t.Errorf("Deployment %s sets replicas; its ScaledObject owns the count (an apply would fight KEDA)", name)
		}
		if !scaled && (d.Spec.Replicas == nil || *d.Spec.Replicas < 2) {
			t.Errorf("Deployment %s: want at least 2 replicas for availability", name)
		}
	}
	slices.Sort(got)
	if want := slices.Sorted(slices.Values(services())); !slices.Equal(got, want) {
		t.Errorf("Deployments run %v, want %v", got, want)
	}
}

func TestK8sEnvironment(t *testing.T) {
	t.Parallel()
	c := MustCluster(t)
	df := MustDockerfile(t)
	pods := map[string]corev1.PodSpec{}
	for name, d := range c.deployments {
		pods["Deployment "+name] = d.Spec.Template.Spec
	}
	for name, j := range c.jobs {
		pods["Job "+name] = j.Spec.Template.Spec
	}
	for what, spec := range pods {
		t.Run(what, func(t *testing.T) {
			t.Parallel()
			ctr, bin := MustContainer(t, what, spec)
			env := c.MustEnv(t, MustImageEnv(t, df, bin), ctr)
			for _, err := range MustShippedBinaries(t).Check(t.Context(), bin, what, keys(env)) {
				t.Error(err)
			}
			if bin == "vidpipectl" {
				return
			}
			if _, err := MustShippedBinaries(t).Load(t.Context(), bin, replacePlaceholders(env)); err != nil {
				t.Errorf("%s: %v", what, err)
			}
		})
	}
	// Every ConfigMap and Secret is used: an orphan is configuration that
	// silently reaches nobody.
	used := map[string]bool{}
	for _, spec := range pods {
		for _, ctr := range spec.Containers {
			for _, f := range ctr.EnvFrom {
				if f.ConfigMapRef != nil {
					used["ConfigMap "+f.ConfigMapRef.Name] = true
				}
				if f.SecretRef != nil {
					used["Secret "+f.SecretRef.Name] = true
				}
			}
			for _, e := range ctr.Env {
				if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
					used["ConfigMap "+e.ValueFrom.ConfigMapKeyRef.Name] = true
				}
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					used["Secret "+e.ValueFrom.SecretKeyRef.Name] = true
				}
			}
		}
	}
	for name := range c.configMaps {
		if !used["ConfigMap "+name] {
			t.Errorf("ConfigMap %s is used by no pod", name)
		}
	}
	for name := range c.secrets {
		if !used["Secret "+name] {
			t.Errorf("Secret %s is used by no pod", name)
		}
	}
}

func TestK8sProbes(t *testing.T) {
	t.Parallel()
	c := MustCluster(t)
	df := MustDockerfile(t)
	for name, d := range c.deployments {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctr, bin := MustContainer(t, "Deployment "+name, d.Spec.Template.Spec)
			env := c.MustEnv(t, MustImageEnv(t, df, bin), ctr)
			// Container ports: "http" on the first listen address (the API,
			// or a worker's health and metrics), then "ops" on upload-api's
			// operations listener.
			names := []string{"http", "ops"}
			keys := listenAddrKeys(bin)
			if len(ctr.Ports) != len(keys) {
				t.Errorf("ports %+v, want %d (the ports of %v)", ctr.Ports, len(keys), keys)
			}
			for i, k := range keys {
				addr := env[k]
				port, err := portOf(addr)
				if err != nil || !strings.HasPrefix(addr, "0.0.0.0:") {
					t.Fatalf("%s=%q: want 0.0.0.0:PORT (%v)", k, addr, err)
				}
				if i < len(ctr.Ports) && (ctr.Ports[i].ContainerPort != int32(port) || ctr.Ports[i].Name != names[i]) {
					t.Errorf("port %+v, want one named %s on %d (the port of %s)", ctr.Ports[i], names[i], port, k)
				}
			}
			// Probes and the scrape go where /healthz, /readyz and /metrics
			// are: the operations port ("ops", api.ops_addr) for upload-api,
			// whose API port answers 404 to /readyz and /metrics.
			opsName := names[len(keys)-1]
			port, err := portOf(env[opsAddrKey(bin)])
			if err != nil {
				t.Fatalf("%s=%q: %v", opsAddrKey(bin), env[opsAddrKey(bin)], err)
			}
			for _, p := range []struct {
				kind     string
				probe    *corev1.Probe
				path     string
				required bool
			}{
				{"liveness", ctr.LivenessProbe, "/healthz", true},
				{"readiness", ctr.ReadinessProbe, "/readyz", true},
				{"startup", ctr.StartupProbe, "/healthz", false},
			} {
				if p.probe == nil {
					if p.required {
						t.Errorf("no %s probe", p.kind)
					}
					continue
				}
				g := p.probe.HTTPGet
				if g == nil || g.Path != p.path || !portIs(g.Port, opsName, port) {
					t.Errorf("%s probe %+v, want GET %s on port %s (%d, %s)", p.kind, g, p.path, opsName, port, opsAddrKey(bin))
				}
			}
			if ann := d.Spec.Template.Annotations["prometheus.io/port"]; ann != strconv.Itoa(port) {
				t.Errorf("prometheus.io/port annotation %q, want %d (where /metrics is: %s)", ann, port, opsAddrKey(bin))
			}
			if path := d.Spec.Template.Annotations["prometheus.io/path"]; path != "/metrics" {
				t.Errorf("prometheus.io/path annotation %q, want /metrics", path)
			}
		})
	}
	svc, ok := c.services["upload-api"]
	if !ok {
		t.Fatal("no Service upload-api")
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	if d, ok := c.deployments["upload-api"]; !ok || len(svc.Spec.Selector) == 0 || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("Service upload-api selector %v does not select the upload-api pods", svc.Spec.Selector)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("Service upload-api ports %+v, want one targeting the named port http", svc.Spec.Ports)
	}
}

func portIs(p intstr.IntOrString, name string, number int) bool {
	if p.Type == intstr.String {
		return p.StrVal == name
	}
	return p.IntValue() == number
}

func TestK8sShutdownGrace(t *testing.T) {
	t.Parallel()
	c := MustCluster(t)
	df := MustDockerfile(t)
	for name, d := range c.deployments {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			spec := d.Spec.Template.Spec
			ctr, bin := MustContainer(t, "Deployment "+name, spec)
			cfg, err := MustShippedBinaries(t).Load(t.Context(), bin, replacePlaceholders(c.MustEnv(t, MustImageEnv(t, df, bin), ctr)))
			if err != nil {
				t.Fatal(err)
			}
			if spec.TerminationGracePeriodSeconds == nil {
				t.Fatal("terminationGracePeriodSeconds is not set (the 30s default)")
			}
			grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
			need, what := shutdownNeed(t, bin, cfg)
			if ctr.Lifecycle != nil && ctr.Lifecycle.PreStop != nil {
				if s := ctr.Lifecycle.PreStop.Sleep; s != nil {
					need += time.Duration(s.Seconds) * time.Second
					what += " + preStop sleep"
				}
			}
			if grace < need+k8sStopMargin {
				t.Errorf("terminationGracePeriodSeconds %s < %s (%s) + %s: the kubelet would kill the pod mid-shutdown", grace, need, what, k8sStopMargin)
			}
			if !slices.Contains(workers(), bin) {
				return
			}
			// An attempt started just before SIGTERM may run attempt_timeout;
			// with shutdown_grace >= attempt_timeout it can always finish
			// instead of being cancelled and started over elsewhere.
			shutdownGrace, attemptTimeout := MustDuration(t, cfg, "stage.shutdown_grace"), MustDuration(t, cfg, "stage.attempt_timeout")
			if shutdownGrace < attemptTimeout {
				t.Errorf("stage.shutdown_grace %s < stage.attempt_timeout %s: a long attempt is cancelled at every scale-in", shutdownGrace, attemptTimeout)
			}
			if grace <= attemptTimeout {
				t.Errorf("terminationGracePeriodSeconds %s must exceed stage.attempt_timeout %s", grace, attemptTimeout)
			}
		})
	}
}

func TestScaledObjects(t *testing.T) {
	t.Parallel()
	c := MustCluster(t)
	partitions := MustJobPartitions(t, c)
	brokers := c.configMaps["vidpipe-common"].Data[config.EnvName("kafka.brokers")]
	if brokers == "" {
		t.Fatal("ConfigMap vidpipe-common has no VIDPIPE_KAFKA_BROKERS")
	}
	stages := contract.DefaultPipeline().Stages
	if len(c.scaledObjects) != len(stages) {
		t.Errorf("%d ScaledObjects, want one per stage (%d)", len(c.scaledObjects), len(stages))
	}
	for _, st := range stages {
		name := string(st.Name)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var so *keda.ScaledObject
			for _, s := range c.scaledObjects {
				if s.Spec.ScaleTargetRef != nil && s.Spec.ScaleTargetRef.Name == name {
					so = s
				}
			}
			if so == nil {
				t.Fatalf("no ScaledObject targets Deployment %s", name)
			}
			ref := so.Spec.ScaleTargetRef
			if _, ok := c.deployments[ref.Name]; !ok || (ref.Kind != "" && ref.Kind != "Deployment") || (ref.APIVersion != "" && ref.APIVersion != "apps/v1") {
				t.Errorf("scaleTargetRef %+v, want the apps/v1 Deployment %s", ref, name)
			}
			if so.Spec.MinReplicaCount == nil || *so.Spec.MinReplicaCount != 1 {
				t.Errorf("minReplicaCount %v, want 1 (a worker is always there to join the group)", deref(so.Spec.MinReplicaCount))
			}
			if so.Spec.MaxReplicaCount == nil || int(*so.Spec.MaxReplicaCount) != partitions {
				t.Errorf("maxReplicaCount %v, want %d: the partitions of %s (vidpipe-topics --partitions); more members would idle", deref(so.Spec.MaxReplicaCount), partitions, st.Input)
			}
			// One kafka trigger per consumer group of the stage's binary:
			// its input, and each of its work topics.
			type source struct{ group, topic string }
			want := []source{{st.Name.Group(), st.Input}}
			for _, w := range st.Work {
				gs, ok := workGroups[w.Topic]
				if !ok {
					t.Errorf("work topic %s of %s has no consumer group in workGroups (deploy/k8s_test.go)", w.Topic, name)
				}
				for _, g := range gs {
					want = append(want, source{g, w.Topic})
				}
			}
			var got []source
			for _, tr := range so.Spec.Triggers {
				if tr.Type != "kafka" {
					t.Errorf("trigger %+v, want type kafka", tr)
					continue
				}
				md := tr.Metadata
				for k := range md {
					if !slices.Contains(keda.KafkaMetadata, k) {
						t.Errorf("kafka trigger metadata %q is not a parameter of KEDA's kafka scaler", k)
					}
				}
				src := source{md["consumerGroup"], md["topic"]}
				got = append(got, src)
				if !slices.Contains(want, src) {
					t.Errorf("kafka trigger on group %q topic %q: not a group of %s (want %v)", src.group, src.topic, name, want)
				}
				for k, v := range map[string]string{
					"bootstrapServers":   brokers,
					"offsetResetPolicy":  "earliest", // the stage runtime's StartOffset for a new group
					"allowIdleConsumers": "false",
				} {
					if md[k] != v {
						t.Errorf("kafka trigger %s/%s: %s = %q, want %q", src.group, src.topic, k, md[k], v)
					}
				}
				if n, err := strconv.Atoi(md["lagThreshold"]); err != nil || n < 1 {
					t.Errorf("kafka trigger %s/%s: lagThreshold %q, want a positive integer", src.group, src.topic, md["lagThreshold"])
				}
			}
			for _, w := range want {
				if !slices.Contains(got, w) {
					t.Errorf("no kafka trigger on group %q topic %q (triggers %v)", w.group, w.topic, got)
				}
			}
			if len(got) != len(so.Spec.Triggers) || len(got) != len(want) {
				t.Errorf("%d triggers, want %d kafka triggers: %v", len(so.Spec.Triggers), len(want), want)
			}
		})
	}
}

// workGroups names the consumer groups that read each work topic of the
// pipeline table (contract/chunks.go names them; contract.StageSpec.Work
// does not tie them to their topics). A stage's ScaledObject has a trigger
// on each.
var workGroups = map[string][]string{
	contract.TopicTranscodeChunks:     {contract.GroupTranscodeChunks, contract.GroupTranscodeAudio},
	contract.TopicTranscodeChunksDone: {contract.GroupTranscodeAssemble},
}

// MustJobPartitions returns --partitions of the topic-creating Job.
func MustJobPartitions(tb testing.TB, c cluster) int {
	tb.Helper()
	var found []int
	for name, j := range c.jobs {
		ctr, bin := MustContainer(tb, "Job "+name, j.Spec.Template.Spec)
		args := append(slices.Clone(ctr.Command), ctr.Args...)
		if bin == "vidpipectl" && len(args) >= 2 && args[0] == "topics" && args[1] == "create" {
			found = append(found, MustFlagInt(tb, args, "--partitions"))
		}
	}
	if len(found) != 1 {
		tb.Fatalf("%d Jobs run vidpipectl topics create, want 1", len(found))
	}
	return found[0]
}

func TestPartitionsAgree(t *testing.T) {
	t.Parallel()
	k8s := MustJobPartitions(t, MustCluster(t))
	compose := MustFlagInt(t, MustCompose(t).Services["kafka-init"].Command, "--partitions")
	if k8s != compose {
		t.Errorf("Kubernetes creates %d partitions per topic, compose %d: the replica caps differ", k8s, compose)
	}
}

func TestPodDisruptionBudgets(t *testing.T) {
	t.Parallel()
	c := MustCluster(t)
	for name, d := range c.deployments {
		var covering []*policyv1.PodDisruptionBudget
		for _, p := range c.pdbs {
			sel, err := metav1LabelSelector(p.Spec.Selector)
			if err != nil {
				t.Fatalf("PDB %s: %v", p.Name, err)
			}
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				covering = append(covering, p)
			}
		}
		if len(covering) != 1 {
			t.Errorf("Deployment %s is covered by %d PodDisruptionBudgets, want 1", name, len(covering))
			continue
		}
		p := covering[0]
		// minAvailable with a single replica (a worker at KEDA's minimum)
		// would block node drains forever; maxUnavailable: 1 never does.
		if p.Spec.MinAvailable != nil || p.Spec.MaxUnavailable == nil || p.Spec.MaxUnavailable.IntValue() != 1 {
			t.Errorf("PDB %s: want maxUnavailable: 1 and no minAvailable", p.Name)
		}
	}
}

func TestPodSecurity(t *testing.T) {
	t.Parallel()
	c := MustCluster(t)
	pods := map[string]corev1.PodSpec{}
	for name, d := range c.deployments {
		pods["Deployment "+name] = d.Spec.Template.Spec
	}
	for name, j := range c.jobs {
		pods["Job "+name] = j.Spec.Template.Spec
	}
	for what, spec := range pods {
		t.Run(what, func(t *testing.T) {
			t.Parallel()
			psc := spec.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != runAsUser ||
				psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("pod securityContext %+v, want runAsNonRoot, runAsUser %d, seccomp RuntimeDefault", psc, runAsUser)
			}
			if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
				t.Errorf("automountServiceAccountToken must be false: vidpipe never calls the API server")
			}
			ctr, _ := MustContainer(t, what, spec)
			sc := ctr.SecurityContext
			if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Errorf("container securityContext %+v, want no privilege escalation, read-only root, drop ALL", sc)
			}
			if ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Requests.Memory().IsZero() || ctr.Resources.Limits.Memory().IsZero() {
				t.Errorf("resources %+v, want cpu and memory requests and a memory limit", ctr.Resources)
			}
			if !strings.HasPrefix(what, "Deployment ") {
				return
			}
			// Writable /tmp on the read-only root: an emptyDir with a size limit.
			var tmp *corev1.Volume
			for _, m := range ctr.VolumeMounts {
				if m.MountPath == "/tmp" {
					for i := range spec.Volumes {
						if spec.Volumes[i].Name == m.Name {
							tmp = &spec.Volumes[i]
						}
					}
				}
			}
			if tmp == nil || tmp.EmptyDir == nil || tmp.EmptyDir.SizeLimit == nil {
				t.Fatalf("no emptyDir with a sizeLimit mounted at /tmp")
			}
			if lim, ok := ctr.Resources.Limits[corev1.ResourceEphemeralStorage]; ok && lim.Cmp(*tmp.EmptyDir.SizeLimit) < 0 {
				t.Errorf("ephemeral-storage limit %s is below the /tmp sizeLimit %s", lim.String(), tmp.EmptyDir.SizeLimit.String())
			}
		})
	}
}

// replacePlaceholders returns env with every change-me placeholder
// replaced by a value a user would set (a 32-character random-looking
// secret), as the services refuse placeholders at start.
func replacePlaceholders(env map[string]string) map[string]string {
	out := maps.Clone(env)
	for k, v := range out {
		if config.IsPlaceholder(v) {
			out[k] = regexp.MustCompile(`(?i)change-me[a-z0-9-]*`).ReplaceAllString(v, "9f86d081884c7d659a2feaa0c55ad015")
		}
	}
	return out
}

func TestSecretsArePlaceholders(t *testing.T) {
	t.Parallel()
	c := MustCluster(t)
	df := MustDockerfile(t)
	// The base as shipped does not start: every service refuses a
	// placeholder secret, naming its key.
	for name, d := range c.deployments {
		ctr, bin := MustContainer(t, "Deployment "+name, d.Spec.Template.Spec)
		if _, err := MustShippedBinaries(t).Load(t.Context(), bin, c.MustEnv(t, MustImageEnv(t, df, bin), ctr)); err == nil || !strings.Contains(err.Error(), "placeholder") {
			t.Errorf("Deployment %s starts with the base's placeholder secrets (err: %v)", name, err)
		}
	}
	for name, s := range c.secrets {
		if len(s.Data) > 0 {
			t.Errorf("Secret %s has base64 data; the base holds only stringData placeholders", name)
		}
		for k, v := range s.StringData {
			if !strings.Contains(v, "change-me") {
				t.Errorf("Secret %s key %s holds a value that is not a change-me placeholder", name, k)
			}
		}
	}
}

func metav1LabelSelector(s *metav1.LabelSelector) (labels.Selector, error) {
	if s == nil {
		return nil, fmt.Errorf("no selector")
	}
	return metav1.LabelSelectorAsSelector(s)
}

// MustTopicsJobArgs returns the args of the Job that runs vidpipectl topics create.
func MustTopicsJobArgs(tb testing.TB, c cluster) []string {
	tb.Helper()
	for name, j := range c.jobs {
		ctr, bin := MustContainer(tb, "Job "+name, j.Spec.Template.Spec)
		args := append(slices.Clone(ctr.Command), ctr.Args...)
		if bin == "vidpipectl" && len(args) >= 2 && args[0] == "topics" && args[1] == "create" {
			return args
		}
	}
	tb.Fatal("no Job runs vidpipectl topics create")
	return nil
}

// The topics are created with the durability the services demand: the
// Job's --replication and --min-insync-replicas equal the kafka settings
// every service reads (vidpipe-common), which are production settings
// (acks=all waits for at least 2 replicas).
func TestTopicDurabilityAgrees(t *testing.T) {
	t.Parallel()
	c := MustCluster(t)
	args := MustTopicsJobArgs(t, c)
	common := c.configMaps["vidpipe-common"].Data
	k := config.Kafka{Brokers: []string{"k:9092"}, Partitions: 1}
	for _, x := range []struct {
		flag, key string
		dst       *int
	}{{"--replication", "kafka.replication_factor", &k.ReplicationFactor}, {"--min-insync-replicas", "kafka.min_insync_replicas", &k.MinInsyncReplicas}} {
		n := MustFlagInt(t, args, x.flag)
		if v := common[config.EnvName(x.key)]; v != strconv.Itoa(n) {
			t.Errorf("vidpipe-common %s = %q, the topics Job has %s=%d: the services would check other settings than the topics have", config.EnvName(x.key), v, x.flag, n)
		}
		*x.dst = n
	}
	if err := k.Validate(); err != nil {
		t.Fatal(err)
	}
	if !k.Production() || k.EffectiveMinInsyncReplicas() < 2 {
		t.Errorf("replication %d, min.insync.replicas %d: not production settings (want a replicated cluster and acks=all on at least 2 replicas)", k.ReplicationFactor, k.EffectiveMinInsyncReplicas())
	}
}

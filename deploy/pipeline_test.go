package deploy_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kusttypes "sigs.k8s.io/kustomize/api/types"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/deploy/configkeys"
	"github.com/vidpipe/vidpipe/deploy/configref"
	"github.com/vidpipe/vidpipe/deploy/dockerfile"
	"github.com/vidpipe/vidpipe/deploy/keda"
	"github.com/vidpipe/vidpipe/deploy/manifest"
)

// The files the pipeline check reads, as named in its messages (relative
// to the repository root).
const (
	composeFile       = "docker-compose.yml"
	dockerfileFile    = "deploy/Dockerfile"
	baseFile          = "deploy/k8s/base"
	kustomizationFile = "deploy/k8s/base/kustomization.yaml"
	netpolFile        = "deploy/k8s/base/networkpolicies.yaml"
	topicsJobFile     = "deploy/k8s/base/topics-job.yaml"
	// topicsInit is the compose service that creates the topics.
	topicsInit = "kafka-init"
	// nameLabel is the label every pod, selector and policy uses.
	nameLabel = "app.kubernetes.io/name"
)

// deployment is every deploy file that cannot be derived from the
// pipeline table, loaded for pipelineProblems.
type deployment struct {
	compose *types.Project
	df      *dockerfile.File
	// built maps each binary the builder's go build compiles to its
	// package directory.
	built map[string]string
	kust  *kusttypes.Kustomization
	// objs is the kustomize-built base.
	objs []manifest.Object
	// configDoc is docs/configuration.md.
	configDoc string
	// described maps each built binary (but the probe) to the error of
	// running it with --config-reference: nil when it describes its
	// configuration.
	described map[string]error
}

// MustDeployment loads the deploy files from the working tree.
func MustDeployment(tb testing.TB) deployment {
	tb.Helper()
	df := MustDockerfile(tb)
	d := deployment{compose: MustCompose(tb), df: df, built: MustBuiltPackages(tb, df), objs: MustKustomize(tb)}
	objs := MustManifests(tb)[filepath.Join(baseDir, "kustomization.yaml")]
	if len(objs) != 1 {
		tb.Fatalf("%s: want one Kustomization", kustomizationFile)
	}
	k, ok := objs[0].Obj.(*kusttypes.Kustomization)
	if !ok {
		tb.Fatalf("%s: want a Kustomization, got %s", kustomizationFile, objs[0].Kind)
	}
	d.kust = k
	doc, err := os.ReadFile(filepath.Join(repoRoot, configref.Path))
	if err != nil {
		tb.Fatal(err)
	}
	d.configDoc = string(doc)
	bins := MustShippedBinaries(tb)
	d.described = map[string]error{}
	for bin := range d.built {
		if bin != healthcheck {
			_, d.described[bin] = bins.Reference(context.Background(), bin)
		}
	}
	return d
}

// pipelineProblems checks that the deployment has every piece each binary
// of p needs: each stage (its own binary, image, consumer group and
// configuration prefix), upload-api and vidpipectl. It returns one message
// per missing or inconsistent piece, naming the stage (or binary), the
// piece and the file to edit, e.g.
//
//	stage "captions" (contract.DefaultPipeline) has no service in docker-compose.yml: add one like "indexer"
//
// docs/adding-a-stage.md quotes these messages: keep them stable.
func pipelineProblems(p contract.Pipeline, d deployment) []string {
	var out []string
	for _, bin := range configkeys.BinariesOf(p) {
		var c pieceCheck
		if i := slices.Index(p.StageNames(), contract.Stage(bin)); i >= 0 {
			s := &p.Stages[i]
			c = pieceCheck{d: d, bin: bin, who: fmt.Sprintf("stage %q (contract.DefaultPipeline)", bin), stage: s, like: neighbour(p, i),
				topics: []string{s.Output.Topic, s.DLQ}}
		} else {
			c = pieceCheck{d: d, bin: bin, who: fmt.Sprintf("binary %q", bin)}
			if bin == "upload-api" {
				c.topics = []string{p.Entry.Topic}
			}
		}
		out = append(out, c.problems()...)
	}
	return out
}

// neighbour is the stage a new stage i can copy its files from: the one
// before it, else the one after it ("" when p has only this one).
func neighbour(p contract.Pipeline, i int) string {
	switch {
	case i > 0:
		return string(p.Stages[i-1].Name)
	case len(p.Stages) > 1:
		return string(p.Stages[1].Name)
	}
	return ""
}

// pieceCheck checks the pieces of one binary.
type pieceCheck struct {
	d     deployment
	bin   string
	who   string              // how messages name it
	stage *contract.StageSpec // nil for upload-api and vidpipectl
	like  string              // a stage to copy from, for a stage
	// topics are the topics the binary publishes (a stage's output and
	// dead letters, upload-api's entry topic): the topic set-up must
	// create them.
	topics []string
}

func (c pieceCheck) likeIt(format string) string {
	if c.like == "" {
		return ""
	}
	return fmt.Sprintf(format, c.like)
}

// problems lists the binary's missing pieces in a fixed order: its main
// package and image, compose, configuration, Kubernetes.
func (c pieceCheck) problems() []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, c.who+" "+fmt.Sprintf(format, args...)) }
	service := c.bin != "vidpipectl"
	dir := mainPackageDir(c.bin)

	// The main package and the image. The builder compiles every
	// ./services/*/cmd/*, so once a stage's main package exists it is
	// built; the message is for a builder that no longer does.
	built := false
	if src, err := os.ReadFile(filepath.Join(repoRoot, dir, "main.go")); err != nil || !strings.Contains(string(src), "package main") {
		add("has no main package: create %s (module %s, listed in go.work)", dir, moduleOf(c.bin))
	} else if got, ok := c.d.built[c.bin]; !ok || got != dir {
		add("is not built by %s: add ./%s to the builder's go build", dockerfileFile, dir)
	} else {
		built = true
	}
	// A stage's image is a generic worker target with SERVICE=its name,
	// chosen in docker-compose.yml (below); upload-api and vidpipectl have
	// their own targets.
	generic := genericTargets(c.d.df)
	if _, ok := c.d.df.Stage(c.bin); !ok && c.stage == nil {
		add("has no target in %s: add a stage \"AS %s\" that copies /out/%s and runs it", dockerfileFile, c.bin, c.bin)
	}
	workerBuild := fmt.Sprintf("built with target %s (%s) and args %s: %s", quotedOr(generic), dockerfileFile, serviceArg, c.bin)

	// docker-compose.yml.
	var svc *types.ServiceConfig
	for name, s := range c.d.compose.Services {
		if b, ok := composeBinary(s); ok && b == c.bin && (service || name == topicsInit) {
			svc = &s
		}
	}
	switch {
	case svc == nil && c.stage != nil:
		add("has no service in %s: add one%s, %s", composeFile, c.likeIt(" like %q"), workerBuild)
	case svc == nil && service:
		add("has no service in %s: add one", composeFile)
	case svc == nil:
		add("has no service %s in %s: add one running \"vidpipectl topics create\"", topicsInit, composeFile)
	case svc.Name != c.bin && service:
		add("runs as service %q in %s: name the service %q", svc.Name, composeFile, c.bin)
	}
	if b, ok := buildOf(derefService(svc)); ok && c.stage != nil && (!slices.Contains(generic, b.Target) || b.Args[serviceArg] != c.bin) {
		got := "no args " + serviceArg
		if v := b.Args[serviceArg]; v != "" {
			got = "args " + serviceArg + ": " + v
		}
		add("is built with target %q and %s in %s: want it %s", b.Target, got, composeFile, workerBuild)
	}
	for _, topic := range c.topics {
		if !c.composeCreates(topic) {
			add("has no topic %q created by %s in %s: let it run \"vidpipectl topics create\", which creates every topic of contract.DefaultPipeline()", topic, topicsInit, composeFile)
		}
	}

	// Configuration: the binary describes it (--config-reference, which
	// config.Load handles), and the reference is generated from that.
	if err, ok := c.d.described[c.bin]; built && (!ok || err != nil) {
		add("does not describe its configuration (%v): %s must load it with config.Load (platform/config) and return nil on config.ErrHelp%s",
			err, dir, c.likeIt(", as %q does"))
	}
	if service && !strings.Contains(c.d.configDoc, "\n## "+c.bin+"\n") {
		add("has no section in %s: run make docs (once its main package loads its configuration with platform/config)", configref.Path)
	}

	// Kubernetes.
	if _, ok := c.image(); !ok {
		add("has no image in %s: add \"- name: %s%s\" with \"newTag: dev\" under images", kustomizationFile, imageRepo, c.bin)
	}
	if !service {
		if !c.d.jobRunsTopicsCreate() {
			add("has no Job in %s running \"vidpipectl topics create\": add one like %s", baseFile, topicsJobFile)
		}
		return append(out, c.netpolProblems(map[string]string{nameLabel: "vidpipe-topics"}, "vidpipe-topics")...)
	}
	file := filepath.Join(baseFile, c.bin+".yaml")
	switch _, err := os.Stat(filepath.Join(repoRoot, file)); {
	case err != nil:
		add("has no manifest in %s: add %s.yaml%s (Deployment, ScaledObject, PodDisruptionBudget) and list it under resources in %s", baseFile, c.bin, c.likeIt(" like \"%s.yaml\""), kustomizationFile)
	case !slices.Contains(c.d.kust.Resources, c.bin+".yaml"):
		add("has %s, which is not listed under resources in %s", file, kustomizationFile)
	}
	dep := c.d.deployment(c.bin)
	if dep == nil {
		add("has no Deployment in %s: add one named %q running %s%s in %s", baseFile, c.bin, imageRepo, c.bin, file)
	}
	if c.stage != nil {
		out = append(out, c.scaledObjectProblems(file)...)
	}
	// vidpipectl topics create makes every topic of the table; another
	// command must name the binary's topics.
	if !c.d.jobRunsTopicsCreate() {
		for _, topic := range c.topics {
			if !c.d.jobCreates(topic) {
				add("has no topic %q created by the topics Job in %s: let it run \"vidpipectl topics create\"", topic, topicsJobFile)
			}
		}
	}
	podLabels := map[string]string{nameLabel: c.bin}
	if dep != nil {
		podLabels = dep.Spec.Template.Labels
		if !c.d.pdbCovers(podLabels) {
			add("has no PodDisruptionBudget in %s: add one selecting %s: %s%s", file, nameLabel, c.bin, c.likeIt(" like %q"))
		}
	}
	return append(out, c.netpolProblems(podLabels, c.bin)...)
}

// derefService returns *s, or a service without a build for nil.
func derefService(s *types.ServiceConfig) types.ServiceConfig {
	if s == nil {
		return types.ServiceConfig{}
	}
	return *s
}

// quotedOr joins names as "a", "b" or "c".
func quotedOr(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// composeCreates reports whether the compose topics service creates topic:
// it runs vidpipectl topics create (every topic of the table), or names
// the topic in its command.
func (c pieceCheck) composeCreates(topic string) bool {
	s, ok := c.d.compose.Services[topicsInit]
	if !ok {
		return false
	}
	if b, _ := composeBinary(s); b == "vidpipectl" && isTopicsCreate(s.Command) {
		return true
	}
	return slices.ContainsFunc(append(s.Entrypoint, s.Command...), func(a string) bool { return strings.Contains(a, topic) })
}

func isTopicsCreate(args []string) bool {
	return len(args) >= 2 && args[0] == "topics" && args[1] == "create"
}

// image returns the kustomization's images entry of the binary.
func (c pieceCheck) image() (kusttypes.Image, bool) {
	for _, im := range c.d.kust.Images {
		if im.Name == imageRepo+c.bin {
			return im, true
		}
	}
	return kusttypes.Image{}, false
}

// deployment returns the Deployment called name whose only container runs
// the binary name, or nil.
func (d deployment) deployment(name string) *appsv1.Deployment {
	for _, dep := range manifest.As[*appsv1.Deployment](d.objs) {
		if dep.Name != name || len(dep.Spec.Template.Spec.Containers) != 1 {
			continue
		}
		if bin, ok := binaryOfImage(dep.Spec.Template.Spec.Containers[0].Image); ok && bin == name {
			return dep
		}
	}
	return nil
}

// topicsJobArgs returns the arguments of each Job running vidpipectl.
func (d deployment) topicsJobArgs() [][]string {
	var out [][]string
	for _, j := range manifest.As[*batchv1.Job](d.objs) {
		for _, ctr := range j.Spec.Template.Spec.Containers {
			if bin, ok := binaryOfImage(ctr.Image); ok && bin == "vidpipectl" {
				out = append(out, append(slices.Clone(ctr.Command), ctr.Args...))
			}
		}
	}
	return out
}

func (d deployment) jobRunsTopicsCreate() bool {
	return slices.ContainsFunc(d.topicsJobArgs(), isTopicsCreate)
}

func (d deployment) jobCreates(topic string) bool {
	for _, args := range d.topicsJobArgs() {
		if slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, topic) }) {
			return true
		}
	}
	return false
}

// scaledObjectProblems checks the stage's KEDA ScaledObject: it scales the
// stage's Deployment on the lag of the stage's consumer group on its input.
func (c pieceCheck) scaledObjectProblems(file string) []string {
	group, input := contract.Stage(c.bin).Group(), c.stage.Input
	for _, so := range manifest.As[*keda.ScaledObject](c.d.objs) {
		if so.Spec.ScaleTargetRef == nil || so.Spec.ScaleTargetRef.Name != c.bin {
			continue
		}
		for _, tr := range so.Spec.Triggers {
			if tr.Type == "kafka" && tr.Metadata["consumerGroup"] == group && tr.Metadata["topic"] == input {
				return nil
			}
		}
		var got []string
		for _, tr := range so.Spec.Triggers {
			got = append(got, fmt.Sprintf("%s consumerGroup %q topic %q", tr.Type, tr.Metadata["consumerGroup"], tr.Metadata["topic"]))
		}
		return []string{fmt.Sprintf("%s has a ScaledObject in %s triggered by %v: want a kafka trigger with consumerGroup %q (its group) and topic %q (its input)", c.who, file, got, group, input)}
	}
	return []string{fmt.Sprintf("%s has no KEDA ScaledObject in %s: add one targeting Deployment %q with a kafka trigger on consumerGroup %q and topic %q", c.who, file, c.bin, group, input)}
}

// pdbCovers reports whether a PodDisruptionBudget selects pods with labels.
func (d deployment) pdbCovers(podLabels map[string]string) bool {
	for _, p := range manifest.As[*policyv1.PodDisruptionBudget](d.objs) {
		if selects(p.Spec.Selector, podLabels) {
			return true
		}
	}
	return false
}

// netpolProblems checks that a NetworkPolicy selects the pods with labels.
func (c pieceCheck) netpolProblems(podLabels map[string]string, name string) []string {
	for _, pol := range manifest.As[*networkingv1.NetworkPolicy](c.d.objs) {
		if selects(&pol.Spec.PodSelector, podLabels) {
			return nil
		}
	}
	return []string{fmt.Sprintf("%s has no NetworkPolicy in %s: add one selecting %s: %s%s (egress: DNS and the endpoints its configuration names)",
		c.who, netpolFile, nameLabel, name, c.likeIt(" like %q"))}
}

// selects reports whether a non-empty selector matches podLabels.
func selects(sel *metav1.LabelSelector, podLabels map[string]string) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(podLabels))
}

// The deployment has every piece of every stage of the pipeline table,
// upload-api and vidpipectl.
func TestPipelineDeployed(t *testing.T) {
	t.Parallel()
	for _, p := range pipelineProblems(contract.DefaultPipeline(), MustDeployment(t)) {
		t.Error(p)
	}
}

// A stage declared in the table but in no deploy file: the check names
// every missing piece, each with the file to edit. These are the messages
// someone adding a stage meets first (docs/adding-a-stage.md).
func TestPipelineCheckNamesMissingPieces(t *testing.T) {
	t.Parallel()
	p, err := contract.DefaultPipeline().With(contract.StageSpec{
		Name: "captions", Input: contract.TopicReady, DLQ: "video.captions.dlq",
		Output: contract.Step{Topic: "video.captioned", Type: "vidpipe.video.captioned", Status: "captioned", Decode: contract.DecodeAs[contract.VideoReady]},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := pipelineProblems(p, MustDeployment(t))
	const who = `stage "captions" (contract.DefaultPipeline) `
	want := []string{
		who + `has no main package: create services/captions/cmd/captions (module github.com/vidpipe/vidpipe/services/captions, listed in go.work)`,
		who + `has no service in docker-compose.yml: add one like "indexer", built with target "static-worker" or "media-worker" (deploy/Dockerfile) and args SERVICE: captions`,
		who + `has no section in docs/configuration.md: run make docs (once its main package loads its configuration with platform/config)`,
		who + `has no image in deploy/k8s/base/kustomization.yaml: add "- name: vidpipe/captions" with "newTag: dev" under images`,
		who + `has no manifest in deploy/k8s/base: add captions.yaml like "indexer.yaml" (Deployment, ScaledObject, PodDisruptionBudget) and list it under resources in deploy/k8s/base/kustomization.yaml`,
		who + `has no Deployment in deploy/k8s/base: add one named "captions" running vidpipe/captions in deploy/k8s/base/captions.yaml`,
		who + `has no KEDA ScaledObject in deploy/k8s/base/captions.yaml: add one targeting Deployment "captions" with a kafka trigger on consumerGroup "captions" and topic "video.ready"`,
		who + `has no NetworkPolicy in deploy/k8s/base/networkpolicies.yaml: add one selecting app.kubernetes.io/name: captions like "indexer" (egress: DNS and the endpoints its configuration names)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("pipelineProblems:\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// Pieces removed from the real files (in memory): each removal is named,
// for a stage and for upload-api and vidpipectl alike.
func TestPipelineCheckNamesBrokenPieces(t *testing.T) {
	t.Parallel()
	d := MustDeployment(t)
	delete(d.compose.Services, "thumbnail")
	// indexer's image from a target of its own (as before the generic
	// worker targets), transcode no longer built.
	ix := d.compose.Services["indexer"]
	ixBuild := *ix.Build
	ixBuild.Target, ixBuild.Args = "indexer", nil
	ix.Build = &ixBuild
	d.compose.Services["indexer"] = ix
	d.built = maps.Clone(d.built)
	delete(d.built, "transcode")
	ki := d.compose.Services[topicsInit]
	ki.Command = types.ShellCommand{"topics", "list"}
	d.compose.Services[topicsInit] = ki
	d.kust.Images = slices.DeleteFunc(slices.Clone(d.kust.Images), func(im kusttypes.Image) bool { return im.Name == "vidpipe/indexer" })
	// thumbnail's binary answers --config-reference as the probe does
	// (it parses its flags with package flag: an unknown flag); the error
	// is the probe's own.
	d.described = maps.Clone(d.described)
	_, d.described["thumbnail"] = MustShippedBinaries(t).Reference(t.Context(), healthcheck)
	d.objs = slices.DeleteFunc(slices.Clone(d.objs), func(o manifest.Object) bool {
		return (o.Kind == "ScaledObject" && o.Name() == "transcode") || (o.Kind == "NetworkPolicy" && o.Name() == "vidpipe-topics") ||
			(o.Kind == "Deployment" && o.Name() == "upload-api")
	})
	got := pipelineProblems(contract.DefaultPipeline(), d)
	want := []string{
		`binary "upload-api" has no topic "video.uploaded" created by kafka-init in docker-compose.yml: let it run "vidpipectl topics create", which creates every topic of contract.DefaultPipeline()`,
		`binary "upload-api" has no Deployment in deploy/k8s/base: add one named "upload-api" running vidpipe/upload-api in deploy/k8s/base/upload-api.yaml`,
		`stage "transcode" (contract.DefaultPipeline) is not built by deploy/Dockerfile: add ./services/transcode/cmd/transcode to the builder's go build`,
		`stage "transcode" (contract.DefaultPipeline) has no topic "video.transcoded" created by kafka-init in docker-compose.yml: let it run "vidpipectl topics create", which creates every topic of contract.DefaultPipeline()`,
		`stage "transcode" (contract.DefaultPipeline) has no topic "video.transcode.dlq" created by kafka-init in docker-compose.yml: let it run "vidpipectl topics create", which creates every topic of contract.DefaultPipeline()`,
		`stage "transcode" (contract.DefaultPipeline) has no KEDA ScaledObject in deploy/k8s/base/transcode.yaml: add one targeting Deployment "transcode" with a kafka trigger on consumerGroup "transcode" and topic "video.uploaded"`,
		`stage "thumbnail" (contract.DefaultPipeline) has no service in docker-compose.yml: add one like "transcode", built with target "static-worker" or "media-worker" (deploy/Dockerfile) and args SERVICE: thumbnail`,
		`stage "thumbnail" (contract.DefaultPipeline) has no topic "video.thumbnailed" created by kafka-init in docker-compose.yml: let it run "vidpipectl topics create", which creates every topic of contract.DefaultPipeline()`,
		`stage "thumbnail" (contract.DefaultPipeline) has no topic "video.thumbnail.dlq" created by kafka-init in docker-compose.yml: let it run "vidpipectl topics create", which creates every topic of contract.DefaultPipeline()`,
		`stage "thumbnail" (contract.DefaultPipeline) does not describe its configuration (healthcheck --config-reference: flag provided but not defined: -config-reference): services/thumbnail/cmd/thumbnail must load it with config.Load (platform/config) and return nil on config.ErrHelp, as "transcode" does`,
		`stage "indexer" (contract.DefaultPipeline) is built with target "indexer" and no args SERVICE in docker-compose.yml: want it built with target "static-worker" or "media-worker" (deploy/Dockerfile) and args SERVICE: indexer`,
		`stage "indexer" (contract.DefaultPipeline) has no topic "video.ready" created by kafka-init in docker-compose.yml: let it run "vidpipectl topics create", which creates every topic of contract.DefaultPipeline()`,
		`stage "indexer" (contract.DefaultPipeline) has no topic "video.indexer.dlq" created by kafka-init in docker-compose.yml: let it run "vidpipectl topics create", which creates every topic of contract.DefaultPipeline()`,
		`stage "indexer" (contract.DefaultPipeline) has no image in deploy/k8s/base/kustomization.yaml: add "- name: vidpipe/indexer" with "newTag: dev" under images`,
		`binary "vidpipectl" has no NetworkPolicy in deploy/k8s/base/networkpolicies.yaml: add one selecting app.kubernetes.io/name: vidpipe-topics (egress: DNS and the endpoints its configuration names)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("pipelineProblems:\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

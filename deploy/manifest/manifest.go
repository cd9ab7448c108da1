// Package manifest decodes Kubernetes manifests strictly, the way the API
// server's strict field validation does: every YAML document is converted
// to JSON (duplicate keys are an error), its apiVersion and kind pick a Go
// type, and the document is decoded into it with unknown fields,
// duplicate fields and wrongly-cased field names rejected. A typo in a
// manifest (readinessProbe.httpget, terminationGracePeriod) is therefore
// an error here instead of a field kubectl drops or the server refuses.
package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"

	"github.com/vidpipe/vidpipe/deploy/keda"
)

// Object is one decoded document.
type Object struct {
	// Source is "path#index" (index counts documents from 0).
	Source     string
	APIVersion string
	Kind       string
	// Obj points to the typed object, e.g. *appsv1.Deployment.
	Obj any
}

// Name returns the object's metadata.name ("" for a Kustomization).
func (o Object) Name() string {
	if m, ok := o.Obj.(interface{ GetName() string }); ok {
		return m.GetName()
	}
	return ""
}

// kinds maps apiVersion/kind to a constructor of the Go type.
var kinds = map[string]func() any{
	"v1/Namespace":                       func() any { return new(corev1.Namespace) },
	"v1/ConfigMap":                       func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                          func() any { return new(corev1.Secret) },
	"v1/Service":                         func() any { return new(corev1.Service) },
	"v1/ServiceAccount":                  func() any { return new(corev1.ServiceAccount) },
	"apps/v1/Deployment":                 func() any { return new(appsv1.Deployment) },
	"batch/v1/Job":                       func() any { return new(batchv1.Job) },
	"policy/v1/PodDisruptionBudget":      func() any { return new(policyv1.PodDisruptionBudget) },
	"networking.k8s.io/v1/NetworkPolicy": func() any { return new(networkingv1.NetworkPolicy) },
	keda.APIVersion + "/ScaledObject":    func() any { return new(keda.ScaledObject) },
	kusttypes.KustomizationVersion + "/" + kusttypes.KustomizationKind: func() any { return new(kusttypes.Kustomization) },
}

// Kinds lists the apiVersion/kind pairs Decode knows.
func Kinds() []string { return slices.Sorted(maps.Keys(kinds)) }

// Decode decodes every document of a (multi-document) YAML manifest.
// Empty documents are skipped; any other problem is an error naming
// source and the document index.
func Decode(source string, data []byte) ([]Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []Object
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: split documents: %w", source, err)
		}
		where := fmt.Sprintf("%s#%d", source, i)
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, err := decodeOne(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		obj.Source = where
		out = append(out, obj)
	}
}

// decodeOne strictly decodes one YAML document.
func decodeOne(doc []byte) (Object, error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return Object{}, fmt.Errorf("yaml: %w", err)
	}
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(js, &tm); err != nil {
		return Object{}, fmt.Errorf("not an object: %w", err)
	}
	if tm.APIVersion == "" || tm.Kind == "" {
		return Object{}, errors.New("apiVersion and kind are required")
	}
	newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return Object{}, fmt.Errorf("unknown kind %s %s (known: %s)", tm.APIVersion, tm.Kind, strings.Join(Kinds(), ", "))
	}
	obj := newObj()
	strict, err := sigsjson.UnmarshalStrict(js, obj, sigsjson.DisallowUnknownFields)
	if err != nil {
		return Object{}, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if len(strict) > 0 {
		return Object{}, fmt.Errorf("%s: strict decoding: %w", tm.Kind, errors.Join(strict...))
	}
	return Object{APIVersion: tm.APIVersion, Kind: tm.Kind, Obj: obj}, nil
}

// stripComments drops full-line YAML comments (a document made only of
// comments is empty).
func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for line := range bytes.Lines(doc) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			b.Write(line)
		}
	}
	return b.Bytes()
}

// As returns the objects of type T among objs.
func As[T any](objs []Object) []T {
	var out []T
	for _, o := range objs {
		if t, ok := o.Obj.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

package manifest_test

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/vidpipe/vidpipe/deploy/keda"
	"github.com/vidpipe/vidpipe/deploy/manifest"
)

const good = `# leading comment
apiVersion: v1
kind: ConfigMap
metadata:
  name: common
data:
  VIDPIPE_LOG_LEVEL: info
---
# a document of comments only
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: transcode
spec:
  selector:
    matchLabels: {app: transcode}
  template:
    metadata:
      labels: {app: transcode}
    spec:
      containers:
        - name: transcode
          image: vidpipe/transcode
          readinessProbe:
            httpGet: {path: /readyz, port: 8081}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: transcode
spec:
  scaleTargetRef: {name: transcode}
  maxReplicaCount: 6
  triggers:
    - type: kafka
      metadata: {topic: video.uploaded}
`

func TestDecode(t *testing.T) {
	t.Parallel()
	objs, err := manifest.Decode("good.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 {
		t.Fatalf("decoded %d objects, want 3 (the comment-only document skipped)", len(objs))
	}
	if objs[1].Source != "good.yaml#2" || objs[1].Kind != "Deployment" || objs[1].Name() != "transcode" {
		t.Errorf("second object = %+v, want the Deployment from document 2", objs[1])
	}
	if cms := manifest.As[*corev1.ConfigMap](objs); len(cms) != 1 || cms[0].Data["VIDPIPE_LOG_LEVEL"] != "info" {
		t.Errorf("ConfigMaps = %+v", cms)
	}
	d := manifest.As[*appsv1.Deployment](objs)
	if len(d) != 1 || d[0].Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Port.IntValue() != 8081 {
		t.Errorf("Deployments = %+v", d)
	}
	so := manifest.As[*keda.ScaledObject](objs)
	if len(so) != 1 || *so[0].Spec.MaxReplicaCount != 6 || so[0].Spec.Triggers[0].Metadata["topic"] != "video.uploaded" {
		t.Errorf("ScaledObjects = %+v", so)
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		doc, wantErr string
	}{
		"unknown field": {
			doc:     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndatas: {}\n",
			wantErr: `unknown field "datas"`,
		},
		"nested unknown field": {
			doc:     "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      terminationGracePeriod: 30\n",
			wantErr: `unknown field "spec.template.spec.terminationGracePeriod"`,
		},
		"wrong case": {
			doc:     "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {Replicas: 2}\n",
			wantErr: `unknown field "spec.Replicas"`,
		},
		"duplicate key": {
			doc:     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {A: '1', A: '2'}\n",
			wantErr: "already set",
		},
		"wrong type": {
			doc:     "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two}\n",
			wantErr: "Deployment",
		},
		"keda unknown field": {
			doc:     "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\nspec: {scaleTargetRef: {name: x}, maxReplicas: 6, triggers: []}\n",
			wantErr: `unknown field "spec.maxReplicas"`,
		},
		"unknown kind": {
			doc:     "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\n",
			wantErr: "unknown kind apps/v1 StatefulSet",
		},
		"no kind": {
			doc:     "apiVersion: v1\nmetadata: {name: x}\n",
			wantErr: "apiVersion and kind are required",
		},
		"not a mapping": {
			doc:     "- a\n- b\n",
			wantErr: "not an object",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := manifest.Decode("bad.yaml", []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\n"+tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "bad.yaml#1") {
				t.Fatalf("Decode = %v, want an error at bad.yaml#1 containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestKinds(t *testing.T) {
	t.Parallel()
	kinds := strings.Join(manifest.Kinds(), " ")
	for _, k := range []string{"apps/v1/Deployment", "keda.sh/v1alpha1/ScaledObject", "policy/v1/PodDisruptionBudget", "kustomize.config.k8s.io/v1beta1/Kustomization"} {
		if !strings.Contains(kinds, k) {
			t.Errorf("Kinds() = %s, lacks %s", kinds, k)
		}
	}
}

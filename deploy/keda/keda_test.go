package keda_test

import (
	"testing"

	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/vidpipe/vidpipe/deploy/keda"
)

// full uses every spec field of KEDA's ScaledObject reference
// (https://keda.sh/docs/latest/reference/scaledobject-spec/), so the mirror
// accepts what KEDA accepts.
const full = `
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: transcode
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: transcode
    envSourceContainerName: transcode
  pollingInterval: 30
  initialCooldownPeriod: 0
  cooldownPeriod: 300
  idleReplicaCount: 0
  minReplicaCount: 1
  maxReplicaCount: 6
  fallback:
    failureThreshold: 3
    replicas: 2
    behavior: currentReplicasIfHigher
  advanced:
    restoreToOriginalReplicaCount: true
    horizontalPodAutoscalerConfig:
      name: keda-hpa-transcode
      behavior:
        scaleDown:
          stabilizationWindowSeconds: 300
          policies:
            - type: Pods
              value: 1
              periodSeconds: 60
    scalingModifiers:
      formula: "lag"
      target: "2"
      activationTarget: "1"
      metricType: AverageValue
  triggers:
    - type: kafka
      name: lag
      useCachedMetrics: false
      metricType: AverageValue
      authenticationRef:
        name: kafka-auth
        kind: TriggerAuthentication
      metadata:
        bootstrapServers: kafka:9092
        consumerGroup: transcode
        topic: video.uploaded
        lagThreshold: "2"
`

func TestScaledObjectMirrorsKEDA(t *testing.T) {
	t.Parallel()
	js, err := yaml.YAMLToJSONStrict([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	var so keda.ScaledObject
	strict, err := sigsjson.UnmarshalStrict(js, &so, sigsjson.DisallowUnknownFields)
	if err != nil || len(strict) > 0 {
		t.Fatalf("decode the reference ScaledObject: %v %v", err, strict)
	}
	if so.Spec.ScaleTargetRef.Name != "transcode" || *so.Spec.MaxReplicaCount != 6 ||
		so.Spec.Advanced.HorizontalPodAutoscalerConfig.Behavior.ScaleDown.Policies[0].Value != 1 ||
		so.Spec.Triggers[0].AuthenticationRef.Name != "kafka-auth" || so.Spec.Fallback.Replicas != 2 {
		t.Errorf("decoded %+v", so.Spec)
	}
	for k := range so.Spec.Triggers[0].Metadata {
		found := false
		for _, known := range keda.KafkaMetadata {
			found = found || known == k
		}
		if !found {
			t.Errorf("KafkaMetadata lacks %q", k)
		}
	}
}

package deploy_test

import (
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The upload-api replicas are interchangeable (tus locks in PostgreSQL,
// one signing key): the Deployment's replica count is what api.replicas
// says, the signing key comes from a Secret every pod reads, and the
// Service routes without stickiness.
func TestK8sAPIReplicas(t *testing.T) {
	t.Parallel()
	c := MustCluster(t)
	d, ok := c.deployments["upload-api"]
	if !ok {
		t.Fatal("no Deployment upload-api")
	}
	ctr, _ := MustContainer(t, "Deployment upload-api", d.Spec.Template.Spec)
	env := map[string]string{}
	for _, e := range ctr.Env {
		env[e.Name] = e.Value
	}
	n, err := strconv.Atoi(env["VIDPIPE_API_REPLICAS"])
	if err != nil || d.Spec.Replicas == nil || int32(n) != *d.Spec.Replicas {
		t.Errorf("VIDPIPE_API_REPLICAS %q, want the Deployment's replicas (%v)", env["VIDPIPE_API_REPLICAS"], d.Spec.Replicas)
	}
	if *d.Spec.Replicas < 2 {
		t.Errorf("upload-api replicas %d, want at least 2", *d.Spec.Replicas)
	}
	fromSecret := false
	for _, e := range ctr.Env {
		if e.Name == "VIDPIPE_API_SIGNING_KEY" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			fromSecret = true
		}
	}
	for _, src := range ctr.EnvFrom {
		if src.SecretRef == nil {
			continue
		}
		if s, ok := c.secrets[src.SecretRef.Name]; ok {
			if _, has := s.StringData["VIDPIPE_API_SIGNING_KEY"]; has {
				fromSecret = true
			}
			if _, has := s.Data["VIDPIPE_API_SIGNING_KEY"]; has {
				fromSecret = true
			}
		}
	}
	if !fromSecret {
		t.Error("upload-api: VIDPIPE_API_SIGNING_KEY does not come from a Secret (every replica needs the same key)")
	}
	if svc, ok := c.services["upload-api"]; ok && svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		t.Error("Service upload-api has ClientIP session affinity; replicas share tus locks in PostgreSQL and need none")
	}
}

package deploy_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The services get a dedicated MinIO user limited to the bucket by a
// policy that minio-init creates; the root credentials reach only minio and
// minio-init.
func TestComposeMinIOUserIsNotRoot(t *testing.T) {
	t.Parallel()
	p := MustCompose(t)
	df := MustDockerfile(t)
	minio, ok := p.Services["minio"]
	if !ok {
		t.Fatal("no minio service")
	}
	env := composeEnv(t, df, minio)
	rootUser, rootPass := env["MINIO_ROOT_USER"], env["MINIO_ROOT_PASSWORD"]
	if rootUser == "" || rootPass == "" {
		t.Fatal("minio: MINIO_ROOT_USER and MINIO_ROOT_PASSWORD must be set")
	}
	var key, secret, bucket string
	for name, s := range p.Services {
		if name == "minio" || name == "minio-init" {
			continue
		}
		env := composeEnv(t, df, s)
		for k, v := range env {
			if strings.Contains(v, rootPass) {
				t.Errorf("service %s: %s carries the MinIO root password", name, k)
			}
		}
		k, ok := env["VIDPIPE_S3_ACCESS_KEY"]
		if !ok {
			continue
		}
		if k == rootUser {
			t.Errorf("service %s uses the MinIO root user %q", name, k)
		}
		if key == "" {
			key, secret, bucket = k, env["VIDPIPE_S3_SECRET_KEY"], env["VIDPIPE_S3_BUCKET"]
		} else if k != key || env["VIDPIPE_S3_SECRET_KEY"] != secret || env["VIDPIPE_S3_BUCKET"] != bucket {
			t.Errorf("service %s: S3 user or bucket differs from the other services'", name)
		}
	}
	if key == "" || bucket == "" {
		t.Fatal("no service has S3 credentials")
	}

	// minio-init, as root, creates exactly that user and attaches a policy
	// limited to the bucket.
	initSvc := p.Services["minio-init"]
	initEnv := composeEnv(t, df, initSvc)
	if want := "http://" + rootUser + ":" + rootPass + "@minio:9000"; initEnv["MC_HOST_root"] != want {
		t.Errorf("minio-init: MC_HOST_root = %q, want the root credentials", initEnv["MC_HOST_root"])
	}
	script := strings.Join(initSvc.Command, " ")
	for _, want := range []string{
		"mc mb --ignore-existing root/" + bucket,
		"mc admin user add root " + key + " " + secret,
	} {
		if !strings.Contains(script, want) {
			t.Errorf("minio-init does not run %q:\n%s", want, script)
		}
	}
	create := regexp.MustCompile(`mc admin policy create root (\S+) (\S+)`).FindStringSubmatch(script)
	if create == nil {
		t.Fatalf("minio-init creates no policy:\n%s", script)
	}
	if !strings.Contains(script, "mc admin policy attach root "+create[1]+" --user "+key) {
		t.Errorf("minio-init does not attach policy %s to %s", create[1], key)
	}
	var content string
	for _, c := range initSvc.Configs {
		if c.Target == create[2] {
			content = p.Configs[c.Source].Content
		}
	}
	if content == "" {
		t.Fatalf("minio-init: no config mounted at %s", create[2])
	}
	var policy struct {
		Statement []struct {
			Effect   string
			Action   []string
			Resource []string
		}
	}
	if err := json.Unmarshal([]byte(content), &policy); err != nil || len(policy.Statement) == 0 {
		t.Fatalf("policy: %v %q", err, content)
	}
	for _, st := range policy.Statement {
		for _, r := range st.Resource {
			if st.Effect == "Allow" && !slices.Contains([]string{"arn:aws:s3:::" + bucket, "arn:aws:s3:::" + bucket + "/*"}, r) {
				t.Errorf("policy allows %v on %s, outside bucket %s", st.Action, r, bucket)
			}
		}
		for _, a := range st.Action {
			if st.Effect == "Allow" && strings.HasPrefix(a, "admin:") {
				t.Errorf("policy allows %s", a)
			}
		}
	}
}

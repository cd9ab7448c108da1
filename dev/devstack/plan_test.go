package devstack

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/platform/config"
)

func TestPlanPorts(t *testing.T) {
	infra := map[int]string{9092: "--kafka-port (Kafka)", 9000: "--s3-port (MinIO)", 5432: "--pg-port (PostgreSQL)"}
	tests := map[string]struct {
		scale   Scale
		apiPort int
		want    []string // name:port, +ops:port for upload-api
		wantErr string
	}{
		"default": {scaleOf(testServices), 8080,
			[]string{"upload-api-1:8080+ops:8084", "transcode-1:8081", "thumbnail-1:8082", "indexer-1:8083"}, ""},
		"two transcoders": {Scale{UploadAPI: 1, Transcode: 2, Thumbnail: 1, Indexer: 1}, 8080,
			[]string{"upload-api-1:8080+ops:8085", "transcode-1:8081", "transcode-2:8082", "thumbnail-1:8083", "indexer-1:8084"}, ""},
		"two APIs first": {Scale{UploadAPI: 2, Transcode: 1, Thumbnail: 1, Indexer: 1}, 8080,
			[]string{"upload-api-1:8080+ops:8085", "upload-api-2:8081+ops:8086", "transcode-1:8082", "thumbnail-1:8083", "indexer-1:8084"}, ""},
		"no API": {Scale{Transcode: 1, Thumbnail: 0, Indexer: 1}, 8080,
			[]string{"transcode-1:8081", "indexer-1:8082"}, ""},
		"API only":      {Scale{UploadAPI: 1}, 8080, []string{"upload-api-1:8080+ops:8081"}, ""},
		"nothing":       {Scale{}, 8080, nil, ""},
		"other base":    {Scale{UploadAPI: 1, Indexer: 1}, 18000, []string{"upload-api-1:18000+ops:18002", "indexer-1:18001"}, ""},
		"hits kafka":    {Scale{UploadAPI: 1, Transcode: 3}, 9089, nil, "transcode-3 would listen on port 9092, which is --kafka-port (Kafka)"},
		"ops on kafka":  {Scale{UploadAPI: 1, Transcode: 2}, 9089, nil, "upload-api-1 would listen on port 9092, which is --kafka-port (Kafka)"},
		"api on minio":  {Scale{UploadAPI: 1}, 9000, nil, "upload-api-1 would listen on port 9000, which is --s3-port (MinIO)"},
		"out of range":  {Scale{Indexer: 2}, 65534, nil, "indexer-2 would listen on port 65536, out of range"},
		"ops too high":  {Scale{UploadAPI: 1, Indexer: 1}, 65534, nil, "upload-api-1 would listen on port 65536, out of range"},
		"ports go high": {Scale{UploadAPI: 1, Indexer: 1}, 65533, []string{"upload-api-1:65533+ops:65535", "indexer-1:65534"}, ""},
	}
	withHooks := append(slices.Clone(testServices), Webhooks)
	tests["webhooks after the ops ports"] = struct {
		scale   Scale
		apiPort int
		want    []string
		wantErr string
	}{scaleOf(withHooks), 8080, []string{"upload-api-1:8080+ops:8084", "transcode-1:8081", "thumbnail-1:8082", "indexer-1:8083", "webhooks-1:8085"}, ""}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			children, err := Plan(append(slices.Clone(testServices), Webhooks), tc.scale, tc.apiPort, infra)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Plan = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range children {
				s := c.Name + ":" + strconv.Itoa(c.Port)
				if c.OpsPort != 0 {
					s += "+ops:" + strconv.Itoa(c.OpsPort)
				}
				if (c.OpsPort != 0) != (c.Service == UploadAPI) {
					t.Errorf("child %+v: an operations port is for upload-api only, and it needs one", c)
				}
				got = append(got, s)
				if !strings.HasPrefix(c.Name, c.Service+"-") || c.Name != c.Service+"-"+strconv.Itoa(c.Copy) {
					t.Errorf("child %+v: name is not SERVICE-COPY", c)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Plan = %v, want %v", got, tc.want)
			}
		})
	}
}

var testEndpoints = Endpoints{
	Brokers:     "127.0.0.1:9092",
	S3Endpoint:  "127.0.0.1:9000",
	Bucket:      "vidpipe",
	AccessKey:   "minioadmin",
	SecretKey:   "minioadmin",
	Region:      "us-east-1",
	PostgresURL: "postgres://vidpipe@127.0.0.1:5432/vidpipe?sslmode=disable",
}

func TestChildEnv(t *testing.T) {
	opts := EnvOptions{Endpoints: testEndpoints, Partitions: 6, SigningKey: "0123456789abcdef0123"}
	common := map[string]string{
		"VIDPIPE_KAFKA_BROKERS":    "127.0.0.1:9092",
		"VIDPIPE_KAFKA_PARTITIONS": "6",
		"VIDPIPE_LOG_FORMAT":       "text",
	}
	s3 := map[string]string{
		"VIDPIPE_S3_ENDPOINT":   "127.0.0.1:9000",
		"VIDPIPE_S3_BUCKET":     "vidpipe",
		"VIDPIPE_S3_ACCESS_KEY": "minioadmin",
		"VIDPIPE_S3_SECRET_KEY": "minioadmin",
		"VIDPIPE_S3_REGION":     "us-east-1",
		"VIDPIPE_S3_USE_SSL":    "false",
		"VIDPIPE_S3_PATH_STYLE": "true",
	}
	pg := map[string]string{"VIDPIPE_POSTGRES_URL": "postgres://vidpipe@127.0.0.1:5432/vidpipe?sslmode=disable"}
	merge := func(ms ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	tests := map[string]struct {
		child Child
		want  map[string]string
	}{
		"upload-api": {Child{Name: "upload-api-1", Service: UploadAPI, Copy: 1, Port: 8080, OpsPort: 8084}, merge(common, s3, pg, map[string]string{
			"VIDPIPE_KAFKA_CLIENT_ID":        "upload-api-1",
			"VIDPIPE_API_ADDR":               "127.0.0.1:8080",
			"VIDPIPE_API_OPS_ADDR":           "127.0.0.1:8084",
			"VIDPIPE_API_PUBLIC_URL":         "http://127.0.0.1:8080",
			"VIDPIPE_API_TOKENS":             "dev-alice=alice,dev-bob=bob,dev-admin=admin",
			"VIDPIPE_API_ADMINS":             "admin",
			"VIDPIPE_API_SIGNING_KEY":        "0123456789abcdef0123",
			"VIDPIPE_API_SHUTDOWN_TIMEOUT":   "10s",
			"VIDPIPE_WEBHOOKS_ALLOW_PRIVATE": "true",
		})},
		"webhooks": {Child{Name: "webhooks-1", Service: Webhooks, Copy: 1, Port: 8085}, merge(common, pg, map[string]string{
			"VIDPIPE_KAFKA_CLIENT_ID":        "webhooks-1",
			"VIDPIPE_WEBHOOKS_OPS_ADDR":      "127.0.0.1:8085",
			"VIDPIPE_WEBHOOKS_ALLOW_PRIVATE": "true",
		})},
		"second transcoder": {Child{Name: "transcode-2", Service: Transcode, Copy: 2, Port: 8082}, merge(common, s3, map[string]string{
			"VIDPIPE_KAFKA_CLIENT_ID":      "transcode-2",
			"VIDPIPE_STAGE_HTTP_ADDR":      "127.0.0.1:8082",
			"VIDPIPE_STAGE_SHUTDOWN_GRACE": "10s",
		})},
		"thumbnail": {Child{Name: "thumbnail-1", Service: Thumbnail, Copy: 1, Port: 8083}, merge(common, s3, map[string]string{
			"VIDPIPE_KAFKA_CLIENT_ID":      "thumbnail-1",
			"VIDPIPE_STAGE_HTTP_ADDR":      "127.0.0.1:8083",
			"VIDPIPE_STAGE_SHUTDOWN_GRACE": "10s",
		})},
		"indexer has no S3": {Child{Name: "indexer-1", Service: Indexer, Copy: 1, Port: 8084}, merge(common, pg, map[string]string{
			"VIDPIPE_KAFKA_CLIENT_ID":      "indexer-1",
			"VIDPIPE_STAGE_HTTP_ADDR":      "127.0.0.1:8084",
			"VIDPIPE_STAGE_SHUTDOWN_GRACE": "10s",
		})},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			env := ChildEnv(tc.child, opts)
			if !slices.IsSorted(env) {
				t.Errorf("env not sorted: %q", env)
			}
			got := map[string]string{}
			for _, kv := range env {
				k, v, _ := strings.Cut(kv, "=")
				got[k] = v
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			for k := range got {
				if _, ok := tc.want[k]; !ok {
					t.Errorf("unexpected %s=%s", k, got[k])
				}
			}
		})
	}
}

func TestChildEnvWithoutSigningKey(t *testing.T) {
	env := ChildEnv(Child{Name: "upload-api-1", Service: UploadAPI, Copy: 1, Port: 8080}, EnvOptions{Endpoints: testEndpoints})
	for _, kv := range env {
		if strings.HasPrefix(kv, "VIDPIPE_API_SIGNING_KEY=") {
			t.Errorf("signing key set without one: %q", kv)
		}
	}
	// Without an operations port the API takes any free one, never the
	// default 127.0.0.1:8090 that two copies would fight over.
	if !slices.Contains(env, "VIDPIPE_API_OPS_ADDR=127.0.0.1:0") {
		t.Errorf("no api.ops_addr on a free port: %q", env)
	}
}

// TestChildEnvKeysAreConfigKeys checks that every variable of a shared
// section names a key of that section (the services' own "api" keys are
// checked against upload-api/config.go by its tests, out of this module).
func TestChildEnvKeysAreConfigKeys(t *testing.T) {
	known := map[string]bool{}
	for prefix, section := range map[string]any{
		"kafka": config.Kafka{}, "s3": config.S3{}, "postgres": config.Postgres{}, "stage": config.Stage{}, "log": config.Log{},
	} {
		for _, k := range config.Keys(section) {
			known[config.EnvName(prefix+"."+k.Name)] = true
		}
	}
	for _, svc := range Services {
		for _, kv := range ChildEnv(Child{Name: svc + "-1", Service: svc, Copy: 1, Port: 8080}, EnvOptions{Endpoints: testEndpoints, SigningKey: "k"}) {
			name, _, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(name, "VIDPIPE_API_") || strings.HasPrefix(name, "VIDPIPE_WEBHOOKS_") {
				continue
			}
			if !known[name] {
				t.Errorf("%s: %s is not a configuration key of a shared section", svc, name)
			}
		}
	}
}

func TestMergeEnv(t *testing.T) {
	tests := map[string]struct {
		base, over, want []string
	}{
		"adds":       {[]string{"PATH=/bin"}, []string{"VIDPIPE_X=1"}, []string{"PATH=/bin", "VIDPIPE_X=1"}},
		"replaces":   {[]string{"VIDPIPE_X=old", "HOME=/root"}, []string{"VIDPIPE_X=new"}, []string{"HOME=/root", "VIDPIPE_X=new"}},
		"keeps rest": {[]string{"VIDPIPE_TRANSCODE_PRESET=fast"}, []string{"VIDPIPE_X=1"}, []string{"VIDPIPE_TRANSCODE_PRESET=fast", "VIDPIPE_X=1"}},
		"empty base": {nil, []string{"A=1"}, []string{"A=1"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := mergeEnv(tc.base, tc.over); !slices.Equal(got, tc.want) {
				t.Errorf("mergeEnv = %q, want %q", got, tc.want)
			}
		})
	}
}

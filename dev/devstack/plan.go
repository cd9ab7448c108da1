package devstack

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/platform/config"
)

// DevTokens are the API bearer tokens of the dev stack (api.tokens):
// dev-alice for user alice, dev-bob for user bob and dev-admin for user
// admin (DevAdmins). Never use them outside development.
const DevTokens = "dev-alice=alice,dev-bob=bob,dev-admin=admin"

// DevAdmins are the administrators of the dev stack (api.admins): admin,
// not alice nor bob.
const DevAdmins = "admin"

// DevAdminToken is the dev stack's token of user admin (DevAdmins).
const DevAdminToken = "dev-admin"

// DevToken is the token the printed commands and dev.env use.
const DevToken = "dev-alice"

// childShutdown is what the services get to stop gracefully
// (stage.shutdown_grace, api.shutdown_timeout): short, so that Ctrl-C is
// quick; the supervisor waits a little longer before it kills.
const childShutdown = 10 * time.Second

// Endpoints are the addresses and credentials of the dev stack, as dev.env
// exports them.
type Endpoints struct {
	// APIURL is the first upload-api copy, e.g. http://127.0.0.1:8080.
	APIURL string
	// APIOpsURL is the operations listener of that copy (/healthz,
	// /readyz, /metrics), e.g. http://127.0.0.1:8084.
	APIOpsURL string
	// Brokers is the Kafka bootstrap address, e.g. 127.0.0.1:9092.
	Brokers string
	// S3Endpoint is host:port of MinIO; Bucket, AccessKey, SecretKey and
	// Region are what the services use there.
	S3Endpoint string
	Bucket     string
	AccessKey  string
	SecretKey  string
	Region     string
	// PostgresURL is the services' database, e.g.
	// postgres://vidpipe@127.0.0.1:5432/vidpipe?sslmode=disable.
	PostgresURL string
}

// Child is one service process of the dev stack.
type Child struct {
	// Name is SERVICE-COPY, e.g. "transcode-2"; it prefixes the child's log
	// lines.
	Name    string
	Service string
	Copy    int // 1-based
	// Port is the child's HTTP port on 127.0.0.1: the API (api.addr) for
	// upload-api, /healthz, /readyz and /metrics (stage.http_addr) for a
	// worker, and the same (webhooks.ops_addr) for webhooks.
	Port int
	// OpsPort is upload-api's operations port on 127.0.0.1
	// (api.ops_addr: /healthz, /readyz, /metrics); 0 for a worker.
	OpsPort int
}

// ports returns the ports c listens on.
func (c Child) ports() []int {
	if c.OpsPort != 0 {
		return []int{c.Port, c.OpsPort}
	}
	return []int{c.Port}
}

// Plan returns the children of the stack for scale, in services order
// (ServicesOf the pipeline; a service of scale that is not in services does
// not run),
// copies in order, with their ports: upload-api copies take apiPort,
// apiPort+1, …, then each worker copy takes the next port (the first
// worker port is apiPort+1 when upload-api does not run), then each
// upload-api copy's operations port (OpsPort) the next ones: by default
// API 8080, workers 8081-8083, API operations 8084; webhooks copies take
// the ports after the operations ports (8085). reserved are ports
// the children must not take, e.g. Kafka's, with what holds them
// ("--kafka-port (Kafka)"). Plan fails when a port is out of range or
// reserved.
func Plan(services []string, scale Scale, apiPort int, reserved map[int]string) ([]Child, error) {
	var children []Child
	port := apiPort
	workerPort := apiPort + max(scale[UploadAPI], 1)
	for _, svc := range services {
		if svc == Webhooks {
			continue // after the operations ports, below
		}
		for i := 1; i <= scale[svc]; i++ {
			c := Child{Name: fmt.Sprintf("%s-%d", svc, i), Service: svc, Copy: i}
			if svc == UploadAPI {
				c.Port = port
				port++
			} else {
				c.Port = workerPort
				workerPort++
			}
			children = append(children, c)
		}
	}
	opsPort := workerPort
	for i := range children {
		if children[i].Service == UploadAPI {
			children[i].OpsPort = opsPort
			opsPort++
		}
	}
	if slices.Contains(services, Webhooks) {
		for i := 1; i <= scale[Webhooks]; i++ {
			children = append(children, Child{Name: fmt.Sprintf("%s-%d", Webhooks, i), Service: Webhooks, Copy: i, Port: opsPort})
			opsPort++
		}
	}
	for _, c := range children {
		for _, p := range c.ports() {
			if p < 1 || p > 65535 {
				return nil, fmt.Errorf("%s would listen on port %d, out of range: choose a lower --api-port", c.Name, p)
			}
			if what, ok := reserved[p]; ok {
				return nil, fmt.Errorf("%s would listen on port %d, which is %s: choose another --api-port (services use consecutive ports from it)", c.Name, p, what)
			}
		}
	}
	return children, nil
}

// EnvOptions are the settings ChildEnv gives the children.
type EnvOptions struct {
	// Endpoints of the infrastructure (APIURL is not read).
	Endpoints Endpoints
	// Partitions is kafka.partitions.
	Partitions int
	// SigningKey is api.signing_key, shared by the upload-api copies and
	// kept across runs so signed URLs keep working; empty leaves it unset.
	SigningKey string
}

// ChildEnv is the configuration of c as VIDPIPE_* variables
// ("NAME=value", sorted): every key of its service that the dev stack
// sets. Kafka: brokers, client id (the child's name), partitions. S3
// (not the indexer nor webhooks): endpoint, bucket, credentials, region, plain http,
// path-style. PostgreSQL (upload-api, indexer, webhooks): url. upload-api
// and webhooks: webhooks.allow_private (receivers on 127.0.0.1);
// webhooks: webhooks.ops_addr on its port. upload-api: api.addr
// and api.public_url on its port, api.ops_addr on its OpsPort (any free
// port when it has none), the dev tokens (DevTokens) and admins
// (DevAdmins), the signing key, a
// 10s shutdown. Workers: stage.http_addr on its port, a 10s
// shutdown grace. Logs: text.
func ChildEnv(c Child, o EnvOptions) []string {
	ep := o.Endpoints
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port))
	set := map[string]string{
		"kafka.brokers":    ep.Brokers,
		"kafka.client_id":  c.Name,
		"kafka.partitions": strconv.Itoa(o.Partitions),
		"log.format":       "text",
	}
	if c.Service != Indexer && c.Service != Webhooks {
		set["s3.endpoint"] = ep.S3Endpoint
		set["s3.bucket"] = ep.Bucket
		set["s3.access_key"] = ep.AccessKey
		set["s3.secret_key"] = ep.SecretKey
		set["s3.region"] = ep.Region
		set["s3.use_ssl"] = "false"
		set["s3.path_style"] = "true"
	}
	if c.Service == UploadAPI || c.Service == Indexer || c.Service == Webhooks {
		set["postgres.url"] = ep.PostgresURL
	}
	if c.Service == UploadAPI || c.Service == Webhooks {
		// Receivers on 127.0.0.1 (webhooks listen) are allowed in development.
		set["webhooks.allow_private"] = "true"
	}
	if c.Service == UploadAPI {
		set["api.addr"] = addr
		set["api.ops_addr"] = net.JoinHostPort("127.0.0.1", strconv.Itoa(c.OpsPort))
		set["api.public_url"] = "http://" + addr
		set["api.tokens"] = DevTokens
		set["api.admins"] = DevAdmins
		set["api.shutdown_timeout"] = childShutdown.String()
		if o.SigningKey != "" {
			set["api.signing_key"] = o.SigningKey
		}
	} else if c.Service == Webhooks {
		set["webhooks.ops_addr"] = addr
	} else {
		set["stage.http_addr"] = addr
		set["stage.shutdown_grace"] = childShutdown.String()
	}
	env := make([]string, 0, len(set))
	for k, v := range set {
		env = append(env, config.EnvName(k)+"="+v)
	}
	slices.Sort(env)
	return env
}

// mergeEnv returns base with the variables of over added, replacing those
// of the same name.
func mergeEnv(base, over []string) []string {
	names := map[string]bool{}
	for _, kv := range over {
		name, _, _ := strings.Cut(kv, "=")
		names[name] = true
	}
	out := make([]string, 0, len(base)+len(over))
	for _, kv := range base {
		if name, _, _ := strings.Cut(kv, "="); !names[name] {
			out = append(out, kv)
		}
	}
	return append(out, over...)
}

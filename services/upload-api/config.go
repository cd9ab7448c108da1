// Package uploadapi holds the configuration of the upload-api service: the
// shared sections (Kafka, S3, Postgres, Log) and its own "api" section. The
// HTTP handlers live in package server, the wiring in cmd/upload-api.
package uploadapi

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/services/webhooks"
)

// Service is the service name: Kafka client id, CloudEvents source
// (/vidpipe/upload-api) and the "service" attribute of every log line.
const Service = "upload-api"

// Config is the whole configuration of upload-api, loaded with
// config.Load(Service, args, getenv, &cfg).
type Config struct {
	Kafka config.Kafka `mapstructure:"kafka"`
	S3    config.S3    `mapstructure:"s3"`
	// Postgres holds the status projection (table video_status, owned by
	// upload-api) and is where the indexer's search catalog (table videos)
	// is read from.
	Postgres config.Postgres `mapstructure:"postgres"`
	Log      config.Log      `mapstructure:"log"`
	API      API             `mapstructure:"api"`
	// Webhooks configures /v1/webhooks (served here, on the tables of the
	// webhooks service; see services/webhooks).
	Webhooks webhooks.API `mapstructure:"webhooks"`
}

// API configures the HTTP API.
type API struct {
	// Addr is the listen address. Default: 127.0.0.1:8080.
	Addr string `mapstructure:"addr" default:"127.0.0.1:8080" desc:"listen address of the HTTP API"`
	// OpsAddr is the listen address of the operations endpoints: /metrics,
	// /readyz and /healthz, for probes and Prometheus, never for clients
	// (the API listener serves /healthz only, for load balancers). It must
	// differ from Addr. Default: 127.0.0.1:8090.
	OpsAddr string `mapstructure:"ops_addr" default:"127.0.0.1:8090" desc:"listen address of /metrics, /readyz and /healthz (operations; not for clients)"`
	// PublicURL is the base URL clients reach the API at (scheme://host[:port][/prefix]),
	// used in links and signed playlist URLs. Default: empty (links are
	// relative paths such as /v1/videos/{id}).
	PublicURL string `mapstructure:"public_url" default:"" desc:"base URL of the API as clients see it (empty: relative links)"`
	// Tokens maps bearer tokens to user names (token=user,token2=user2).
	// Required. Each token must be at least 32 characters and not a
	// change-me placeholder, except when Addr is a loopback address
	// (127.0.0.1, ::1, localhost: a development listener), where 6 will do:
	// the dev config (config.dev.yaml) has dev-alice=alice and dev-bob=bob.
	Tokens map[string]string `mapstructure:"tokens" default:"" desc:"bearer tokens as token=user pairs (32+ characters unless api.addr is loopback)" secret:"true"`
	// Admins lists the users (names as in Tokens) who may use the admin
	// endpoints (/v1/admin/...: stage lag, dead letters, redrive) and for
	// whom GET /v1/me answers "admin": true; others get 403 there. Env:
	// VIDPIPE_API_ADMINS, comma-separated. Default: empty (no admin).
	Admins []string `mapstructure:"admins" default:"" desc:"users allowed on /v1/admin/... (stage lag, dead letters, redrive), comma-separated"`
	// AuthFailBurst is how many failed authentications a client address
	// may make before it gets 429; one is refilled every AuthFailRefill.
	// Default: 10 and 6s.
	AuthFailBurst  int           `mapstructure:"auth_fail_burst" default:"10" desc:"failed authentications per client address before 429 (refilled one per auth_fail_refill)"`
	AuthFailRefill time.Duration `mapstructure:"auth_fail_refill" default:"6s" desc:"time that refills one failed authentication of a client address"`
	// MaxUploadBytes bounds one uploaded file (multipart and tus). Default: 10 GiB.
	MaxUploadBytes int64 `mapstructure:"max_upload_bytes" default:"10737418240" desc:"largest accepted video file in bytes"`
	// MaxFieldBytes bounds one multipart form field (title, description,
	// tags) and the tus Upload-Metadata header. Default: 32 KiB.
	MaxFieldBytes int64 `mapstructure:"max_field_bytes" default:"32768" desc:"largest accepted form field in bytes"`
	// MaxBodyBytes bounds the request body of every route that is not an
	// upload. Default: 1 MiB.
	MaxBodyBytes int64 `mapstructure:"max_body_bytes" default:"1048576" desc:"largest request body of non-upload routes in bytes"`
	// ReadHeaderTimeout bounds reading the request headers (slow-loris). Default: 10s.
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout" default:"10s" desc:"time allowed to read request headers"`
	// IdleTimeout closes idle keep-alive connections. Default: 2m.
	IdleTimeout time.Duration `mapstructure:"idle_timeout" default:"2m" desc:"keep-alive idle timeout"`
	// RequestTimeout bounds reading and answering any request that is not
	// an upload or an event stream. Default: 30s.
	RequestTimeout time.Duration `mapstructure:"request_timeout" default:"30s" desc:"read/write deadline of non-upload requests"`
	// BodyIdleTimeout is how long an upload body may stall (no byte
	// received) before the upload is dropped; uploads have no overall
	// deadline. Default: 1m.
	BodyIdleTimeout time.Duration `mapstructure:"body_idle_timeout" default:"1m" desc:"longest pause in an upload body before it is dropped"`
	// PublishTimeout bounds waiting for Kafka to acknowledge video.uploaded;
	// past it the upload answers 503. Default: 15s.
	PublishTimeout time.Duration `mapstructure:"publish_timeout" default:"15s" desc:"time allowed for Kafka to acknowledge video.uploaded"`
	// PublishAttempts is how often the producer tries a write before giving
	// up. Default: 3.
	PublishAttempts int `mapstructure:"publish_attempts" default:"3" desc:"producer attempts per video.uploaded record"`
	// RecoveryInterval is how often the API sweeps object storage for
	// uploads left between storage and Kafka: finished tus uploads never
	// announced (announced now) and multipart uploads whose
	// video.uploaded could not be confirmed (read back: kept if Kafka has
	// it, removed if not). It also sweeps once at start. Default: 1m.
	RecoveryInterval time.Duration `mapstructure:"recovery_interval" default:"1m" desc:"interval of the sweep that announces finished tus uploads and settles unconfirmed uploads"`
	// SSEHeartbeat is the interval of comment lines on event streams. Default: 15s.
	SSEHeartbeat time.Duration `mapstructure:"sse_heartbeat" default:"15s" desc:"heartbeat interval of event streams"`
	// SigningKey signs the self-authenticating HLS playlist URLs: at least
	// 32 characters, not a change-me placeholder. Default: empty, which
	// means a random key per process (URLs then stop working after a
	// restart and across replicas: set it in production; required when
	// Replicas > 1).
	SigningKey string `mapstructure:"signing_key" default:"" desc:"HMAC key for signed HLS playlist URLs, 32+ characters (empty: random per process; required when api.replicas > 1)" secret:"true"`
	// Replicas is how many API processes serve the same clients (behind
	// one load balancer). More than 1 requires SigningKey: a URL signed by
	// one replica must verify on another. Default: 1.
	Replicas int `mapstructure:"replicas" default:"1" desc:"API processes serving the same clients; more than 1 requires api.signing_key"`
	// TusTempDir is where the tus S3 store buffers parts before sending
	// them to S3 (at most a few parts per upload). Default: the OS temp dir.
	TusTempDir string `mapstructure:"tus_temp_dir" default:"" desc:"directory for tus part buffers (empty: OS temp dir)"`
	// TusPartSize is the size of the S3 multipart parts a tus upload is
	// sent in (at least 5 MiB, the S3 minimum; at most 5 GiB). tusd buffers
	// each part in a file under TusTempDir before sending it, so it costs
	// disk, not memory: up to 3 parts per PATCH in progress plus 4 being
	// sent (shared by all uploads); memory does not grow with it. Larger
	// parts mean fewer S3 requests: in make bench scenario 2, 64 MiB sent a
	// 1 GiB tus upload faster than 16 MiB (s3.part_size, which the
	// multipart endpoint keeps using), 32 MiB or 128 MiB.
	// Default: 64 MiB.
	TusPartSize int64 `mapstructure:"tus_part_size" default:"67108864" desc:"S3 part size of tus uploads in bytes, buffered on disk (5 MiB to 5 GiB)"`
	// TusLockConns bounds the connections of the tus lock pool (its own
	// pool, not postgres.max_conns): every tus request in progress on an
	// upload (a PATCH for its whole body, a HEAD briefly) holds the
	// upload's lock, a PostgreSQL advisory lock, on one of them, so that
	// any replica can serve any request of any upload. Past it, a request
	// waits up to 20s for a connection, then gets 503. PostgreSQL's
	// max_connections must cover, per replica, this plus postgres.max_conns
	// plus 2 listeners; connections are opened on demand and closed after
	// a minute idle. 32 keeps two replicas at full load (2 × (32 + 8 + 2)
	// = 84) within PostgreSQL's default max_connections (100), at the
	// price of at most 32 tus requests at once per replica
	// (api.max_concurrent_uploads is 128): raise it, and max_connections,
	// where tus carries most uploads. 0 also means 32. Default: 32.
	TusLockConns int `mapstructure:"tus_lock_conns" default:"32" desc:"PostgreSQL connections for tus upload locks (one per tus request in progress), per API process"`
	// ShutdownTimeout bounds the graceful shutdown. Default: 30s.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout" default:"30s" desc:"time in-flight requests get to finish on shutdown"`

	// Caps and quotas (see server.LimitOptions). Concurrency caps count per
	// API process; the storage quota is kept in PostgreSQL and holds across
	// replicas.

	// MaxConcurrentUploads caps the uploads in progress (multipart
	// requests, tus POST/PATCH requests) of one process; 0: no cap. Each
	// multipart upload holds one s3.part_size buffer in memory, and takes
	// spare ones from upload_buffer_bytes to send parts while it reads the
	// next: the part buffers of multipart uploads take at most
	// max_concurrent_uploads × s3.part_size + upload_buffer_bytes (2 GiB +
	// 32 MiB with the defaults; one upload alone: its own 16 MiB plus
	// upload_parallel_parts spares, 32 MiB). Default: 128.
	MaxConcurrentUploads int `mapstructure:"max_concurrent_uploads" default:"128" desc:"uploads in progress per API process, 429 past it (0: no cap)"`
	// MaxConcurrentUploadsPerUser caps one user's uploads in progress in
	// one process; 0: no cap. Default: 16.
	MaxConcurrentUploadsPerUser int `mapstructure:"max_concurrent_uploads_per_user" default:"16" desc:"uploads in progress per user and API process, 429 past it (0: no cap)"`
	// UploadParallelParts is how many S3 parts (of s3.part_size) one
	// multipart upload (POST /v1/videos) sends at the same time while it
	// reads the next part from the client into a spare buffer from
	// upload_buffer_bytes; with no buffer spare, the upload reads a part,
	// sends it, and reads on once it is stored. Each part carries a CRC32C
	// that S3 verifies instead of a SHA-256 of its bytes in the signature.
	// One upload holds up to upload_parallel_parts+1 part buffers: make
	// bench scenario 2 (1 GiB uploads one at a time, 16 MiB parts)
	// measured the API's peak RSS at 77 to 90 MiB with 1 and 95 MiB with
	// 2 (the limit there is 100 MiB), for no clear gain in throughput on
	// its 2 cores. Default: 1.
	UploadParallelParts int `mapstructure:"upload_parallel_parts" default:"1" desc:"S3 parts one multipart upload sends at the same time while it reads the next (each in a buffer from upload_buffer_bytes)"`
	// UploadBufferBytes is the memory shared by all multipart uploads of
	// the process for parts on their way to S3 beyond each upload's own
	// s3.part_size buffer, in whole parts (32 MiB = two 16 MiB parts); 0:
	// none, every upload sends one part at a time after reading it.
	// Default: 32 MiB.
	UploadBufferBytes int64 `mapstructure:"upload_buffer_bytes" default:"33554432" desc:"memory in bytes shared by multipart uploads for S3 parts sent while the next is read (0: none, one part at a time)"`
	// MinUploadRate is the average rate (bytes/s) an upload body must keep
	// up after MinUploadRateGrace, else 408; 0: no minimum. Default: 4096.
	MinUploadRate int64 `mapstructure:"min_upload_rate" default:"4096" desc:"minimum average upload rate in bytes/s after the grace period (0: none)"`
	// MinUploadRateGrace is when the rate check starts. Default: 1m.
	MinUploadRateGrace time.Duration `mapstructure:"min_upload_rate_grace" default:"1m" desc:"time an upload body runs before min_upload_rate applies"`
	// UserQuotaBytes is each user's storage quota: the sizes of their
	// uploaded sources plus uploads in progress; 0: no quota. Default: 100 GiB.
	UserQuotaBytes int64 `mapstructure:"user_quota_bytes" default:"107374182400" desc:"storage quota per user in bytes of uploaded sources, checked before and after an upload (0: none)"`
	// QuotaReservationTTL is how long an unfinished upload holds its share
	// of the quota without a request. Default: 24h.
	QuotaReservationTTL time.Duration `mapstructure:"quota_reservation_ttl" default:"24h" desc:"how long an idle unfinished upload keeps its share of the quota"`
	// SSEMaxStreams caps the event streams of one process; 0: no cap. Default: 1024.
	SSEMaxStreams int `mapstructure:"sse_max_streams" default:"1024" desc:"event streams per API process, 429 past it (0: no cap)"`
	// SSEMaxStreamsPerUser caps one user's event streams in one process;
	// 0: no cap. Default: 16.
	SSEMaxStreamsPerUser int `mapstructure:"sse_max_streams_per_user" default:"16" desc:"event streams per user and API process, 429 past it (0: no cap)"`
	// SSEMaxLifetime ends an event stream (the client reconnects with
	// Last-Event-ID). Default: 1h.
	SSEMaxLifetime time.Duration `mapstructure:"sse_max_lifetime" default:"1h" desc:"longest life of one event stream"`
	// SSEWriteTimeout bounds each write to an event stream. Default: 10s.
	SSEWriteTimeout time.Duration `mapstructure:"sse_write_timeout" default:"10s" desc:"deadline of each write to an event stream"`
	// HLSCacheBytes bounds the memory of cached signed playlists; 0: no
	// cache. Default: 64 MiB.
	HLSCacheBytes int64 `mapstructure:"hls_cache_bytes" default:"67108864" desc:"memory for cached signed HLS playlists in bytes (0: no cache)"`
	// HLSMaxPlaylistBytes bounds a stored and a rewritten playlist. Default: 8 MiB.
	HLSMaxPlaylistBytes int64 `mapstructure:"hls_max_playlist_bytes" default:"8388608" desc:"largest HLS playlist served, stored or rewritten, in bytes"`
}

// DefaultAPI returns the api section's defaults (its `default` tags):
// what a publish.Publisher takes for the options left zero.
func DefaultAPI() API {
	var a API
	if err := config.LoadDefaults(&a); err != nil {
		panic(err) // the tags are constants, checked by TestDefaultAPI
	}
	return a
}

// Validate checks the api section.
func (a API) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, &config.FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if _, _, err := net.SplitHostPort(a.Addr); err != nil {
		add("addr", "must be host:port (got %q)", a.Addr)
	}
	if _, _, err := net.SplitHostPort(a.OpsAddr); err != nil {
		add("ops_addr", "must be host:port (got %q)", a.OpsAddr)
	} else if sameListener(a.Addr, a.OpsAddr) {
		add("ops_addr", "must differ from api.addr (both are %q)", a.OpsAddr)
	}
	if a.PublicURL != "" {
		u, err := url.Parse(a.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			add("public_url", "must be an http(s) URL without query (got %q)", a.PublicURL)
		}
	}
	if len(a.Tokens) == 0 {
		add("tokens", "at least one token=user pair is required")
	}
	devListener := isLoopback(a.Addr)
	for token, user := range a.Tokens {
		if err := checkToken(token); err != nil {
			add("tokens", "%v", err) // never print the token itself
		} else if err := config.CheckSecret(token, config.MinSecretLen); err != nil && (!devListener || config.IsPlaceholder(token)) {
			add("tokens", "a token %v (shorter tokens are accepted only when api.addr is a loopback address)", err)
		}
		if err := checkUser(user); err != nil {
			add("tokens", "user %q: %v", user, err)
		}
	}
	for _, user := range a.Admins {
		if err := checkUser(user); err != nil {
			add("admins", "user %q: %v", user, err)
		}
	}
	if a.MaxUploadBytes < 1 {
		add("max_upload_bytes", "must be at least 1 (got %d)", a.MaxUploadBytes)
	}
	if a.MaxFieldBytes < 1024 || a.MaxFieldBytes > 1<<20 {
		add("max_field_bytes", "must be between 1024 and 1048576 (got %d)", a.MaxFieldBytes)
	}
	if a.MaxBodyBytes < 1024 {
		add("max_body_bytes", "must be at least 1024 (got %d)", a.MaxBodyBytes)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"read_header_timeout", a.ReadHeaderTimeout}, {"idle_timeout", a.IdleTimeout},
		{"request_timeout", a.RequestTimeout}, {"body_idle_timeout", a.BodyIdleTimeout},
		{"publish_timeout", a.PublishTimeout}, {"sse_heartbeat", a.SSEHeartbeat},
		{"shutdown_timeout", a.ShutdownTimeout}, {"recovery_interval", a.RecoveryInterval},
	} {
		if d.v <= 0 {
			add(d.key, "must be positive (got %s)", d.v)
		}
	}
	if a.TusPartSize < 5<<20 || a.TusPartSize > 5<<30 {
		add("tus_part_size", "must be between 5242880 (5 MiB) and 5368709120 (5 GiB) (got %d)", a.TusPartSize)
	}
	for _, n := range []struct {
		key string
		v   int64
	}{
		{"max_concurrent_uploads", int64(a.MaxConcurrentUploads)}, {"max_concurrent_uploads_per_user", int64(a.MaxConcurrentUploadsPerUser)},
		{"min_upload_rate", a.MinUploadRate}, {"user_quota_bytes", a.UserQuotaBytes},
		{"sse_max_streams", int64(a.SSEMaxStreams)}, {"sse_max_streams_per_user", int64(a.SSEMaxStreamsPerUser)},
		{"hls_cache_bytes", a.HLSCacheBytes}, {"upload_buffer_bytes", a.UploadBufferBytes},
	} {
		if n.v < 0 {
			add(n.key, "must not be negative (0 switches it off; got %d)", n.v)
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"min_upload_rate_grace", a.MinUploadRateGrace}, {"quota_reservation_ttl", a.QuotaReservationTTL},
		{"sse_max_lifetime", a.SSEMaxLifetime}, {"sse_write_timeout", a.SSEWriteTimeout},
	} {
		if d.v <= 0 {
			add(d.key, "must be positive (got %s)", d.v)
		}
	}
	if a.HLSMaxPlaylistBytes < 1024 {
		add("hls_max_playlist_bytes", "must be at least 1024 (got %d)", a.HLSMaxPlaylistBytes)
	}
	if a.TusLockConns < 0 {
		add("tus_lock_conns", "must not be negative (0: the default, 32; got %d)", a.TusLockConns)
	}
	if a.UploadParallelParts < 1 || a.UploadParallelParts > 16 {
		add("upload_parallel_parts", "must be between 1 and 16 (got %d)", a.UploadParallelParts)
	}
	if a.PublishAttempts < 1 {
		add("publish_attempts", "must be at least 1 (got %d)", a.PublishAttempts)
	}
	if a.SigningKey != "" {
		if err := config.CheckSecret(a.SigningKey, config.MinSecretLen); err != nil {
			add("signing_key", "%v", err)
		}
	}
	if a.Replicas < 1 {
		add("replicas", "must be at least 1 (got %d)", a.Replicas)
	} else if a.Replicas > 1 && a.SigningKey == "" {
		add("signing_key", "must be set when api.replicas is %d: each replica would otherwise sign HLS URLs with its own random key, which the others reject", a.Replicas)
	}
	return errors.Join(errs...)
}

// checkToken rejects tokens that cannot travel in an Authorization header
// or are too short to be secret. The error never contains the token.
func checkToken(t string) error {
	if len(t) < 6 {
		return errors.New("a token is shorter than 6 characters")
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c > '~' {
			return errors.New("a token contains a space, control or non-ASCII character")
		}
	}
	return nil
}

// isLoopback reports whether the listen address addr (host:port) accepts
// connections from this machine only: a loopback IP or localhost. An
// empty host (every interface) is not.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameListener reports whether the listen addresses a and b would take
// the same port: equal ports other than 0 (any free port) on the same
// host, or where either listens on every interface (empty host, 0.0.0.0,
// ::).
func sameListener(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	any := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || any(ha) || any(hb)
}

// checkUser applies the owner rules of the event contract.
func checkUser(u string) error {
	switch {
	case strings.TrimSpace(u) == "":
		return errors.New("must not be empty")
	case !utf8.ValidString(u):
		return errors.New("must be valid UTF-8")
	case utf8.RuneCountInString(u) > contract.MaxOwnerLen:
		return fmt.Errorf("longer than %d characters", contract.MaxOwnerLen)
	case strings.IndexFunc(u, unicode.IsControl) >= 0:
		return errors.New("contains a control character")
	}
	return nil
}

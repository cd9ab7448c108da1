package uploadapi

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/platform/config"
)

func TestLoadDevConfig(t *testing.T) {
	var cfg Config
	if err := config.Load(Service, []string{"--config", "config.dev.yaml"}, nil, &cfg); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.API.Tokens["dev-alice"] != "alice" || cfg.API.Tokens["dev-bob"] != "bob" || cfg.API.Tokens["dev-admin"] != "admin" || len(cfg.API.Tokens) != 3 {
		t.Errorf("tokens = %v", cfg.API.Tokens)
	}
	if len(cfg.API.Admins) != 1 || cfg.API.Admins[0] != "admin" {
		t.Errorf("admins = %v, want [admin]", cfg.API.Admins)
	}
	if cfg.API.Addr != "127.0.0.1:8080" || cfg.API.OpsAddr != "127.0.0.1:8090" || cfg.API.MaxUploadBytes != 10<<30 || cfg.API.MaxFieldBytes != 32<<10 ||
		cfg.API.PublishTimeout != 15*time.Second || cfg.S3.PresignExpiry != time.Hour || cfg.API.TusPartSize != 64<<20 ||
		cfg.API.MaxConcurrentUploads != 128 || cfg.API.MaxConcurrentUploadsPerUser != 16 || cfg.API.UserQuotaBytes != 100<<30 ||
		cfg.API.SSEMaxStreamsPerUser != 16 || cfg.API.SSEMaxLifetime != time.Hour || cfg.API.HLSCacheBytes != 64<<20 {
		t.Errorf("defaults: %+v", cfg.API)
	}
	if cfg.Kafka.ClientID != Service {
		t.Errorf("client id %q", cfg.Kafka.ClientID)
	}
	// Secrets never show in the redacted config.
	red := config.Redacted(cfg)
	if v := red["api.tokens"]; v != config.RedactedValue {
		t.Errorf("api.tokens shows as %v", v)
	}
}

func TestDefaultAPI(t *testing.T) {
	var cfg Config
	if err := config.Load(Service, []string{"--config", "config.dev.yaml"}, nil, &cfg); err != nil {
		t.Fatalf("Load: %v", err)
	}
	def := DefaultAPI()
	if def.PublishAttempts != 3 || def.PublishTimeout != 15*time.Second {
		t.Errorf("DefaultAPI: publish attempts %d, timeout %v; want 3, 15s", def.PublishAttempts, def.PublishTimeout)
	}
	// The dev config sets tokens and admins only: every other key is its default.
	def.Tokens, def.Admins = cfg.API.Tokens, cfg.API.Admins
	if !reflect.DeepEqual(def, cfg.API) {
		t.Errorf("DefaultAPI() =\n%+v\nloaded defaults:\n%+v", def, cfg.API)
	}
}

func TestLoadFromEnvAndFlags(t *testing.T) {
	env := map[string]string{
		"VIDPIPE_API_TOKENS":           "tok-carol-123=carol",
		"VIDPIPE_API_MAX_UPLOAD_BYTES": "1048576",
		"VIDPIPE_API_ADMINS":           "carol, dave",
	}
	var cfg Config
	err := config.Load(Service, []string{"--api.addr=127.0.0.1:0", "--config", "/nonexistent/none.yaml"}, func(k string) string { return env[k] }, &cfg)
	if err == nil {
		t.Fatal("Load with a missing --config file succeeded")
	}
	cfg = Config{}
	if err := config.Load(Service, []string{"--api.addr=127.0.0.1:0"}, func(k string) string { return env[k] }, &cfg); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.API.Tokens["tok-carol-123"] != "carol" || cfg.API.MaxUploadBytes != 1<<20 || cfg.API.Addr != "127.0.0.1:0" ||
		!reflect.DeepEqual(cfg.API.Admins, []string{"carol", "dave"}) {
		t.Errorf("api = %+v", cfg.API)
	}
}

func TestAPIValidate(t *testing.T) {
	valid := func() API {
		return API{Addr: "127.0.0.1:8080", OpsAddr: "127.0.0.1:8090", Tokens: map[string]string{"dev-alice": "alice"}, MaxUploadBytes: 1, MaxFieldBytes: 1024,
			MaxBodyBytes: 1024, ReadHeaderTimeout: time.Second, IdleTimeout: time.Second, RequestTimeout: time.Second,
			BodyIdleTimeout: time.Second, PublishTimeout: time.Second, PublishAttempts: 1, SSEHeartbeat: time.Second, ShutdownTimeout: time.Second, RecoveryInterval: time.Second,
			TusPartSize: 5 << 20, Replicas: 1,
			MinUploadRateGrace: time.Second, QuotaReservationTTL: time.Hour, SSEMaxLifetime: time.Hour, SSEWriteTimeout: time.Second,
			HLSMaxPlaylistBytes: 1 << 20,
			UploadParallelParts: 1}
	}
	tests := map[string]struct {
		mod     func(*API)
		wantKey string // "" means valid
	}{
		"valid":                   {func(a *API) {}, ""},
		"no tokens":               {func(a *API) { a.Tokens = nil }, "tokens"},
		"short token":             {func(a *API) { a.Tokens = map[string]string{"abc": "x"} }, "tokens"},
		"token with space":        {func(a *API) { a.Tokens = map[string]string{"secret token": "x"} }, "tokens"},
		"empty user":              {func(a *API) { a.Tokens = map[string]string{"secret-token": " "} }, "tokens"},
		"control in user":         {func(a *API) { a.Tokens = map[string]string{"secret-token": "a\nb"} }, "tokens"},
		"bad addr":                {func(a *API) { a.Addr = "8080" }, "addr"},
		"bad ops addr":            {func(a *API) { a.OpsAddr = "8090" }, "ops_addr"},
		"empty ops addr":          {func(a *API) { a.OpsAddr = "" }, "ops_addr"},
		"ops addr = addr":         {func(a *API) { a.OpsAddr = a.Addr }, "ops_addr"},
		"ops addr on all ifaces":  {func(a *API) { a.OpsAddr = "0.0.0.0:8080" }, "ops_addr"},
		"ops addr other host":     {func(a *API) { a.Addr, a.OpsAddr = "127.0.0.1:8080", "127.0.0.2:8080" }, ""},
		"both on any free port":   {func(a *API) { a.Addr, a.OpsAddr = "127.0.0.1:0", "127.0.0.1:0" }, ""},
		"ops addr public":         {func(a *API) { a.OpsAddr = "0.0.0.0:8090" }, ""},
		"bad public url":          {func(a *API) { a.PublicURL = "ftp://x" }, "public_url"},
		"public url ok":           {func(a *API) { a.PublicURL = "https://videos.example.com/api" }, ""},
		"zero max upload":         {func(a *API) { a.MaxUploadBytes = 0 }, "max_upload_bytes"},
		"huge field limit":        {func(a *API) { a.MaxFieldBytes = 2 << 20 }, "max_field_bytes"},
		"zero timeout":            {func(a *API) { a.PublishTimeout = 0 }, "publish_timeout"},
		"short signing key":       {func(a *API) { a.SigningKey = "short" }, "signing_key"},
		"16-byte signing key":     {func(a *API) { a.SigningKey = "0123456789abcdef" }, "signing_key"},
		"placeholder signing key": {func(a *API) { a.SigningKey = "change-me-to-32-random-bytes-0123456789" }, "signing_key"},
		"signing key ok":          {func(a *API) { a.SigningKey = "0123456789abcdef0123456789abcdef" }, ""},
		"short token public":      {func(a *API) { a.Addr = "0.0.0.0:8080" }, "tokens"},
		"short token all ifaces":  {func(a *API) { a.Addr = ":8080" }, "tokens"},
		"short token localhost":   {func(a *API) { a.Addr = "localhost:8080" }, ""},
		"short token ::1":         {func(a *API) { a.Addr = "[::1]:8080" }, ""},
		"long token public": {func(a *API) {
			a.Addr, a.Tokens = "0.0.0.0:8080", map[string]string{"0123456789abcdef0123456789abcdef": "alice"}
		}, ""},
		"placeholder token loopback": {func(a *API) { a.Tokens = map[string]string{"change-me-token": "admin"} }, "tokens"},
		"two replicas no key":        {func(a *API) { a.Replicas = 2 }, "signing_key"},
		"two replicas with key": {func(a *API) {
			a.Replicas, a.SigningKey = 2, "0123456789abcdef0123456789abcdef"
		}, ""},
		"zero replicas":          {func(a *API) { a.Replicas = 0 }, "replicas"},
		"zero publish tries":     {func(a *API) { a.PublishAttempts = 0 }, "publish_attempts"},
		"negative lock conns":    {func(a *API) { a.TusLockConns = -1 }, "tus_lock_conns"},
		"zero recovery interval": {func(a *API) { a.RecoveryInterval = 0 }, "recovery_interval"},
		"tus part too small":     {func(a *API) { a.TusPartSize = 5<<20 - 1 }, "tus_part_size"},
		"tus part too large":     {func(a *API) { a.TusPartSize = 5<<30 + 1 }, "tus_part_size"},
		"tus part at 5 GiB":      {func(a *API) { a.TusPartSize = 5 << 30 }, ""},
		"caps off":               {func(a *API) { a.MaxConcurrentUploads, a.UserQuotaBytes, a.SSEMaxStreams, a.HLSCacheBytes = 0, 0, 0, 0 }, ""},
		"negative upload cap":    {func(a *API) { a.MaxConcurrentUploadsPerUser = -1 }, "max_concurrent_uploads_per_user"},
		"negative quota":         {func(a *API) { a.UserQuotaBytes = -1 }, "user_quota_bytes"},
		"zero sse lifetime":      {func(a *API) { a.SSEMaxLifetime = 0 }, "sse_max_lifetime"},
		"tiny playlist cap":      {func(a *API) { a.HLSMaxPlaylistBytes = 100 }, "hls_max_playlist_bytes"},
		"no parallel parts":      {func(a *API) { a.UploadParallelParts = 0 }, "upload_parallel_parts"},
		"17 parallel parts":      {func(a *API) { a.UploadParallelParts = 17 }, "upload_parallel_parts"},
		"16 parallel parts":      {func(a *API) { a.UploadParallelParts = 16 }, ""},
		"no upload buffers":      {func(a *API) { a.UploadBufferBytes = 0 }, ""},
		"negative upload buffer": {func(a *API) { a.UploadBufferBytes = -1 }, "upload_buffer_bytes"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := valid()
			tc.mod(&a)
			err := a.Validate()
			if tc.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantKey+":") {
				t.Fatalf("Validate = %v, want an error on %s", err, tc.wantKey)
			}
			for tok := range a.Tokens {
				if strings.Contains(err.Error(), tok) {
					t.Fatalf("error %q reveals a token", err)
				}
			}
		})
	}
}

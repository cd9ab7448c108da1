package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// FieldError is a configuration value that is not acceptable. A section's
// Validate names its own key ("max_attempts"); Load prefixes the section
// path, so a loaded service reports e.g.
//
//	config: stage.max_attempts: must be at least 1 (got 0)
type FieldError struct {
	Key string // dotted key, relative to the validated struct
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

// checker collects FieldErrors in the order the checks run.
type checker struct{ errs []error }

func (c *checker) addf(key, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) err() error { return errors.Join(c.errs...) }

func (c *checker) atLeast(key string, got, min int64) {
	if got < min {
		c.addf(key, "must be at least %d (got %d)", min, got)
	}
}

func (c *checker) between(key string, got, min, max int64) {
	if got < min || got > max {
		c.addf(key, "must be between %d and %d (got %d)", min, max, got)
	}
}

// prefixErrors rewrites the FieldErrors in err (a single error or an
// errors.Join) to carry the section path, and wraps everything with
// "config: ". Errors that are not FieldErrors are wrapped with the path.
func prefixErrors(path string, err error) []error {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]error, 0, len(list))
	for _, e := range list {
		var fe *FieldError
		switch {
		case errors.As(e, &fe):
			key := fe.Key
			if path != "" {
				key = path + "." + key
			}
			out = append(out, fmt.Errorf("config: %w", &FieldError{Key: key, Msg: fe.Msg}))
		case path != "":
			out = append(out, fmt.Errorf("config: %s: %w", path, e))
		default:
			out = append(out, fmt.Errorf("config: %w", e))
		}
	}
	return out
}

// checkHostPort reports whether s is host:port with a numeric port in
// 1..65535 (0 allowed with allowZeroPort) and, unless allowEmptyHost, a
// non-empty host.
func checkHostPort(s string, allowEmptyHost, allowZeroPort bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("must be host:port (got %q)", s)
	}
	if host == "" && !allowEmptyHost {
		return fmt.Errorf("must be host:port with a host (got %q)", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !allowZeroPort) {
		return fmt.Errorf("port must be a number in 1..65535 (got %q)", s)
	}
	return nil
}

// checkEndpoint accepts host or host:port without a scheme or a path, the
// form minio-go wants (s3.amazonaws.com has no port).
func checkEndpoint(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if strings.Contains(s, "://") || strings.ContainsAny(s, "/?# ") {
		return fmt.Errorf("must be host or host:port without scheme or path (got %q)", s)
	}
	if strings.Contains(s, ":") && !strings.HasSuffix(s, "]") {
		return checkHostPort(s, false, false)
	}
	return nil
}

// Validate checks the brokers (at least one, each host:port) and the
// topic-creation settings (partitions and replication factor at least 1,
// min.insync.replicas between 0 and the replication factor).
func (k Kafka) Validate() error {
	var c checker
	if len(k.Brokers) == 0 {
		c.addf("brokers", "must list at least one broker host:port")
	}
	for _, b := range k.Brokers {
		if err := checkHostPort(b, false, false); err != nil {
			c.addf("brokers", "%v", err)
		}
	}
	c.atLeast("partitions", int64(k.Partitions), 1)
	c.atLeast("replication_factor", int64(k.ReplicationFactor), 1)
	if k.MinInsyncReplicas < 0 || k.MinInsyncReplicas > max(k.ReplicationFactor, 1) {
		c.addf("min_insync_replicas", "%d must be between 0 (automatic) and kafka.replication_factor (%d)", k.MinInsyncReplicas, k.ReplicationFactor)
	}
	return c.err()
}

// Multipart and presign limits of S3.
const (
	MinPartSize      = 5 << 20            // 5 MiB: smallest part S3 accepts (but the last)
	MaxPartSize      = 5 << 30            // 5 GiB: largest part S3 accepts
	MinPresignExpiry = time.Second        // shortest presign validity S3 accepts
	MaxPresignExpiry = 7 * 24 * time.Hour // longest presign validity S3 (SigV4) accepts
)

// Validate checks the endpoint (host or host:port), the bucket name (S3
// naming rules), the part size (5 MiB..5 GiB), the presign expiry (1s..7
// days), that access and secret key are both set or both empty, and the
// public endpoint (empty, host[:port] or http(s)://host[:port]).
func (s S3) Validate() error {
	var c checker
	if err := checkEndpoint(s.Endpoint); err != nil {
		c.addf("endpoint", "%v", err)
	}
	if err := checkBucketName(s.Bucket); err != nil {
		c.addf("bucket", "%v", err)
	}
	if s.PartSize < MinPartSize || s.PartSize > MaxPartSize {
		c.addf("part_size", "must be between %d (5 MiB) and %d (5 GiB) bytes (got %d)", MinPartSize, int64(MaxPartSize), s.PartSize)
	}
	if s.PresignExpiry < MinPresignExpiry || s.PresignExpiry > MaxPresignExpiry {
		c.addf("presign_expiry", "must be between 1s and 168h (7 days) (got %s)", s.PresignExpiry)
	}
	if (s.AccessKey == "") != (s.SecretKey == "") {
		c.addf("access_key", "access_key and secret_key must both be set or both be empty")
	}
	if s.SecretKey != "" && IsPlaceholder(s.SecretKey) {
		c.addf("secret_key", "is a placeholder (change-me…): set the real secret key")
	}
	if s.PublicEndpoint != "" {
		if _, _, err := ParsePublicEndpoint(s.PublicEndpoint); err != nil {
			c.addf("public_endpoint", "%v", err)
		}
	}
	return c.err()
}

// ParsePublicEndpoint splits S3.PublicEndpoint into host[:port] and an
// optional scheme: "http" or "https" when given as scheme://host[:port],
// "" for a bare host[:port] (the scheme then follows use_ssl).
func ParsePublicEndpoint(s string) (host string, scheme string, err error) {
	if before, after, ok := strings.Cut(s, "://"); ok {
		if before != "http" && before != "https" {
			return "", "", fmt.Errorf("scheme must be http or https (got %q)", s)
		}
		after = strings.TrimSuffix(after, "/")
		if err := checkEndpoint(after); err != nil {
			return "", "", err
		}
		return after, before, nil
	}
	if err := checkEndpoint(s); err != nil {
		return "", "", err
	}
	return s, "", nil
}

var (
	bucketChars = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`)
	ipLike      = regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`)
)

// checkBucketName applies the S3 general-purpose bucket naming rules:
// 3..63 characters of lowercase letters, digits, dots and hyphens, starting
// and ending with a letter or digit, no "..", not an IP address, and none of
// the reserved prefixes and suffixes.
func checkBucketName(b string) error {
	switch {
	case len(b) < 3 || len(b) > 63:
		return fmt.Errorf("must be 3 to 63 characters (got %q)", b)
	case !bucketChars.MatchString(b):
		return fmt.Errorf("must be lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit (got %q)", b)
	case strings.Contains(b, ".."):
		return fmt.Errorf("must not contain \"..\" (got %q)", b)
	case ipLike.MatchString(b):
		return fmt.Errorf("must not be an IP address (got %q)", b)
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(b, p) {
			return fmt.Errorf("must not start with %q (got %q)", p, b)
		}
	}
	for _, sfx := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(b, sfx) {
			return fmt.Errorf("must not end with %q (got %q)", sfx, b)
		}
	}
	return nil
}

// Validate checks that the URL parses with scheme postgres or postgresql
// and that max_conns is at least 1.
func (p Postgres) Validate() error {
	var c checker
	u, err := url.Parse(p.URL)
	switch {
	case p.URL == "":
		c.addf("url", "must not be empty")
	case err != nil:
		// url.Error quotes the URL, which may hold a password: report the
		// cause only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		c.addf("url", "does not parse: %v", err)
	case u.Scheme != "postgres" && u.Scheme != "postgresql":
		c.addf("url", "scheme must be postgres or postgresql (got %q)", u.Scheme)
	default:
		if pw, _ := u.User.Password(); IsPlaceholder(pw) {
			c.addf("url", "the password is a placeholder (change-me…): set the real password")
		}
	}
	c.atLeast("max_conns", int64(p.MaxConns), 1)
	return c.err()
}

// MaxConcurrency bounds Stage.Concurrency.
const MaxConcurrency = 64

// Validate checks concurrency (1..64), max_attempts (≥1), the backoffs (>0,
// initial ≤ max), attempt_timeout (>0), shutdown_grace, batch_timeout,
// commit_interval and stuck_timeout (≥0, or Off) and http_addr (host:port; the host may be empty to
// listen on every interface).
func (s Stage) Validate() error {
	var c checker
	c.between("concurrency", int64(s.Concurrency), 1, MaxConcurrency)
	c.atLeast("max_attempts", int64(s.MaxAttempts), 1)
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			c.addf(key, "must be greater than 0 (got %s)", d)
		}
	}
	nonNegative := func(key string, d time.Duration) { // or Off
		if d < 0 && d != Off {
			c.addf(key, "must not be negative (got %s)", d)
		}
	}
	positive("backoff_initial", s.BackoffInitial)
	positive("backoff_max", s.BackoffMax)
	if s.BackoffInitial > 0 && s.BackoffMax > 0 && s.BackoffInitial > s.BackoffMax {
		c.addf("backoff_initial", "must not exceed backoff_max %s (got %s)", s.BackoffMax, s.BackoffInitial)
	}
	positive("attempt_timeout", s.AttemptTimeout)
	nonNegative("shutdown_grace", s.ShutdownGrace)
	nonNegative("batch_timeout", s.BatchTimeout)
	nonNegative("commit_interval", s.CommitInterval)
	nonNegative("stuck_timeout", s.StuckTimeout)
	positive("abandon_grace", s.AbandonGrace)
	positive("close_timeout", s.CloseTimeout)
	if err := checkHostPort(s.HTTPAddr, true, true); err != nil {
		c.addf("http_addr", "%v", err)
	}
	return c.err()
}

// Validate checks that level is debug, info, warn or error and format is
// text or json (both case-insensitive).
func (l Log) Validate() error {
	var c checker
	if _, ok := parseLevel(l.Level); !ok {
		c.addf("level", "must be debug, info, warn or error (got %q)", l.Level)
	}
	if f := strings.ToLower(l.Format); f != "text" && f != "json" {
		c.addf("format", "must be text or json (got %q)", l.Format)
	}
	return c.err()
}

// MinSecretLen is the shortest random secret vidpipe accepts (signing
// keys, API tokens off a loopback-only listener): 32 characters, e.g.
// `openssl rand -hex 16` or 32 random bytes in base64.
const MinSecretLen = 32

// IsPlaceholder reports whether a secret is a placeholder left from an
// example: it contains "change-me" or "changeme" (case-insensitive), as
// the example manifests' values do.
func IsPlaceholder(s string) bool {
	l := strings.ToLower(s)
	return strings.Contains(l, "change-me") || strings.Contains(l, "changeme") || strings.Contains(l, "change_me")
}

// CheckSecret rejects a placeholder value (IsPlaceholder) and, when
// minLen > 0, a value shorter than minLen. The error never contains the
// value.
func CheckSecret(s string, minLen int) error {
	if IsPlaceholder(s) {
		return errors.New("is a placeholder (change-me…): set a real secret")
	}
	if minLen > 0 && len(s) < minLen {
		return fmt.Errorf("is shorter than %d characters: use a random secret (e.g. openssl rand -hex 16)", minLen)
	}
	return nil
}

// Validate checks that cert_file and key_file are both set or both empty
// and that the files load (TLSConfig).
func (t KafkaTLS) Validate() error {
	var c checker
	if (t.CertFile == "") != (t.KeyFile == "") {
		c.addf("cert_file", "cert_file and key_file must both be set or both be empty")
	} else if t.Enabled {
		if _, err := t.TLSConfig(); err != nil {
			c.addf("ca_file", "%v", err)
		}
	}
	if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.ServerName != "") {
		c.addf("enabled", "must be true when TLS files or server_name are set")
	}
	return c.err()
}

// TLSConfig returns the client TLS configuration of t (TLS 1.2 or later),
// or nil when TLS is not enabled.
func (t KafkaTLS) TLSConfig() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// SASL mechanisms of KafkaSASL.Mechanism.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Validate checks the mechanism (empty, PLAIN, SCRAM-SHA-256 or
// SCRAM-SHA-512, any case) and that a mechanism comes with a user name and
// a password that is not a placeholder.
func (s KafkaSASL) Validate() error {
	var c checker
	switch strings.ToUpper(s.Mechanism) {
	case "":
		if s.Username != "" || s.Password != "" {
			c.addf("mechanism", "must be set when a SASL user name or password is (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
		}
		return c.err()
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
	default:
		c.addf("mechanism", "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (got %q)", s.Mechanism)
	}
	if s.Username == "" {
		c.addf("username", "must be set with a SASL mechanism")
	}
	if s.Password == "" {
		c.addf("password", "must be set with a SASL mechanism")
	} else if err := CheckSecret(s.Password, 0); err != nil {
		c.addf("password", "%v", err)
	}
	return c.err()
}

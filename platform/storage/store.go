// Package storage is vidpipe's object store: a small API over minio-go
// that works with AWS S3 and MinIO, configured by config.S3.
//
// Keys are the deterministic object keys of the contract package; every
// method works in the configured bucket. Errors name the operation, the
// bucket and the key; a missing object is errors.Is(err, ErrNotFound).
package storage

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/vidpipe/vidpipe/platform/config"
)

// ErrNotFound is matched (errors.Is) by the error of Stat, Get and
// GetToFile for a key that does not exist.
var ErrNotFound = errors.New("object not found")

// Defaults applied by New to zero fields of config.S3 (the documented
// defaults of the config package).
const (
	DefaultPartSize      = 16 << 20
	DefaultPresignExpiry = time.Hour
	// DefaultPresignRegion is the signing region of presigned URLs when
	// config.S3.Region is empty.
	DefaultPresignRegion = "us-east-1"
)

// Store reads and writes objects in one bucket. It is safe for concurrent use.
type Store struct {
	client *minio.Client
	public *minio.Client // signs presigned URLs for the public endpoint
	bucket string
	cfg    config.S3
}

// New returns a Store for cfg. It makes no network call.
//
// Credentials: AccessKey/SecretKey when set; when both are empty, the AWS
// default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the shared
// credentials file, then the EC2/ECS instance role). PathStyle selects
// path-style bucket addressing (MinIO), else the SDK's automatic choice.
// A zero PartSize means 16 MiB and a zero PresignExpiry means 1h; the rest
// of cfg must pass cfg.Validate.
//
// Presigned URLs are signed for PublicEndpoint when set (host[:port], or
// http(s)://host[:port] to choose the scheme regardless of UseSSL), by a
// second client with the same credentials; it signs for cfg.Region, or
// us-east-1 when the region is empty, so that signing needs no request.
func New(cfg config.S3) (*Store, error) {
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PresignExpiry == 0 {
		cfg.PresignExpiry = DefaultPresignExpiry
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("storage: config: %w", err)
	}

	var creds *credentials.Credentials
	if cfg.AccessKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{},
			&credentials.IAM{Client: &http.Client{Transport: http.DefaultTransport}},
		})
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}

	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        creds,
		Secure:       cfg.UseSSL,
		Region:       cfg.Region,
		BucketLookup: lookup,
	})
	if err != nil {
		return nil, fmt.Errorf("storage: client for %s: %w", cfg.Endpoint, err)
	}

	host, scheme := cfg.Endpoint, ""
	if cfg.PublicEndpoint != "" {
		if host, scheme, err = config.ParsePublicEndpoint(cfg.PublicEndpoint); err != nil {
			return nil, fmt.Errorf("storage: public endpoint: %w", err)
		}
	}
	secure := cfg.UseSSL
	if scheme != "" {
		secure = scheme == "https"
	}
	region := cfg.Region
	if region == "" {
		region = DefaultPresignRegion
	}
	public, err := minio.New(host, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Region:       region,
		BucketLookup: lookup,
	})
	if err != nil {
		return nil, fmt.Errorf("storage: client for public endpoint %s: %w", host, err)
	}
	return &Store{client: client, public: public, bucket: cfg.Bucket, cfg: cfg}, nil
}

// Bucket is the configured bucket.
func (s *Store) Bucket() string { return s.bucket }

// PartSize is the configured part size of multipart uploads
// (config.S3.PartSize, 16 MiB when zero).
func (s *Store) PartSize() int64 { return s.cfg.PartSize }

// EnsureBucket creates the bucket in the configured region if it does not
// exist. It is idempotent and safe to race with other processes.
func (s *Store) EnsureBucket(ctx context.Context) error {
	exists, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("storage: bucket %s: check: %w", s.bucket, err)
	}
	if exists {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: s.cfg.Region})
	if err != nil && minio.ToErrorResponse(err).Code != minio.BucketAlreadyOwnedByYou {
		return fmt.Errorf("storage: bucket %s: create: %w", s.bucket, err)
	}
	return nil
}

// Ping reports whether the bucket is reachable with the credentials: the
// readiness check of services that use the store.
func (s *Store) Ping(ctx context.Context) error {
	exists, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("storage: ping bucket %s: %w", s.bucket, err)
	}
	if !exists {
		return fmt.Errorf("storage: ping: bucket %s does not exist", s.bucket)
	}
	return nil
}

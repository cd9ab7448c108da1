package storage

import (
	"context"
	"fmt"
	"time"
)

// PresignGet returns a URL that fetches the object with a plain HTTP GET
// for expiry (0 means config.S3.PresignExpiry, default 1h; S3 accepts 1s
// to 7 days). The URL is for the public endpoint when one is configured.
// Signing makes no request, so a missing key is not detected here.
func (s *Store) PresignGet(ctx context.Context, key string, expiry time.Duration) (string, error) {
	if expiry == 0 {
		expiry = s.cfg.PresignExpiry
	}
	u, err := s.public.PresignedGetObject(ctx, s.bucket, key, expiry, nil)
	if err != nil {
		return "", fmt.Errorf("storage: presign get %s/%s: %w", s.bucket, key, err)
	}
	return u.String(), nil
}

package tusupload

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/vidpipe/vidpipe/platform/config"
)

// NewS3Client returns an aws-sdk-go-v2 S3 client for cfg (MinIO or AWS):
// endpoint and path style from cfg, static credentials when set (else the
// AWS default chain), checksums only where S3 requires them.
func NewS3Client(ctx context.Context, cfg config.S3) (*s3.Client, error) {
	scheme := "http://"
	if cfg.UseSSL {
		scheme = "https://"
	}
	opts := s3.Options{
		BaseEndpoint:               aws.String(scheme + cfg.Endpoint),
		UsePathStyle:               cfg.PathStyle,
		Region:                     cfg.Region,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if cfg.AccessKey != "" {
		opts.Credentials = credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")
		return s3.New(opts), nil
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(opts.Region))
	if err != nil {
		return nil, fmt.Errorf("s3 client: %w", err)
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.BaseEndpoint = opts.BaseEndpoint
		o.UsePathStyle = opts.UsePathStyle
		o.RequestChecksumCalculation = opts.RequestChecksumCalculation
		o.ResponseChecksumValidation = opts.ResponseChecksumValidation
	}), nil
}

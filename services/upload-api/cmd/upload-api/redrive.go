package main

import (
	"fmt"

	"github.com/vidpipe/vidpipe/platform/dlq"
	"github.com/vidpipe/vidpipe/platform/kafkaconn"
	uploadapi "github.com/vidpipe/vidpipe/services/upload-api"
)

// newRedriver returns the dead-letter redriver of POST
// /v1/videos/{id}/retry: platform/dlq with the API's Kafka settings
// (kafka.brokers, kafka.tls.*, kafka.sasl.*) and its S3 settings for dead
// letters whose value was moved to the bucket.
func newRedriver(cfg uploadapi.Config) (*dlq.Admin, error) {
	tr, err := kafkaconn.Transport(cfg.Kafka, nil)
	if err != nil {
		return nil, fmt.Errorf("retry redriver: %w", err)
	}
	a := dlq.NewAdmin(cfg.Kafka.Brokers)
	a.Client.Transport = tr
	a.Values = dlq.S3Values(cfg.S3, 0)
	return a, nil
}

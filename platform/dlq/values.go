package dlq

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/storage"
)

// ValueKey is the object key under which a stage stores the original value
// of a dead letter too large for Kafka ("deadletters/<stage>/<topic>/
// <partition>/<offset>", named by the input record's coordinates, so a
// retried dead letter overwrites). It must equal
// contract.DeadLetterValueKey, which the stage runtime uses.
func ValueKey(stage contract.Stage, topic string, partition int, offset int64) string {
	return contract.DeadLetterValueKey(stage, topic, partition, offset)
}

// S3Ref is the dlq.value_ref of an object: "s3://bucket/key".
func S3Ref(bucket, key string) string { return "s3://" + bucket + "/" + key }

// ParseS3Ref splits "s3://bucket/key"; ok is false for anything else.
func ParseS3Ref(ref string) (bucket, key string, ok bool) {
	rest, ok := strings.CutPrefix(ref, "s3://")
	if !ok {
		return "", "", false
	}
	bucket, key, ok = strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", false
	}
	return bucket, key, true
}

// ParseKafkaRef splits "kafka://topic/partition/offset", the reference a
// stage without a dead-letter store gives a value left in its input
// record; ok is false for anything else.
func ParseKafkaRef(ref string) (topic string, partition int, offset int64, ok bool) {
	rest, ok := strings.CutPrefix(ref, "kafka://")
	if !ok {
		return "", 0, 0, false
	}
	f := strings.Split(rest, "/")
	if len(f) != 3 || f[0] == "" {
		return "", 0, 0, false
	}
	p, err1 := strconv.Atoi(f[1])
	o, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil || p < 0 || o < 0 {
		return "", 0, 0, false
	}
	return f[0], p, o, true
}

// ValueFetcher returns the value stored at an "s3://bucket/key" reference.
type ValueFetcher func(ctx context.Context, ref string) ([]byte, error)

// S3Values returns a ValueFetcher that reads references with the S3
// settings of cfg (endpoint, credentials); the bucket is the reference's.
// Values larger than maxBytes (0: 64 MiB) are refused.
func S3Values(cfg config.S3, maxBytes int64) ValueFetcher {
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	return func(ctx context.Context, ref string) ([]byte, error) {
		bucket, key, ok := ParseS3Ref(ref)
		if !ok {
			return nil, fmt.Errorf("not an s3://bucket/key reference: %q", ref)
		}
		c := cfg
		c.Bucket = bucket
		st, err := storage.New(c)
		if err != nil {
			return nil, err
		}
		rc, err := st.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, maxBytes+1))
		if err != nil {
			return nil, err
		}
		if int64(len(b)) > maxBytes {
			return nil, fmt.Errorf("%s is larger than %d bytes", ref, maxBytes)
		}
		return b, nil
	}
}

// S3Store keeps dead-letter values in the bucket of a storage.Store (it
// implements the stage runtime's DeadLetterStore).
type S3Store struct{ Store *storage.Store }

// PutDeadLetterValue stores value under key and returns "s3://bucket/key".
func (s S3Store) PutDeadLetterValue(ctx context.Context, key string, value []byte) (string, error) {
	if _, err := s.Store.Put(ctx, key, bytes.NewReader(value), int64(len(value)), "application/octet-stream"); err != nil {
		return "", err
	}
	return S3Ref(s.Store.Bucket(), key), nil
}

// fetchValue returns the value a dead letter references.
func (a *Admin) fetchValue(ctx context.Context, ref string) ([]byte, error) {
	if topic, p, o, ok := ParseKafkaRef(ref); ok {
		var v []byte
		found := false
		err := a.scan(ctx, topic, p, o, o+1, func(m kafka.Message) bool {
			if m.Offset == o {
				v, found = m.Value, true
			}
			return false
		})
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, fmt.Errorf("record %s/%d@%d is gone (retention?)", topic, p, o)
		}
		return v, nil
	}
	if _, _, ok := ParseS3Ref(ref); !ok {
		return nil, fmt.Errorf("unsupported value reference %q (want s3://bucket/key or kafka://topic/partition/offset)", ref)
	}
	if a.Values == nil {
		return nil, fmt.Errorf("no object store configured to read %s", ref)
	}
	return a.Values(ctx, ref)
}

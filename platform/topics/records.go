package topics

import (
	"errors"
	"fmt"
	"io"

	"github.com/segmentio/kafka-go"
)

// Messages converts the records of one fetch of topic/partition into
// messages, keeping those at or after offset from (a fetch may return a
// batch that starts before it). A nil reader (an empty fetch) gives none.
// It stops at the end of the fetch (nil error) or at a record it cannot
// read (the messages before it, and the error).
func Messages(topic string, partition int, from int64, rr kafka.RecordReader) ([]kafka.Message, error) {
	if rr == nil {
		return nil, nil
	}
	var msgs []kafka.Message
	for {
		r, err := rr.ReadRecord()
		if errors.Is(err, io.EOF) {
			return msgs, nil
		}
		if err != nil {
			return msgs, err
		}
		key, err := RecordBytes(r.Key)
		if err != nil {
			return msgs, fmt.Errorf("record key: %w", err)
		}
		value, err := RecordBytes(r.Value)
		if err != nil {
			return msgs, fmt.Errorf("record value: %w", err)
		}
		if r.Offset < from {
			continue // the start of a batch
		}
		msgs = append(msgs, kafka.Message{Topic: topic, Partition: partition, Offset: r.Offset,
			Key: key, Value: value, Headers: r.Headers, Time: r.Time})
	}
}

// RecordBytes reads a record's key or value; a null field is nil.
func RecordBytes(b kafka.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer b.Close()
	return io.ReadAll(b)
}

package topics_test

import (
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/platform/topics"
)

func TestMessagesKeepsRecordsFromTheOffset(t *testing.T) {
	rr := kafka.NewRecordReader(
		kafka.Record{Offset: 5, Key: kafka.NewBytes([]byte("a")), Value: kafka.NewBytes([]byte("early"))},
		kafka.Record{Offset: 6, Key: kafka.NewBytes([]byte("b")), Value: kafka.NewBytes([]byte("v6")),
			Headers: []kafka.Header{{Key: "ce_id", Value: []byte("x")}}},
		kafka.Record{Offset: 7, Value: kafka.NewBytes([]byte("v7"))}, // null key
	)
	msgs, err := topics.Messages("video.uploaded", 3, 6, rr)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2 (offsets 6 and 7): %+v", len(msgs), msgs)
	}
	m := msgs[0]
	if m.Topic != "video.uploaded" || m.Partition != 3 || m.Offset != 6 || string(m.Key) != "b" || string(m.Value) != "v6" ||
		len(m.Headers) != 1 || m.Headers[0].Key != "ce_id" {
		t.Errorf("first message = %+v", m)
	}
	if msgs[1].Key != nil || string(msgs[1].Value) != "v7" {
		t.Errorf("null key: %+v, want a nil key", msgs[1])
	}
	if got, err := topics.Messages("t", 0, 0, nil); got != nil || err != nil {
		t.Errorf("Messages(nil reader) = %v, %v; want none", got, err)
	}
}

package stage

import (
	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/events"
)

// FromKafkaHeaders converts kafka-go headers to event headers.
func FromKafkaHeaders(hs []kafka.Header) []events.Header {
	out := make([]events.Header, len(hs))
	for i, h := range hs {
		out[i] = events.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

// ToKafkaHeaders converts event headers to kafka-go headers.
func ToKafkaHeaders(hs []events.Header) []kafka.Header {
	out := make([]kafka.Header, len(hs))
	for i, h := range hs {
		out[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

// NewMessage builds the record for e: key = video id, value = JSON,
// CloudEvents headers with a fresh (random) ce_id, source
// "/vidpipe/<service>" and a traceparent continuing parentTrace (or
// starting a new trace). The runtime itself uses [NewMessageWithID].
func NewMessage(e events.Event, service, parentTrace string) (kafka.Message, error) {
	return NewMessageWithID(e, events.NewID(), service, parentTrace)
}

// NewMessageWithID is NewMessage with the ce_id given: the runtime names
// each output events.OutputEventID(stage, input ce_id), so that every
// redelivery duplicate of an output carries the same id.
func NewMessageWithID(e events.Event, id, service, parentTrace string) (kafka.Message, error) {
	value, err := events.Encode(e)
	if err != nil {
		return kafka.Message{}, err
	}
	meta := events.Meta{
		ID:          id,
		Source:      events.SourceFor(service),
		Time:        now(),
		Traceparent: events.NewTraceparent(parentTrace),
	}
	return kafka.Message{
		Topic:   e.Topic(),
		Key:     []byte(e.Key()),
		Value:   value,
		Headers: ToKafkaHeaders(events.CloudEventHeaders(e, meta)),
	}, nil
}

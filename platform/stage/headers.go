package stage

import (
	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
)

// FromKafkaHeaders converts kafka-go headers to event headers.
func FromKafkaHeaders(hs []kafka.Header) []contract.Header {
	out := make([]contract.Header, len(hs))
	for i, h := range hs {
		out[i] = contract.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

// ToKafkaHeaders converts event headers to kafka-go headers.
func ToKafkaHeaders(hs []contract.Header) []kafka.Header {
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
func NewMessage(e contract.Event, service, parentTrace string) (kafka.Message, error) {
	return NewMessageWithID(e, contract.NewID(), service, parentTrace)
}

// NewMessageWithID is NewMessage with the ce_id given: the runtime names
// each output contract.OutputEventID(stage, input ce_id), so that every
// redelivery duplicate of an output carries the same id.
func NewMessageWithID(e contract.Event, id, service, parentTrace string) (kafka.Message, error) {
	value, err := contract.Encode(e)
	if err != nil {
		return kafka.Message{}, err
	}
	meta := contract.Meta{
		ID:          id,
		Source:      contract.SourceFor(service),
		Time:        now(),
		Traceparent: contract.NewTraceparent(parentTrace),
	}
	return kafka.Message{
		Topic:   e.Topic(),
		Key:     []byte(e.Key()),
		Value:   value,
		Headers: ToKafkaHeaders(contract.CloudEventHeaders(e, meta)),
	}, nil
}

package contract

import (
	"strconv"
	"time"
)

// CloudEvents 1.0 Kafka binary binding header keys, and W3C trace context.
const (
	HeaderSpecVersion = "ce_specversion"
	HeaderID          = "ce_id"
	HeaderType        = "ce_type"
	HeaderSource      = "ce_source"
	HeaderTime        = "ce_time"
	HeaderSubject     = "ce_subject"
	HeaderDataSchema  = "ce_dataschema"
	HeaderContentType = "content-type"
	HeaderTraceparent = "traceparent"
)

// Dead-letter header keys, added to the original record's headers.
const (
	HeaderDLQStage      = "dlq.stage"
	HeaderDLQTopic      = "dlq.topic"
	HeaderDLQPartition  = "dlq.partition"
	HeaderDLQOffset     = "dlq.offset"
	HeaderDLQGroup      = "dlq.group"
	HeaderDLQError      = "dlq.error"
	HeaderDLQErrorClass = "dlq.error_class"
	// HeaderDLQErrorCode is the stable, user-safe error code (see
	// ErrorCodes): what the status document shows instead of dlq.error.
	HeaderDLQErrorCode = "dlq.error_code"
	HeaderDLQAttempts  = "dlq.attempts"
	HeaderDLQFailedAt  = "dlq.failed_at"
	// HeaderDLQValueRef is set when the original value was too large to
	// dead-letter through Kafka: the record's value is then empty and the
	// original value is stored at this object reference ("s3://bucket/key").
	HeaderDLQValueRef = "dlq.value_ref"
	// HeaderDLQValueBytes is the size of the original value when
	// HeaderDLQValueRef is set.
	HeaderDLQValueBytes = "dlq.value_bytes"
)

// HeaderRedriveCount counts how often a record was redriven from a DLQ.
const HeaderRedriveCount = "vidpipe.redrive_count"

// Error classes in [HeaderDLQErrorClass].
const (
	// ErrorClassPermanent: the input can never succeed (undecodable,
	// invalid, or the handler said so); it was not retried.
	ErrorClassPermanent = "permanent"
	// ErrorClassExhausted: every attempt failed with a transient error.
	ErrorClassExhausted = "exhausted"
)

// Fixed header values.
const (
	SpecVersion = "1.0"
	ContentType = "application/json"
)

// Header is one record header. It mirrors the Kafka record header without
// depending on a client library.
type Header struct {
	Key   string
	Value []byte
}

// Meta is the per-record envelope that goes into CloudEvents headers.
type Meta struct {
	// ID is the CloudEvents id, unique per produced record.
	ID string
	// Source is the producing service, e.g. "/vidpipe/transcode".
	Source string
	// Time is when the record was produced.
	Time time.Time
	// Traceparent is the W3C trace context, carried from input to output.
	// Empty means none.
	Traceparent string
}

// SourceFor returns the CloudEvents source of a vidpipe service.
func SourceFor(service string) string { return "/vidpipe/" + service }

// CloudEventHeaders returns the binary-mode CloudEvents headers for e.
func CloudEventHeaders(e Event, m Meta) []Header {
	h := make([]Header, 0, 9)
	h = append(h,
		Header{HeaderSpecVersion, []byte(SpecVersion)},
		Header{HeaderID, []byte(m.ID)},
		Header{HeaderType, []byte(e.EventType())},
		Header{HeaderSource, []byte(m.Source)},
		Header{HeaderTime, []byte(m.Time.UTC().Format(time.RFC3339Nano))},
		Header{HeaderSubject, []byte(e.Key())},
		Header{HeaderDataSchema, []byte(DataSchema(e.Topic()))},
		Header{HeaderContentType, []byte(ContentType)},
	)
	if m.Traceparent != "" {
		h = append(h, Header{HeaderTraceparent, []byte(m.Traceparent)})
	}
	return h
}

// DataSchema is the ce_dataschema of events on topic, at [SchemaVersion].
func DataSchema(topic string) string {
	return "urn:vidpipe:schema:" + topic + ":v" + strconv.Itoa(SchemaVersion)
}

// HeaderValue returns the value of the last header named key, or "".
func HeaderValue(hs []Header, key string) string {
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Key == key {
			return string(hs[i].Value)
		}
	}
	return ""
}

// DeadLetter describes why a record was dead-lettered; see [DeadLetter.Headers].
type DeadLetter struct {
	Stage     Stage
	Topic     string
	Partition int
	Offset    int64
	Group     string
	Err       string
	Class     string // ErrorClassPermanent or ErrorClassExhausted
	// Code is the user-safe error code (HeaderDLQErrorCode, one of
	// ErrorCodes); Headers writes ErrorCodeInternal when it is empty.
	// ParseDeadLetter leaves it empty for a dead letter without the header
	// (written before it existed).
	Code     string
	Attempts int
	FailedAt time.Time
	// ValueRef, when set, says the record's value is empty and the
	// original value is stored at this reference (HeaderDLQValueRef, e.g.
	// "s3://bucket/key"); ValueBytes is its size (HeaderDLQValueBytes).
	ValueRef   string
	ValueBytes int
}

// DLQHeaderKeys lists every header key a dead-letter record adds.
var DLQHeaderKeys = []string{
	HeaderDLQStage, HeaderDLQTopic, HeaderDLQPartition, HeaderDLQOffset,
	HeaderDLQGroup, HeaderDLQError, HeaderDLQErrorClass, HeaderDLQErrorCode, HeaderDLQAttempts,
	HeaderDLQFailedAt,
}

// MaxDLQErrorLen bounds the dlq.error header; longer messages are cut.
const MaxDLQErrorLen = 4096

// Headers returns original with any earlier dlq.* headers removed and this
// dead letter's headers appended (dlq.value_ref and dlq.value_bytes only
// when ValueRef is set).
func (d DeadLetter) Headers(original []Header) []Header {
	out := StripDLQHeaders(original)
	msg := d.Err
	if len(msg) > MaxDLQErrorLen {
		msg = msg[:MaxDLQErrorLen]
	}
	code := d.Code
	if code == "" {
		code = ErrorCodeInternal
	}
	out = append(out,
		Header{HeaderDLQStage, []byte(d.Stage)},
		Header{HeaderDLQTopic, []byte(d.Topic)},
		Header{HeaderDLQPartition, []byte(strconv.Itoa(d.Partition))},
		Header{HeaderDLQOffset, []byte(strconv.FormatInt(d.Offset, 10))},
		Header{HeaderDLQGroup, []byte(d.Group)},
		Header{HeaderDLQError, []byte(msg)},
		Header{HeaderDLQErrorClass, []byte(d.Class)},
		Header{HeaderDLQErrorCode, []byte(code)},
		Header{HeaderDLQAttempts, []byte(strconv.Itoa(d.Attempts))},
		Header{HeaderDLQFailedAt, []byte(d.FailedAt.UTC().Format(time.RFC3339Nano))},
	)
	if d.ValueRef != "" {
		out = append(out,
			Header{HeaderDLQValueRef, []byte(d.ValueRef)},
			Header{HeaderDLQValueBytes, []byte(strconv.Itoa(d.ValueBytes))},
		)
	}
	return out
}

// ParseDeadLetter reads the dlq.* headers back. ok is false when the
// headers carry no dlq.stage.
func ParseDeadLetter(hs []Header) (d DeadLetter, ok bool) {
	st := HeaderValue(hs, HeaderDLQStage)
	if st == "" {
		return d, false
	}
	d.Stage = Stage(st)
	d.Topic = HeaderValue(hs, HeaderDLQTopic)
	d.Partition, _ = strconv.Atoi(HeaderValue(hs, HeaderDLQPartition))
	d.Offset, _ = strconv.ParseInt(HeaderValue(hs, HeaderDLQOffset), 10, 64)
	d.Group = HeaderValue(hs, HeaderDLQGroup)
	d.Err = HeaderValue(hs, HeaderDLQError)
	d.Class = HeaderValue(hs, HeaderDLQErrorClass)
	d.Code = HeaderValue(hs, HeaderDLQErrorCode)
	d.Attempts, _ = strconv.Atoi(HeaderValue(hs, HeaderDLQAttempts))
	d.FailedAt, _ = time.Parse(time.RFC3339Nano, HeaderValue(hs, HeaderDLQFailedAt))
	d.ValueRef = HeaderValue(hs, HeaderDLQValueRef)
	d.ValueBytes, _ = strconv.Atoi(HeaderValue(hs, HeaderDLQValueBytes))
	return d, true
}

// StripDLQHeaders returns hs without dlq.* headers (a new slice).
func StripDLQHeaders(hs []Header) []Header {
	out := make([]Header, 0, len(hs)+len(DLQHeaderKeys))
	for _, h := range hs {
		if isDLQKey(h.Key) {
			continue
		}
		out = append(out, h)
	}
	return out
}

func isDLQKey(k string) bool {
	return len(k) > 4 && k[:4] == "dlq."
}

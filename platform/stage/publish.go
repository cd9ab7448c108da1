package stage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/backoff"
)

// Publish error classes (label "class" of vidpipe_stage_publish_errors_total).
const (
	// publishTransient: may succeed when retried (broker down, leader moving).
	publishTransient = "transient"
	// publishTooLarge: the record is larger than the producer or broker
	// accepts; retrying the same record can never succeed.
	publishTooLarge = "too_large"
	// publishTopic: the topic does not exist (deleted, never created).
	publishTopic = "topic"
	// publishAuth: the client may not write the topic.
	publishAuth = "auth"
)

// classifyPublish sorts a produce error into one of the classes above.
func classifyPublish(err error) string {
	var tooLarge kafka.MessageTooLargeError
	switch {
	case errors.As(err, &tooLarge), errors.Is(err, kafka.MessageSizeTooLarge), errors.Is(err, kafka.RecordListTooLarge):
		return publishTooLarge
	case errors.Is(err, kafka.UnknownTopicOrPartition), errors.Is(err, kafka.InvalidTopic):
		return publishTopic
	case errors.Is(err, kafka.TopicAuthorizationFailed), errors.Is(err, kafka.ClusterAuthorizationFailed),
		errors.Is(err, kafka.SASLAuthenticationFailed):
		return publishAuth
	}
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil {
				if c := classifyPublish(e); c != publishTransient {
					return c
				}
			}
		}
	}
	return publishTransient
}

// errTooLarge is returned by publish when the record can never be written
// because of its size.
type errTooLarge struct{ err error }

func (e *errTooLarge) Error() string { return e.err.Error() }
func (e *errTooLarge) Unwrap() error { return e.err }

// publish writes msg with acks=all, retrying until it is acknowledged or
// ctx is cancelled (false, nil). A record is never dropped: while this
// retries, the input offset is not committed. A record too large to ever
// be written returns an *errTooLarge at once, for the caller to handle.
// Errors that retrying in this process will not fix (missing topic, no
// authorization) are retried too, logged as errors, and make the worker
// stuck: /healthz fails after StuckTimeout so that it gets restarted.
func (r *runner[In, Out]) publish(ctx context.Context, msg kafka.Message, kind string) (bool, error) {
	return r.publishBatch(ctx, []kafka.Message{msg}, kind)
}

// publishBatch is publish for several records of one topic, written in
// one batch (a record too large fails the whole batch).
func (r *runner[In, Out]) publishBatch(ctx context.Context, msgs []kafka.Message, kind string) (bool, error) {
	if len(msgs) == 0 {
		return true, nil
	}
	msg := msgs[0]
	op := "publish " + kind + " to " + msg.Topic
	for attempt := 1; ; attempt++ {
		err := r.writer.WriteMessages(ctx, msgs...)
		if err == nil {
			r.stuck.ok(op)
			return true, nil
		}
		if ctx.Err() != nil {
			return false, nil
		}
		class := classifyPublish(err)
		r.metrics.publishErrors.WithLabelValues(kind, class).Inc()
		if class == publishTooLarge {
			// Not a stuck topic: the caller handles the record (and marks
			// stuck itself if it cannot).
			size := 0
			for _, m := range msgs {
				size = max(size, recordSize(m))
			}
			return false, &errTooLarge{fmt.Errorf("%s record of %d bytes is too large for Kafka: %w", kind, size, err)}
		}
		r.stuck.fail(op, err.Error())
		r.metrics.publishRetries.WithLabelValues(kind).Inc()
		d := backoff.Jittered(attempt, 200*time.Millisecond, 10*time.Second, nil)
		if class == publishTransient {
			r.log.Warn("publish failed, retrying", "kind", kind, "topic", msg.Topic, "key", string(msg.Key), "err", err, "retry_in", d)
		} else {
			r.log.Error("publish failed and will not succeed until the topic or its permissions are fixed; retrying",
				"kind", kind, "class", class, "topic", msg.Topic, "key", string(msg.Key), "err", err, "retry_in", d)
		}
		if !backoff.Sleep(ctx, d) {
			return false, nil
		}
	}
}

// recordSize estimates the bytes a record takes on the wire (key, value,
// headers, plus framing).
func recordSize(m kafka.Message) int {
	n := len(m.Key) + len(m.Value) + 64
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value) + 8
	}
	return n
}

// deadLetter publishes m to the DLQ with the dlq.* headers. When the dead
// letter would be too large for Kafka (the original value was near the
// limit, or the broker's limit is lower than ours), the original value is
// moved out of Kafka: stored with DeadLetterStore (or referenced in the
// input topic) and named by the dlq.value_ref header, and the dead letter's
// value is empty. It reports false when ctx was cancelled first.
func (r *runner[In, Out]) deadLetter(ctx context.Context, m kafka.Message, cause error, class string, attempts int) bool {
	dl := contract.DeadLetter{
		Stage: r.opts.Stage, Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
		Group: r.opts.Group, Err: cause.Error(), Class: class, Code: deadLetterCode(cause, class, attempts),
		Attempts: attempts, FailedAt: now(),
	}
	msg := kafka.Message{
		Topic:   r.opts.DLQTopic,
		Key:     m.Key,
		Value:   m.Value,
		Headers: ToKafkaHeaders(dl.Headers(FromKafkaHeaders(m.Headers))),
	}
	// Leave room for the batch framing kafka-go adds.
	limit := r.opts.MaxRecordBytes - 1024
	moved := false
	if recordSize(msg) > limit {
		var ok bool
		if msg, ok = r.moveValue(ctx, m, dl, limit); !ok {
			return false
		}
		moved = true
	}
	for {
		ok, err := r.publish(ctx, msg, "dlq")
		if err == nil {
			if !ok {
				return false
			}
			break
		}
		if !moved { // the broker's limit is lower than ours
			if msg, ok = r.moveValue(ctx, m, dl, limit); !ok {
				return false
			}
			moved = true
			continue
		}
		// Even without its value (and with only the essential headers) the
		// broker refuses it: nothing else can be removed. Keep retrying (the
		// worker shows stuck) rather than lose the record. The key is
		// publish's own, so its next success clears it.
		r.stuck.fail("publish dlq to "+msg.Topic, err.Error())
		r.log.Error("dead letter refused even without its value; retrying", "key", string(m.Key), "err", err)
		if !backoff.Sleep(ctx, 10*time.Second) {
			return false
		}
	}
	r.metrics.messages.WithLabelValues(OutcomeDeadLettered).Inc()
	r.log.Warn("dead-lettered", "key", string(m.Key), "class", class, "attempts", attempts, "err", cause, "dlq", r.opts.DLQTopic,
		"value_ref", contract.HeaderValue(FromKafkaHeaders(msg.Headers), contract.HeaderDLQValueRef))
	return true
}

// deadLetterCode is the dlq.error_code of a dead letter: the code the
// error carries (Coded, or invalid_event for a decoding or validation
// error); a record refused before any attempt (undecodable, invalid, no
// key, a key that is not its video id) is an invalid event; else internal.
func deadLetterCode(cause error, class string, attempts int) string {
	if c := ErrorCode(cause); c != "" {
		return c
	}
	if class == contract.ErrorClassPermanent && attempts == 0 {
		return contract.ErrorCodeInvalidEvent
	}
	return contract.ErrorCodeInternal
}

// moveValue returns the dead letter of m without its value: the value is
// stored with DeadLetterStore (retried until stored or ctx is cancelled) or,
// without one, referenced where it already is (the input record). If the
// headers alone still exceed limit, only the CloudEvents, trace, vidpipe
// and dlq headers are kept.
func (r *runner[In, Out]) moveValue(ctx context.Context, m kafka.Message, dl contract.DeadLetter, limit int) (kafka.Message, bool) {
	ref := fmt.Sprintf("kafka://%s/%d/%d", m.Topic, m.Partition, m.Offset)
	if st := r.opts.DeadLetterStore; st != nil {
		key := contract.DeadLetterValueKey(r.opts.Stage, m.Topic, m.Partition, m.Offset)
		op := "store dead-letter value"
		for attempt := 1; ; attempt++ {
			got, err := st.PutDeadLetterValue(ctx, key, m.Value)
			if err == nil {
				r.stuck.ok(op)
				ref = got
				break
			}
			if ctx.Err() != nil {
				return kafka.Message{}, false
			}
			r.stuck.fail(op, err.Error())
			d := backoff.Jittered(attempt, 200*time.Millisecond, 10*time.Second, nil)
			r.log.Warn("storing a dead-letter value failed, retrying", "key", key, "err", err, "retry_in", d)
			if !backoff.Sleep(ctx, d) {
				return kafka.Message{}, false
			}
		}
	}
	hs := FromKafkaHeaders(m.Headers)
	if size := recordSize(kafka.Message{Key: m.Key, Headers: m.Headers}); size > limit/2 {
		kept := hs[:0:0]
		for _, h := range hs {
			if strings.HasPrefix(h.Key, "ce_") || h.Key == contract.HeaderContentType || h.Key == contract.HeaderTraceparent ||
				strings.HasPrefix(h.Key, "vidpipe.") {
				if len(h.Value) <= 1024 {
					kept = append(kept, h)
				}
			}
		}
		hs = kept
	}
	hs = append(dl.Headers(hs),
		contract.Header{Key: contract.HeaderDLQValueRef, Value: []byte(ref)},
		contract.Header{Key: contract.HeaderDLQValueBytes, Value: []byte(strconv.Itoa(len(m.Value)))},
	)
	r.log.Warn("dead letter too large for Kafka: its value is moved out", "key", string(m.Key),
		"value_bytes", len(m.Value), "value_ref", ref)
	return kafka.Message{Topic: r.opts.DLQTopic, Key: m.Key, Headers: ToKafkaHeaders(hs)}, true
}

// Package dispatch moves events from Kafka to users' endpoints.
//
// [Consumer] reads the pipeline's step topics, video.deleted,
// video.updated and the stages' dead-letter topics in its own consumer
// group ("webhooks"), turns each record into a webhook event ([FromRecord]:
// a dead letter becomes video.failed), records it in its owner's event log
// and enqueues a delivery per matching endpoint (endpoints.Store.Record;
// idempotent, so a redelivered record is delivered once). It also reads
// webhooks.redrive, where `vidpipectl dlq redrive webhooks` puts dead
// letters back, and enqueues those deliveries again.
//
// [Deliverer] claims due deliveries from PostgreSQL and POSTs them
// (Standard Webhooks headers, CloudEvents structured JSON body), retries
// failures with exponential backoff until the retry horizon, then
// dead-letters them to webhooks.dlq; it disables an endpoint that keeps
// failing. A slow or dead endpoint holds at most
// webhooks.max_in_flight_per_endpoint workers, and nothing here holds up
// the pipeline: its consumer group is its own.
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/services/webhooks/endpoints"
)

// TypeFailedCE is the CloudEvents type of a video.failed event.
const TypeFailedCE = "dev.vidpipe.video.failed.v1"

// Source is the CloudEvents source of the events this service makes
// (video.failed).
var Source = contract.SourceFor(string(contract.StageWebhooks))

// ErrSkip is returned by FromRecord for a record that is no event for a
// user (wrapped with the reason).
var ErrSkip = errors.New("not delivered")

// OwnerLookup finds the owner of a video seen earlier ("" if unknown).
type OwnerLookup func(ctx context.Context, videoID string) (string, error)

// Topics are the topics the Consumer reads: every step of the pipeline,
// the lifecycle topics, the stages' dead-letter topics and webhooks.redrive.
func Topics(p contract.Pipeline) []string {
	out := append(p.StageTopics(), contract.TopicDeleted, contract.TopicUpdated)
	out = append(out, p.DLQTopics()...)
	return append(out, contract.TopicWebhooksRedrive)
}

// CloudEvent is the structured-mode JSON body of a delivery.
type CloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            time.Time       `json:"time"`
	Subject         string          `json:"subject"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// FailedData is the data of a video.failed event: which stage gave up on
// the video and the user-safe error code (contract.ErrorCodes) of its
// dead letter; the raw error stays with the operators.
type FailedData struct {
	SchemaVersion int       `json:"schema_version"`
	VideoID       string    `json:"video_id"`
	Owner         string    `json:"owner"`
	Title         string    `json:"title,omitempty"`
	Stage         string    `json:"stage"`
	Code          string    `json:"code"`
	Class         string    `json:"class,omitempty"`
	Attempts      int       `json:"attempts"`
	FailedAt      time.Time `json:"failed_at"`
	// Item names the work item that failed ("v00003": video chunk 3,
	// "audio"), when it was one.
	Item string `json:"item,omitempty"`
}

// envelope is what FromRecord reads of any event value.
type envelope struct {
	VideoID string `json:"video_id"`
	Owner   string `json:"owner"`
	Title   string `json:"title"`
}

func headers(m kafka.Message) []contract.Header {
	hs := make([]contract.Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = contract.Header{Key: h.Key, Value: h.Value}
	}
	return hs
}

// FromRecord turns a record of a step topic, a lifecycle topic or a
// stage's dead-letter topic into the webhook event for the video's owner.
// The event id (webhook-id) is the record's ce_id; a video.failed event
// gets an id derived from the dead-lettered record's ce_id (or, without
// one, from the dead letter's coordinates), the same for every redelivery.
// A dead letter whose value is not in Kafka (dlq.value_ref) is attributed
// to the owner owners knows for its video. Errors wrapping ErrSkip are
// records to commit past.
func FromRecord(ctx context.Context, m kafka.Message, owners OwnerLookup) (endpoints.Event, error) {
	hs := headers(m)
	if dl, ok := contract.ParseDeadLetter(hs); ok {
		return failedEvent(ctx, m, hs, dl, owners)
	}
	if _, isDLQ := contract.StageForDLQ(m.Topic); isDLQ {
		return failedEvent(ctx, m, hs, contract.DeadLetter{Class: contract.ErrorClassPermanent}, owners)
	}
	var env envelope
	if !json.Valid(m.Value) || json.Unmarshal(m.Value, &env) != nil {
		return endpoints.Event{}, fmt.Errorf("%w: %s/%d@%d: value is not a JSON object", ErrSkip, m.Topic, m.Partition, m.Offset)
	}
	if !contract.IsUUID(env.VideoID) || !validOwner(env.Owner) {
		return endpoints.Event{}, fmt.Errorf("%w: %s/%d@%d: value has no video_id or no valid owner", ErrSkip, m.Topic, m.Partition, m.Offset)
	}
	id := contract.HeaderValue(hs, contract.HeaderID)
	if !validID(id) {
		id = contract.DeriveID("webhooks", m.Topic, strconv.Itoa(m.Partition), strconv.FormatInt(m.Offset, 10))
	}
	ceType := contract.HeaderValue(hs, contract.HeaderType)
	if ceType == "" {
		ceType = "dev.vidpipe." + m.Topic + ".v1"
	}
	source := contract.HeaderValue(hs, contract.HeaderSource)
	if source == "" {
		source = contract.SourceFor("unknown")
	}
	t, err := time.Parse(time.RFC3339Nano, contract.HeaderValue(hs, contract.HeaderTime))
	if err != nil {
		t = m.Time
	}
	return build(id, source, ceType, m.Topic, m.Topic, env.VideoID, env.Owner, t, m.Value)
}

func build(id, source, ceType, webhookType, topic, videoID, owner string, t time.Time, data []byte) (endpoints.Event, error) {
	body, err := json.Marshal(CloudEvent{SpecVersion: contract.SpecVersion, ID: id, Source: source, Type: ceType,
		Time: t.UTC(), Subject: videoID, DataContentType: contract.ContentType, Data: data})
	if err != nil {
		return endpoints.Event{}, fmt.Errorf("%w: encode event %s: %v", ErrSkip, id, err)
	}
	return endpoints.Event{ID: id, Owner: owner, Type: webhookType, VideoID: videoID, Topic: topic, Time: t.UTC(), Body: body}, nil
}

// failedEvent is the video.failed event of a dead letter.
func failedEvent(ctx context.Context, m kafka.Message, hs []contract.Header, dl contract.DeadLetter, owners OwnerLookup) (endpoints.Event, error) {
	key := string(m.Key)
	videoID, item, _ := strings.Cut(key, "/")
	var env envelope
	if len(m.Value) > 0 && json.Unmarshal(m.Value, &env) == nil && contract.IsUUID(env.VideoID) {
		videoID = env.VideoID
	}
	if !contract.IsUUID(videoID) {
		return endpoints.Event{}, fmt.Errorf("%w: dead letter %s/%d@%d: no video id in key %q or value", ErrSkip, m.Topic, m.Partition, m.Offset, trunc(key, 80))
	}
	owner := env.Owner
	if owner == "" && owners != nil {
		var err error
		if owner, err = owners(ctx, videoID); err != nil {
			return endpoints.Event{}, fmt.Errorf("owner of video %s: %w", videoID, err)
		}
	}
	if !validOwner(owner) {
		return endpoints.Event{}, fmt.Errorf("%w: dead letter %s/%d@%d: owner of video %s unknown", ErrSkip, m.Topic, m.Partition, m.Offset, videoID)
	}
	stageName := string(dl.Stage)
	if stageName == "" {
		if s, ok := contract.StageForDLQ(m.Topic); ok {
			stageName = string(s)
		}
	}
	orig := contract.HeaderValue(hs, contract.HeaderID)
	if !validID(orig) {
		orig = m.Topic + "/" + strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10)
	}
	id := contract.DeriveID("webhooks", "video.failed", orig)
	failedAt := dl.FailedAt
	if failedAt.IsZero() {
		failedAt = m.Time
	}
	code := dl.Code
	if code == "" {
		code = contract.ErrorCodeInternal
		if dl.Class == contract.ErrorClassPermanent && dl.Attempts == 0 {
			code = contract.ErrorCodeInvalidEvent
		}
	}
	data, err := json.Marshal(FailedData{SchemaVersion: contract.SchemaVersion, VideoID: videoID, Owner: owner, Title: env.Title,
		Stage: stageName, Code: contract.KnownErrorCode(code), Class: dl.Class, Attempts: dl.Attempts,
		FailedAt: failedAt.UTC(), Item: item})
	if err != nil {
		return endpoints.Event{}, fmt.Errorf("%w: encode video.failed: %v", ErrSkip, err)
	}
	return build(id, Source, TypeFailedCE, endpoints.TypeFailed, m.Topic, videoID, owner, failedAt, data)
}

// validID: a ce_id usable as webhook-id (else one is derived from the
// record's coordinates).
func validID(s string) bool {
	return s != "" && len(s) <= 256 && utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// validOwner: a user name PostgreSQL can store and a user can have.
func validOwner(s string) bool {
	return s != "" && len(s) <= contract.MaxOwnerLen && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Decode reads a delivery body back.
func Decode(body []byte) (CloudEvent, error) {
	var ce CloudEvent
	if err := json.Unmarshal(body, &ce); err != nil {
		return ce, fmt.Errorf("delivery body: %w", err)
	}
	return ce, nil
}

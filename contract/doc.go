// Package events is the vidpipe event contract: the event types that flow
// between stages, the topic names, the record key, the headers and the
// dead-letter format. It imports only the standard library, so any program
// (a worker, a test, a user's own consumer) can depend on it cheaply;
// a test in this package enforces that.
//
// # Flow
//
//	upload-api  ──▶ video.uploaded
//	transcode   video.uploaded    ──▶ video.transcoded   (fail: video.transcode.dlq)
//	thumbnail   video.transcoded  ──▶ video.thumbnailed  (fail: video.thumbnail.dlq)
//	indexer     video.thumbnailed ──▶ video.ready        (fail: video.indexer.dlq)
//
// Each stage consumes one topic in its own consumer group (named after the
// stage: "transcode", "thumbnail", "indexer") and publishes the next event.
// No stage calls another: each event carries everything the next stage
// needs (event-carried state).
//
// # Topics
//
// Stage topics: [TopicUploaded], [TopicTranscoded], [TopicThumbnailed],
// [TopicReady]. Dead-letter topics: [TopicTranscodeDLQ],
// [TopicThumbnailDLQ], [TopicIndexerDLQ]. See [Stage] for the mapping of
// a stage to its input, output and dead-letter topics. Lifecycle topics
// ([LifecycleTopics]): [TopicDeleted] ([VideoDeleted]), [TopicUpdated]
// ([VideoUpdated]) and [TopicCaptions] ([VideoCaptions]), published by
// upload-api when the owner deletes or edits a video or changes one of
// its caption tracks, consumed by every owner of the video's data in a group of
// its own ([LifecycleGroup]); before video.deleted, [TombstoneKey] is
// stored, and no stage stores or publishes anything for a video that has
// one.
//
// # Key and ordering
//
// The record key is the video id (a lowercase UUID). All events of one video
// therefore land on the same partition of each topic, and Kafka keeps them in
// order there. Producers use the murmur2 partitioner, the Java client's
// default, so tools in other languages agree on the partition.
//
// # Value
//
// The record value is UTF-8 JSON of one of [VideoUploaded], [VideoTranscoded],
// [VideoThumbnailed] or [VideoReady]. Every value has "video_id" and
// "schema_version" ([SchemaVersion]). Decoders ignore unknown fields (so a
// newer producer may add fields) but reject an unknown schema version, a
// missing field or a value that fails Validate: such a record is permanent
// and goes straight to the dead-letter topic.
//
// # Headers
//
// Headers follow the CloudEvents 1.0 Kafka protocol binding in binary mode:
// [HeaderSpecVersion] "ce_specversion" (always "1.0"), [HeaderID] "ce_id"
// (unique per record), [HeaderType] "ce_type" (for example
// "dev.vidpipe.video.uploaded.v1"), [HeaderSource] "ce_source" (the
// producing service, for example "/vidpipe/transcode"), [HeaderTime] "ce_time"
// (RFC 3339), [HeaderSubject] "ce_subject" (the video id),
// [HeaderDataSchema] "ce_dataschema", [HeaderContentType] "content-type"
// ("application/json"), plus the W3C trace context header [HeaderTraceparent]
// "traceparent", carried from input to output so one video's trip through
// the pipeline is one trace.
//
// # Dead letters
//
// A dead-letter record keeps the original record's key, value and headers and
// adds: [HeaderDLQStage] "dlq.stage", [HeaderDLQTopic] "dlq.topic",
// [HeaderDLQPartition] "dlq.partition", [HeaderDLQOffset] "dlq.offset",
// [HeaderDLQGroup] "dlq.group", [HeaderDLQError] "dlq.error",
// [HeaderDLQErrorClass] "dlq.error_class" ([ErrorClassPermanent] for input
// that can never succeed, [ErrorClassExhausted] when retries ran out),
// [HeaderDLQErrorCode] "dlq.error_code" (a stable, user-safe code, one of
// [ErrorCodes]: what the status document shows, never dlq.error),
// [HeaderDLQAttempts] "dlq.attempts" and [HeaderDLQFailedAt] "dlq.failed_at"
// (RFC 3339), and when the value was too large for Kafka (the record's value
// is then empty) [HeaderDLQValueRef] "dlq.value_ref" ("s3://bucket/key") and
// [HeaderDLQValueBytes] "dlq.value_bytes". A redriven record carries
// [HeaderRedriveCount] "vidpipe.redrive_count" and a new ce_id,
// [RedriveEventID].
//
// # Webhooks
//
// The webhooks service delivers events to users' endpoints (Standard
// Webhooks; webhook-id is the event's ce_id) and dead-letters a delivery
// that failed until its retry horizon to [TopicWebhooksDLQ] (key: the
// video id; value: the event's data; the event's CloudEvents headers,
// [HeaderWebhookEndpoint], [HeaderWebhookEventID], [HeaderWebhookEventType]
// and the dlq.* headers with dlq.stage [StageWebhooks]). A redrive puts it
// on [TopicWebhooksRedrive], from which the service delivers it again.
//
// # Objects
//
// Object keys are deterministic per video id (see [SourceKey], [OutputPrefix]),
// so re-processing an event overwrites objects and never duplicates them.
// Validate ties every key to its video: source.key is [SourceKey] of the
// video id and every output key lies under its [OutputPrefix]
// ([VideoOwnsKey]), so a forged event cannot point a reader at another
// video's objects.
//
// Outputs come in generations ([Video.Generation], see generations.go): a
// reprocess re-runs the pipeline for the same video as generation N > 0,
// which writes under [GenerationPrefix] "videos/{id}/g{N}/" (generation 0
// keeps "videos/{id}/…"); stages build every key from [Video.Outputs], and
// Validate keeps an event's output keys in its generation's folder. The
// video.uploaded of generation N has the ce_id [GenerationEventID].
//
// # Delivery
//
// Delivery is at least once: a stage commits its input offset only after the
// next event (or the dead-letter record) is acknowledged by all in-sync
// replicas. A crash between the two redelivers the input; handlers are
// idempotent, so a redelivery produces the same objects and the same event.
package contract

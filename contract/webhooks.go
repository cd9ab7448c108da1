package contract

// Webhooks. The webhooks service (services/webhooks) pushes events to
// users' HTTPS endpoints in the Standard Webhooks format; a delivery that
// fails until its retry horizon is dead-lettered to [TopicWebhooksDLQ],
// which `vidpipectl dlq list|redrive webhooks` reads like a stage's DLQ.
// A redrive publishes the record to [TopicWebhooksRedrive], from which
// the service enqueues the delivery again.

// Webhook topics.
const (
	// TopicWebhooksDLQ holds deliveries that failed until the retry
	// horizon. Key: the video id. Value: the delivered body (the event as
	// CloudEvents structured JSON). Headers: the event's CloudEvents
	// headers, the webhook.* headers below and the dlq.* headers
	// (dlq.stage "webhooks", dlq.topic the event's topic, dlq.partition and
	// dlq.offset -1, dlq.error the last attempt's outcome).
	TopicWebhooksDLQ = "webhooks.dlq"
	// TopicWebhooksRedrive is where a redrive of TopicWebhooksDLQ puts a
	// dead letter back: the webhooks service consumes it and delivers the
	// message to its endpoint again (same webhook-id).
	TopicWebhooksRedrive = "webhooks.redrive"
)

// StageWebhooks names the webhook deliveries where a stage name is
// expected: dlq.stage of their dead letters, the argument of vidpipectl
// dlq list|redrive, the consumer group of the webhooks service. It is not
// a stage of the pipeline table (Valid is false).
const StageWebhooks Stage = "webhooks"

// Headers of a webhook dead letter (besides CloudEvents and dlq.*).
const (
	// HeaderWebhookEndpoint is the endpoint id the delivery was for.
	HeaderWebhookEndpoint = "webhook.endpoint_id"
	// HeaderWebhookEventID is the message id (webhook-id) of the delivery.
	HeaderWebhookEventID = "webhook.event_id"
	// HeaderWebhookEventType is the webhook event type ("video.ready").
	HeaderWebhookEventType = "webhook.event_type"
)

// WebhookTopics lists the topics of the webhooks service.
func WebhookTopics() []string { return []string{TopicWebhooksDLQ, TopicWebhooksRedrive} }

-- Webhook endpoints, the per-owner event log and the delivery queue/log.

CREATE TABLE webhook_endpoints (
    id                  uuid PRIMARY KEY,
    owner               text NOT NULL,
    url                 text NOT NULL,
    description         text NOT NULL DEFAULT '',
    event_types         text[] NOT NULL,
    secret              text NOT NULL,
    -- the secret before the last rotation, also signed with until
    -- previous_secret_until
    previous_secret       text,
    previous_secret_until timestamptz,
    enabled             boolean NOT NULL DEFAULT true,
    disabled_reason     text,
    disabled_at         timestamptz,
    -- first failed attempt of the current failure streak (NULL: healthy)
    failing_since       timestamptz,
    -- deliveries exhausted in a row (reset by any success)
    exhausted_streak    integer NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (owner, created_at);

-- Every event of an owner, kept for webhooks.event_retention (replay).
CREATE TABLE webhook_events (
    id          text PRIMARY KEY,       -- webhook-id: the CloudEvents id
    owner       text NOT NULL,
    event_type  text NOT NULL,          -- video.ready, video.failed, ...
    video_id    text NOT NULL,
    topic       text NOT NULL,
    occurred_at timestamptz NOT NULL,   -- the event's time
    body        bytea NOT NULL,         -- the CloudEvents structured JSON delivered
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_events_owner_time ON webhook_events (owner, occurred_at);
CREATE INDEX webhook_events_recorded ON webhook_events (recorded_at);

-- The owner of each video seen, for dead letters whose value is elsewhere.
CREATE TABLE webhook_video_owners (
    video_id text PRIMARY KEY,
    owner    text NOT NULL,
    seen_at  timestamptz NOT NULL DEFAULT now()
);

-- One delivery per endpoint and event: the queue (status pending) and the log.
CREATE TABLE webhook_deliveries (
    id               bigserial PRIMARY KEY,
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         text NOT NULL,
    event_type       text NOT NULL,
    -- pending, delivered, exhausted (to be dead-lettered), dead_lettered
    status           text NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0,
    -- when it is due; while an attempt runs, the end of its lease
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- start of the retry horizon (creation, replay or redrive)
    horizon_from     timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_latency_ms  integer,
    last_error       text,
    delivered_at     timestamptz,
    -- ce_id of the last redrive applied (a redelivered redrive record is applied once)
    redrive_id       text,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_exhausted ON webhook_deliveries (id) WHERE status = 'exhausted';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);

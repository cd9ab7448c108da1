-- upload_reservations holds the bytes of uploads in progress, and of
-- finished uploads the projection has not seen yet, for the per-user storage
-- quota (api.user_quota_bytes). A user's usage is the source sizes of their
-- videos in video_status plus their reservations younger than
-- api.quota_reservation_ttl for videos not in video_status yet. Written only
-- by the upload-api, under a per-owner advisory lock, so the quota holds
-- across replicas.
CREATE TABLE upload_reservations (
	video_id   uuid        PRIMARY KEY,
	owner      text        NOT NULL,
	bytes      bigint      NOT NULL CHECK (bytes >= 0),
	updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX upload_reservations_owner ON upload_reservations (owner, updated_at);

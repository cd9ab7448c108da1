// Package projection keeps the status of every video, as GET /v1/videos/{id}
// and its SSE stream report it, by consuming every stage topic, the work
// completions (video.transcode.chunks-done) and every dead-letter topic
// into PostgreSQL.
//
// # API
//
//	// Store: table video_status, migrations embedded (Open runs Migrate).
//	func Open(ctx context.Context, pool *pgxpool.Pool, opts ...StoreOption) (*Store, error)
//	func WithLogger(l *slog.Logger) StoreOption
//	func WithPipeline(p contract.Pipeline) StoreOption // default contract.DefaultPipeline()
//	func Migrate(ctx context.Context, pool *pgxpool.Pool) error
//	func (s *Store) Get(ctx context.Context, owner, id string) (State, error) // ErrNotFound: missing, other owner's, bad id
//	func (s *Store) Apply(ctx context.Context, rec Record) error            // idempotent, monotonic; ErrUndecodable: skip
//	func (s *Store) Subscribe(ctx context.Context, id string) (<-chan State, func())
//	func (s *Store) SubscribeOwner(ctx context.Context, owner string) (*OwnerSubscription, func()) // every video of owner (GET /v1/events)
//	func (s *Store) List(ctx context.Context, owner string, opts ListOptions) ([]State, string, error) // the library, newest first, keyset pages
//	func (s *Store) Ping(ctx context.Context) error
//	func (s *Store) Pipeline() contract.Pipeline
//	func (st State) Terminal() bool // complete (the last step) or failed
//	func (st State) NewestGeneration() int
//	func (s *Store) Reprocess(ctx, owner, id string, check func(State) error, start func(ctx, State, gen int) error) (int, error)
//	func (s *Store) WithRedriveLock(ctx context.Context, fn func(ctx context.Context) error) error
//
//	// Lifecycle (lifecycle.go), written by the API itself:
//	func (s *Store) MarkDeleted(ctx context.Context, owner, id string, at time.Time) (State, error)
//	func (s *Store) Edit(ctx context.Context, owner, id string, e Edit) (State, error)
//	func (s *Store) Patch(ctx context.Context, owner, id string, at time.Time, merge func(contract.Video) (contract.Video, error)) (State, contract.Video, error)
//	func (s *Store) DeletedAmong(ctx context.Context, ids []string) (map[string]bool, error)
//	func (s *Store) Owner(ctx context.Context, id string) (owner string, deleted bool, err error)
//	func (s *Store) ReservationOwner(ctx context.Context, id string) (string, error)
//
//	// Consumer: group "upload-api" over Topics(pipeline); commits after Apply.
//	func Topics(p contract.Pipeline) []string         // steps' topics, ProgressTopics, DLQs
//	func ProgressTopics(p contract.Pipeline) []string // video.transcode.chunks-done
//	func NewConsumer(cfg config.Kafka, store *Store, logger *slog.Logger, opts ...ConsumerOption) *Consumer
//	func WithGroup(group string) ConsumerOption                 // default DefaultGroup
//	func WithRetryBackoff(min, max time.Duration) ConsumerOption // default 100ms..5s
//	func WithHandler(topics []string, fn func(context.Context, Record) error) ConsumerOption // another group's consumer (video.deleted)
//	func (c *Consumer) Run(ctx context.Context) error
//	func (c *Consumer) Ready() bool
//
// # States
//
// The statuses, their ranks and how each topic decodes come from the
// pipeline table (contract.Pipeline; [WithPipeline], default
// contract.DefaultPipeline): a video's [Status] is the status of the last
// step it reached — uploaded (1), playable (2), transcoded (3), thumbnailed
// (4) or ready (5) by default, ranked in that order (a stage's milestones,
// video.playable for transcode, rank between its input and its output) —
// or failed with the stage that dead-lettered it, the dlq.error reason (for
// operators), the user-safe dlq.error_code, the dlq.error_class,
// dlq.attempts and, for a work item's dead letter, the item. [State] also
// carries the upload's fields (title, tags, source) from the first event
// seen, the HLS master key from video.playable on (the video can be played
// while it is transcoded), and once ready the full video.ready document
// (media, renditions, HLS master key, thumbnails) from which the API builds
// presigned URLs.
//
// # Progress
//
// While transcode works on a video, [State].Progress counts its
// completions on video.transcode.chunks-done (contract.TranscodeChunkDone):
// video chunks done out of the run's chunks, and their media segments (per
// rung) out of the run's total. A chunk counts once however often its
// completion is delivered (a bitmap of the chunks counted is stored with
// the counts); the audio item counts as no chunk. Counts follow the run of
// the latest completion read. Progress is dropped once the video reaches
// video.transcoded (a late completion is ignored) and not shown while the
// video is failed. video.transcode.chunks (the work items) is not read.
//
// # Ordering and idempotency
//
// Kafka orders a video's records within one topic only; the projection reads
// nine topics, so it must not depend on the order between them:
//
//   - Monotonic: a stage event moves the video only forward. A redelivered
//     or late event of an earlier stage changes nothing (ready beats
//     transcoded, whatever arrives last).
//   - A dead letter of stage S marks the video failed unless the video has
//     already reached what S produces (a stale dead letter: the record was
//     redriven and succeeded, and the success was read first). A dead
//     letter of a later stage replaces the failure of an earlier one.
//   - A stage event beyond the failed stage (a redrive that succeeded)
//     replaces failed.
//   - Work items: a dead letter of one (its dlq.topic is a work topic of
//     the stage, e.g. a contract.TranscodeChunk of video.transcode.chunks,
//     key "<video id>/v00003") fails the video like a dead letter of the
//     stage's input, and is stale when that item's completion was already
//     counted for the same run. Such a failure survives a milestone of the
//     stage (video.playable can be published while another chunk fails);
//     the item's own completion (it was redriven and succeeded: for the
//     audio, its final completion) or the stage's output ends it.
//   - Idempotent: per video, Apply remembers the last offset applied from
//     each topic/partition and ignores a record at or below it, so a
//     redelivery (consumer restart, rebalance, a replay by a new group)
//     changes nothing, not even State.Version.
//   - The owner is taken from the event value (a dead letter's value is the
//     original record's value: its envelope is read with
//     events.PeekEnvelope). A record whose owner differs from the stored one
//     is refused, so events cannot move a video to another user.
//
// # Output generations
//
// A reprocess runs the pipeline again for the same video as output
// generation N > 0 (contract.Video.Generation). [State].Generation is the
// generation served; while it is complete (ready), a newer one is followed
// apart in [State].Reprocessing (its status, failure and progress, by the
// rules above) and replaces the served one in one transaction when it
// reaches the last step; while it is not complete, a newer generation
// replaces it at its first record. Records of an older generation than the
// served one (or than the one being reprocessed) change nothing. A dead
// letter without value names no generation and counts for the newest the
// row knows. See generation.go. [Store.Reprocess] starts the next
// generation at most once at a time (table reprocess_requests, a per-video
// advisory lock); [Store.WithRedriveLock] serializes the API's redrives.
//
// # Deleted and edited videos
//
// A deleted video (DELETE /v1/videos/{id}: [Store.MarkDeleted]) keeps its
// row as a tombstone (deleted_at): Get answers ErrNotFound, Apply drops
// every later record of it (a late video.transcoded does not resurrect
// it), its source no longer counts in Usage and its reservation is gone;
// subscribers receive the deleted state (State.Deleted) once, and the
// event streams end on it. A video deleted before any of its events was
// applied (an unfinished tus upload) gets a tombstone row of its own.
// Dead letters of the lifecycle consumers (dlq.topic video.deleted or
// video.updated) are ignored: they say nothing about processing.
//
// A metadata edit (PATCH: [Store.Patch], which merges under the row's lock
// so that concurrent edits lose nothing; [Store.Edit] records a whole
// edit) is stored apart from the events'
// documents (column edit) and shown over them (State.Uploaded and
// State.Ready carry the edited title, description and tags); events never
// change it, so one still in flight with the upload's metadata does not
// undo the edit. The newest edit (by its UpdatedAt) wins.
//
// # Notifications
//
// Apply issues NOTIFY vidpipe_video_status (payload: the video id) in its
// transaction when the state changed, and feeds this process's subscribers
// directly after commit. Subscribe also LISTENs, on a connection of its own
// while there are subscribers, so that a change applied by another API
// replica reaches this one; the listener reconnects with backoff and re-reads
// the subscribed videos after each reconnect. [Store.SubscribeOwner] follows
// every video of one owner the same way (while one is open, the listener
// reads each notified video to learn its owner, and after a reconnect
// re-reads the owner's videos changed since the connection was lost).
//
// # Delivery
//
// The [Consumer] is at least once: it commits a record's offset
// (synchronously) only after Apply succeeded, retries Apply with backoff
// while the database is unavailable (never skipping a record for that), and
// logs and commits past a record that can never apply ([ErrUndecodable]).
// It tolerates Kafka being down at start or later.
//
// # Schema
//
// Migrations are embedded (migrations/NNNN_*.sql) and applied by
// platform/migrate, which records the version in projection_schema_version
// (adopting the projection_migrations table of the runner before it) and
// runs each file in its own transaction under an advisory lock, so replicas
// starting together apply each once.
package projection

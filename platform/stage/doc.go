// Package stage is the runtime shared by the vidpipe workers. A worker
// supplies a typed [Handler] and [Options]; [Run] does everything else:
//
//   - consumer-group membership: Options.Runtime.Concurrency members in this
//     process, each a kafka-go group reader processing one record at a time;
//   - decoding and validation of the input (an undecodable or invalid record,
//     or one without a key, is permanent: it goes straight to the DLQ);
//   - a per-attempt timeout, bounded retries with exponential backoff and full
//     jitter ([Backoff]), and [Permanent] errors that skip the retries;
//   - publishing the handler's output to the next topic with acks=all;
//   - dead-lettering with the original key, value and headers plus the dlq.*
//     headers of the contract package;
//   - committing the input offset only after the output or the dead letter is
//     acknowledged. A failed publish (output or DLQ) is retried until it
//     succeeds or the process shuts down; nothing is committed meanwhile, so
//     a record is never dropped (at-least-once delivery);
//   - graceful shutdown when ctx is cancelled (SIGTERM/SIGINT in the
//     workers): stop fetching, let the in-flight attempt finish for up to
//     Runtime.ShutdownGrace, then cancel it (a cancelled record is not
//     committed and is redelivered to another member), commit, leave the group;
//   - the fence of deleted videos ([Fence], Options.Fence): a record of a
//     video whose tombstone exists is dropped, and what an attempt wrote is
//     removed when the tombstone appears before its output is published;
//     [LifecycleOptions], [Remover] and [RunConsumers] run a stage's
//     video.deleted (and video.updated) consumers beside it;
//   - an HTTP listener on Runtime.HTTPAddr with /healthz (the process is
//     alive), /readyz (Kafka and every Options.Checks reachable) and Prometheus
//     /metrics (see metrics.go for the series).
//
// Startup tolerates Kafka or the other dependencies not being up yet: Run
// serves /healthz at once, retries the readiness checks with backoff, and
// joins the group only once they all pass.
package stage

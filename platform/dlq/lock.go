package dlq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// RedriveLockName names the PostgreSQL advisory lock (key
// hashtextextended(RedriveLockName, 0)) that serializes redrives: the
// bookkeeping of Redrive assumes one redrive of a stage at a time. The API
// takes it, transaction-scoped, around each of its redrives (POST
// /v1/videos/{id}/retry, the admin redrive); vidpipectl takes it,
// session-scoped, with LockRedrives. Both scopes share one lock space, so
// either excludes the other.
const RedriveLockName = "vidpipe.redrive"

// ErrRedriveBusy is returned by LockRedrives when another redrive holds
// the lock until ctx ends.
var ErrRedriveBusy = errors.New("another redrive is running (the API's, or another vidpipectl)")

// LockRedrives takes the redrive lock (RedriveLockName) in the database at
// url, the status database the API uses (postgres.url). It waits while
// another redrive holds it, calling waiting once if it has to, until ctx
// ends (ErrRedriveBusy). unlock releases it and closes the connection; the
// lock is also released if the process dies (the session ends).
func LockRedrives(ctx context.Context, url string, waiting func()) (unlock func(), err error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("redrive lock: connect: %w", err)
	}
	unlock = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, RedriveLockName)
		_ = conn.Close(ctx)
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, RedriveLockName).Scan(&got); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("redrive lock: %w", err)
	}
	if got {
		return unlock, nil
	}
	if waiting != nil {
		waiting()
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, RedriveLockName); err != nil {
		_ = conn.Close(context.Background())
		if ctx.Err() != nil {
			return nil, ErrRedriveBusy
		}
		return nil, fmt.Errorf("redrive lock: %w", err)
	}
	return unlock, nil
}

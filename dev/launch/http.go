package launch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// pollInterval is how often WaitHTTP asks again.
const pollInterval = 50 * time.Millisecond

// HTTPOK returns a check that GETs url once and succeeds when it answers
// 200 (for procgroup's Process.WaitReady, or [WaitHTTP]).
func HTTPOK(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// WaitHTTP polls url every 50ms until it answers 200, timeout passes or
// ctx ends. Its error names url and the last failure. To also notice a
// process that exits meanwhile, use its WaitReady with [HTTPOK].
func WaitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	check := HTTPOK(url)
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer 200 within %v (last: %v): %w", url, timeout, err, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// MustWaitHTTP is [WaitHTTP] for tests: it fails tb when url does not
// answer 200 within timeout.
func MustWaitHTTP(tb TB, url string, timeout time.Duration) {
	tb.Helper()
	if err := WaitHTTP(context.Background(), url, timeout); err != nil {
		tb.Fatalf("%v", err)
	}
}

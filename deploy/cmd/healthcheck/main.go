// Command healthcheck probes an HTTP health endpoint for container
// healthchecks in images that have no shell, curl or wget (the distroless
// vidpipe images). It sends GET URL and exits 0 when the answer is 2xx,
// 1 otherwise (connection refused, timeout, any other status).
//
//	healthcheck [--timeout 2s] URL
//
// The Dockerfile's HEALTHCHECK runs it on /healthz; docker-compose.yml runs
// it on /readyz so that `docker compose up --wait` returns once every
// service can do its work.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

// run parses the arguments and probes the URL once. getenv is unused (no
// setting comes from the environment) but keeps the shape of every vidpipe
// main. A successful probe prints nothing; a failed one returns the reason.
func run(ctx context.Context, args []string, _ func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stdout)
	timeout := fs.Duration("timeout", 2*time.Second, "time allowed for the whole request")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: healthcheck [--timeout 2s] URL\nexits 0 when GET URL answers 2xx")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want exactly one URL")
	}
	if *timeout <= 0 {
		return fmt.Errorf("--timeout must be positive (got %s)", *timeout)
	}
	return probe(ctx, fs.Arg(0), *timeout)
}

// probe sends one GET to rawURL and returns nil on a 2xx answer. It never
// follows redirects: a health endpoint that redirects is misconfigured.
func probe(ctx context.Context, rawURL string, timeout time.Duration) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", rawURL)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("request %s: %w", u, err)
	}
	client := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, body)
	}
	return nil
}

package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vidpipe/vidpipe/dev/servers"
	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// Postgres is a real PostgreSQL server listening on 127.0.0.1. Its cluster
// lives in Dir/data and its output goes to Dir/postgres.log. When the tests
// run as root, the server runs as the `postgres` system user (initdb and
// postgres refuse root) and owns Dir.
type Postgres struct {
	// Host is always 127.0.0.1.
	Host string
	// Port stays the same across Stop, Start and Restart.
	Port int
	// User is the superuser, "postgres"; it needs no password.
	User string
	// Dir holds the cluster (Dir/data), the Unix socket (Dir/sock) and the
	// server log (Dir/postgres.log).
	Dir string

	srv *servers.Postgres
}

var sharedPostgres shared[*Postgres]

// SharedPostgres returns the test binary's PostgreSQL server, starting it on
// first use in a temporary directory that Main removes after stopping the
// server. Tests share it by each using their own database (MustDatabase);
// never Stop it (use StartPostgres for that). It requires harness.Main in
// TestMain.
func SharedPostgres(tb testing.TB) *Postgres {
	tb.Helper()
	return sharedPostgres.get(tb, "PostgreSQL", func() (*Postgres, error) {
		p, err := newPostgres()
		if err != nil {
			return nil, err
		}
		if err := p.start(); err != nil {
			return nil, errors.Join(err, os.RemoveAll(p.Dir))
		}
		onExit(func() error { return errors.Join(p.srv.Stop(), os.RemoveAll(p.Dir)) })
		return p, nil
	})
}

// StartPostgres starts a private PostgreSQL server, for tests that stop or
// restart it. It is stopped and its directory removed at the test's
// cleanup, which also logs the end of the server log if the test failed.
func StartPostgres(tb testing.TB) *Postgres {
	tb.Helper()
	p, err := newPostgres()
	if err != nil {
		tb.Fatalf("harness: %v", err)
	}
	// Not tb.TempDir: its parent directory is private to the current user,
	// which the postgres user could not enter.
	tb.Cleanup(func() {
		if err := os.RemoveAll(p.Dir); err != nil {
			tb.Errorf("harness: %v", err)
		}
	})
	if err := p.start(); err != nil {
		tb.Fatalf("harness: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("harness: end of %s:\n%s", p.srv.LogPath, procgroup.LogTail(p.srv.LogPath, logTailBytes))
		}
		if err := p.srv.Stop(); err != nil {
			tb.Errorf("harness: %v", err)
		}
	})
	return p
}

// newPostgres creates a cluster with initdb in a new temporary directory
// (UTF8, C locale, trust authentication, superuser postgres).
func newPostgres() (*Postgres, error) {
	if _, err := servers.FindPostgres(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vidpipe-pg-")
	if err != nil {
		return nil, fmt.Errorf("postgres directory: %w", err)
	}
	srv, err := servers.NewPostgres(servers.PostgresOptions{Dir: dir})
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	return &Postgres{Host: srv.Host, User: srv.User, Dir: srv.Dir, srv: srv}, nil
}

// Stop shuts the server down (fast shutdown, SIGINT: open sessions are
// ended; killed if it has not exited within 15s). Stopping a stopped
// server does nothing.
func (p *Postgres) Stop(tb testing.TB) {
	tb.Helper()
	if err := p.srv.Stop(); err != nil {
		tb.Fatalf("harness: %v", err)
	}
}

// Start starts a stopped server again on the same port with the same data,
// and returns once it accepts connections. Starting a running server fails
// the test.
func (p *Postgres) Start(tb testing.TB) {
	tb.Helper()
	if err := p.start(); err != nil {
		tb.Fatalf("harness: %v", err)
	}
}

// Restart stops the server and starts it again on the same port with the
// same data.
func (p *Postgres) Restart(tb testing.TB) {
	tb.Helper()
	p.Stop(tb)
	p.Start(tb)
}

// start starts the server: on a free port the first time, on Port
// afterwards.
func (p *Postgres) start() error {
	if err := p.srv.Start(context.Background()); err != nil {
		return err
	}
	p.Port = p.srv.Port
	return nil
}

// URL returns the connection URL of database db:
// "postgres://postgres@127.0.0.1:PORT/db?sslmode=disable".
func (p *Postgres) URL(db string) string { return p.srv.URL(db) }

// MustDatabase creates a database with a random name ("test_" + hex) on p
// and returns its URL, "postgres://postgres@127.0.0.1:PORT/NAME?sslmode=disable".
// The database is not dropped: it goes with the server's directory.
func MustDatabase(tb testing.TB, p *Postgres) string {
	tb.Helper()
	name := "test_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		tb.Fatalf("harness: connect to postgres on port %d: %v", p.Port, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("harness: create database %q: %v", name, err)
	}
	return p.URL(name)
}

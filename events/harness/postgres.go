package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresSuperuser is the superuser initdb creates; it connects without a
// password (trust authentication, 127.0.0.1 only).
const postgresSuperuser = "postgres"

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

	bins pgBins
	cred *syscall.Credential // nil: run as the current user

	mu   sync.Mutex
	proc *process // nil when stopped
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
		onExit(func() error { return errors.Join(p.stop(), os.RemoveAll(p.Dir)) })
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
			tb.Logf("harness: end of %s:\n%s", p.logPath(), readLogTail(p.logPath(), 0, logTailBytes))
		}
		if err := p.stop(); err != nil {
			tb.Errorf("harness: %v", err)
		}
	})
	return p
}

// newPostgres creates a cluster with initdb in a new temporary directory
// (UTF8, C locale, trust authentication, superuser postgres).
func newPostgres() (*Postgres, error) {
	bins, err := postgresBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vidpipe-pg-")
	if err != nil {
		return nil, fmt.Errorf("postgres directory: %w", err)
	}
	p := &Postgres{Host: "127.0.0.1", User: postgresSuperuser, Dir: dir, bins: bins, cred: cred}
	if err := p.initdb(); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	return p, nil
}

// postgresCredential returns the `postgres` system user to run the server
// as when the tests run as root, and nil otherwise.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("tests run as root, and PostgreSQL refuses root: need the `postgres` system user (apt-get install postgresql creates it): %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("uid of user postgres: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("gid of user postgres: %w", err)
	}
	// Groups nil: no supplementary groups (root's are dropped).
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (p *Postgres) dataDir() string { return filepath.Join(p.Dir, "data") }
func (p *Postgres) sockDir() string { return filepath.Join(p.Dir, "sock") }
func (p *Postgres) logPath() string { return filepath.Join(p.Dir, "postgres.log") }

// env is the servers' environment: the caller's without PG* variables,
// which could point the tools elsewhere.
func (p *Postgres) env() []string { return envWithout("PG") }

// initdb creates the directories (owned by the server's user) and the
// cluster.
func (p *Postgres) initdb() error {
	if err := os.Mkdir(p.sockDir(), 0o700); err != nil {
		return fmt.Errorf("postgres socket directory: %w", err)
	}
	if p.cred != nil {
		for _, d := range []string{p.Dir, p.sockDir()} {
			if err := os.Chown(d, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
				return fmt.Errorf("give %s to user postgres: %w", d, err)
			}
		}
	}
	cmd := exec.Command(p.bins.initdb,
		"-D", p.dataDir(),
		"-A", "trust",
		"-U", p.User,
		"-E", "UTF8",
		"--no-locale",
		"--no-sync",
	)
	cmd.Env = p.env()
	cmd.Dir = p.Dir
	cmd.SysProcAttr = sysProcAttr(syscall.SIGKILL, p.cred)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", p.dataDir(), err, out)
	}
	return nil
}

// Stop shuts the server down (fast shutdown, SIGINT: open sessions are
// ended; killed if it has not exited within 15s). Stopping a stopped
// server does nothing.
func (p *Postgres) Stop(tb testing.TB) {
	tb.Helper()
	if err := p.stop(); err != nil {
		tb.Fatalf("harness: %v", err)
	}
}

func (p *Postgres) stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return nil
	}
	err := p.proc.stop(syscall.SIGINT, stopTimeout)
	p.proc = nil
	return err
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

func (p *Postgres) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		return fmt.Errorf("postgres on port %d is already running", p.Port)
	}
	port, err := startOnPort(p.Port, p.run)
	if err != nil {
		return err
	}
	p.Port = port
	return nil
}

// maxSocketPath leaves room for "/.s.PGSQL.65535" within the 107 bytes a
// Unix socket path may have.
const maxSocketPath = 90

// run starts the server on port and waits until it accepts connections.
func (p *Postgres) run(port int) error {
	sock := p.sockDir()
	if len(sock) > maxSocketPath {
		sock = "" // no Unix socket; clients use TCP
	}
	proc, err := startProcess(procSpec{
		name: "postgres",
		path: p.bins.postgres,
		args: []string{
			"-D", p.dataDir(),
			"-p", strconv.Itoa(port),
			"-k", sock,
			"-c", "listen_addresses=127.0.0.1",
			// Durability is not under test: skip the disk flushes.
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
		},
		env:      p.env(),
		dir:      p.Dir,
		logPath:  p.logPath(),
		deathSig: syscall.SIGQUIT, // immediate shutdown; the postmaster stops its backends
		cred:     p.cred,
	})
	if err != nil {
		return err
	}
	dsn := p.url(port, "postgres")
	err = proc.waitReady(startTimeout, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		return conn.Ping(ctx)
	})
	if err != nil {
		return fmt.Errorf("postgres on 127.0.0.1:%d: %w", port, err)
	}
	p.proc = proc
	return nil
}

// URL returns the connection URL of database db:
// "postgres://postgres@127.0.0.1:PORT/db?sslmode=disable".
func (p *Postgres) URL(db string) string { return p.url(p.Port, db) }

func (p *Postgres) url(port int, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(p.User),
		Host:     net.JoinHostPort(p.Host, strconv.Itoa(port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

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

package servers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/jackc/pgx/v5"

	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// PostgresSuperuser is the superuser initdb creates; it connects without a
// password (trust authentication, 127.0.0.1 only).
const PostgresSuperuser = "postgres"

// PostgresOptions configures StartPostgres.
type PostgresOptions struct {
	// Binaries are initdb and postgres. Default: FindPostgres().
	Binaries PostgresBinaries
	// Dir holds the cluster (Dir/data) and the Unix socket (Dir/sock). It
	// is created if needed; the cluster is created with initdb (UTF8, C
	// locale, trust authentication, superuser postgres) only when
	// Dir/data/PG_VERSION does not exist, so a server started on the same
	// Dir finds its databases again. Required.
	Dir string
	// Port on 127.0.0.1. Default: 0, a free port.
	Port int
	// LogPath receives the server's output (appended). Default: Dir/postgres.log.
	LogPath string
	// Durable keeps PostgreSQL's disk flushes (fsync, synchronous_commit,
	// full_page_writes). Default: false, off: faster, and the data still
	// survives the server's or the parent's crash, but not the machine's.
	Durable bool
}

// Postgres is a real PostgreSQL server listening on 127.0.0.1. When the
// caller is root, the server runs as the `postgres` system user (initdb
// and postgres refuse root) and Dir is given to that user; every parent of
// Dir must then be searchable by it. Its methods are safe for concurrent
// use.
type Postgres struct {
	// Host is always 127.0.0.1.
	Host string
	// Port stays the same across Stop, Start and Restart.
	Port int
	// User is the superuser, "postgres"; it needs no password.
	User string
	// Dir holds the cluster (Dir/data) and the Unix socket (Dir/sock).
	Dir string
	// LogPath is the server log.
	LogPath string

	bins    PostgresBinaries
	cred    *syscall.Credential // nil: run as the current user
	durable bool

	mu   sync.Mutex
	proc *procgroup.Process // nil when stopped
}

// StartPostgres creates the cluster if Dir has none, starts the server as
// o says and returns once it accepts connections. Stop it with Stop.
func StartPostgres(ctx context.Context, o PostgresOptions) (*Postgres, error) {
	p, err := NewPostgres(o)
	if err != nil {
		return nil, err
	}
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// NewPostgres prepares Dir and creates the cluster if Dir has none, as
// StartPostgres does, without starting the server: call Start.
func NewPostgres(o PostgresOptions) (*Postgres, error) {
	if o.Dir == "" {
		return nil, errors.New("postgres: no directory")
	}
	if o.Binaries == (PostgresBinaries{}) {
		bins, err := FindPostgres()
		if err != nil {
			return nil, err
		}
		o.Binaries = bins
	}
	if o.LogPath == "" {
		o.LogPath = filepath.Join(o.Dir, "postgres.log")
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	p := &Postgres{
		Host: "127.0.0.1", Port: o.Port, User: PostgresSuperuser, Dir: o.Dir, LogPath: o.LogPath,
		bins: o.Binaries, cred: cred, durable: o.Durable,
	}
	if err := p.prepare(); err != nil {
		return nil, err
	}
	return p, nil
}

// postgresCredential returns the `postgres` system user to run the server
// as when the caller is root, and nil otherwise.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL refuses root: need the `postgres` system user (apt-get install postgresql creates it): %w", err)
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

// env is the servers' environment: the caller's without PG* variables,
// which could point the tools elsewhere.
func (p *Postgres) env() []string { return procgroup.EnvWithout("PG") }

// prepare creates Dir and the socket directory (owned by the server's
// user), and the cluster with initdb unless Dir/data/PG_VERSION exists.
func (p *Postgres) prepare() error {
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return fmt.Errorf("postgres directory: %w", err)
	}
	if p.cred != nil {
		if err := searchable(p.Dir, p.cred); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(p.sockDir(), 0o700); err != nil {
		return fmt.Errorf("postgres socket directory: %w", err)
	}
	if p.cred != nil {
		for _, d := range []string{p.Dir, p.sockDir()} {
			if err := os.Chown(d, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
				return fmt.Errorf("give %s to user postgres: %w", d, err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(p.dataDir(), "PG_VERSION")); err == nil {
		return nil // an existing cluster
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("postgres cluster in %s: %w", p.dataDir(), err)
	}
	var out bytes.Buffer
	proc, err := procgroup.Start(context.Background(), procgroup.Spec{
		Name: "initdb",
		Path: p.bins.InitDB,
		Args: []string{"-D", p.dataDir(), "-A", "trust", "-U", p.User, "-E", "UTF8", "--no-locale", "--no-sync"},
		Env:  p.env(), Dir: p.Dir, Stdout: &out, Stderr: &out,
		Credential: p.cred,
	})
	if err == nil {
		err = proc.Wait()
	}
	if err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", p.dataDir(), err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// Stop shuts the server down (fast shutdown, SIGINT: open sessions are
// ended; killed if it has not exited within 15s). Stopping a stopped
// server does nothing.
func (p *Postgres) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return nil
	}
	err := p.proc.Stop(syscall.SIGINT, stopTimeout)
	p.proc = nil
	return err
}

// Start starts the server (again) on Port (a free port the first time if
// Port is 0) with the data in Dir, and returns once it accepts
// connections. Starting a running server is an error.
func (p *Postgres) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		return fmt.Errorf("postgres on port %d is already running", p.Port)
	}
	port, err := startOnPort(ctx, p.Port, func(port int) error { return p.run(ctx, port) })
	if err != nil {
		return err
	}
	p.Port = port
	return nil
}

// Restart stops the server and starts it again on the same port with the
// same data.
func (p *Postgres) Restart(ctx context.Context) error {
	if err := p.Stop(); err != nil {
		return err
	}
	return p.Start(ctx)
}

// maxSocketPath leaves room for "/.s.PGSQL.65535" within the 107 bytes a
// Unix socket path may have.
const maxSocketPath = 90

// run starts the server on port and waits until it accepts connections.
func (p *Postgres) run(ctx context.Context, port int) error {
	sock := p.sockDir()
	if len(sock) > maxSocketPath {
		sock = "" // no Unix socket; clients use TCP
	}
	args := []string{
		"-D", p.dataDir(),
		"-p", strconv.Itoa(port),
		"-k", sock,
		"-c", "listen_addresses=127.0.0.1",
	}
	if !p.durable {
		args = append(args,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
		)
	}
	dsn := p.url(port, PostgresSuperuser, "postgres")
	proc, err := startServer(ctx, procgroup.Spec{
		Name:        "postgres",
		Path:        p.bins.Postgres,
		Args:        args,
		Env:         p.env(),
		Dir:         p.Dir,
		LogPath:     p.LogPath,
		DeathSignal: syscall.SIGQUIT, // immediate shutdown; the postmaster stops its backends
		Credential:  p.cred,
	}, startTimeout, func(ctx context.Context) error {
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

// URL returns the superuser's connection URL of database db:
// "postgres://postgres@127.0.0.1:PORT/db?sslmode=disable".
func (p *Postgres) URL(db string) string { return p.url(p.Port, p.User, db) }

// UserURL returns role's connection URL of database db (no password):
// "postgres://ROLE@127.0.0.1:PORT/db?sslmode=disable".
func (p *Postgres) UserURL(role, db string) string { return p.url(p.Port, role, db) }

func (p *Postgres) url(port int, role, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(role),
		Host:     net.JoinHostPort(p.Host, strconv.Itoa(port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// EnsureDatabase creates the login role owner (no password: the server
// trusts 127.0.0.1) and the database db owned by it, each only if it does
// not exist yet.
func (p *Postgres) EnsureDatabase(ctx context.Context, db, owner string) error {
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connect to postgres on port %d: %w", p.Port, err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", owner).Scan(&exists); err != nil {
		return fmt.Errorf("look up role %q: %w", owner, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE ROLE "+pgx.Identifier{owner}.Sanitize()+" LOGIN"); err != nil {
			return fmt.Errorf("create role %q: %w", owner, err)
		}
	}
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %q: %w", db, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()+" OWNER "+pgx.Identifier{owner}.Sanitize()); err != nil {
			return fmt.Errorf("create database %q: %w", db, err)
		}
	}
	return nil
}

// searchable fails, saying what to do, if a parent directory of dir (made
// absolute) is one the user cred cannot enter, e.g. /root (drwx------)
// when the server runs as user postgres.
func searchable(dir string, cred *syscall.Credential) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		var st syscall.Stat_t
		if err := syscall.Stat(d, &st); err != nil {
			return fmt.Errorf("postgres directory: %w", err)
		}
		mode := os.FileMode(st.Mode).Perm() | os.ModeDir
		ok := mode&0o001 != 0 ||
			(st.Uid == cred.Uid && mode&0o100 != 0) ||
			(st.Gid == cred.Gid && mode&0o010 != 0)
		if !ok {
			return fmt.Errorf("PostgreSQL runs as user postgres (it refuses root), which cannot enter %s (mode %v): put the data elsewhere, or allow it in with chmod o+x %s", d, mode, d)
		}
		if filepath.Dir(d) == d {
			return nil
		}
	}
}

// Package devstack runs the whole vidpipe pipeline on one machine, in the
// foreground, without Docker: it is `vidpipe-dev` (dev/cmd/vidpipe-dev) and `make run`.
//
// Run starts the infrastructure with its data under one directory
// (default ./.vidpipe): an in-process Kafka-protocol broker (kfake,
// persisted in DIR/kafka), a MinIO server (DIR/minio) and a PostgreSQL
// server (DIR/postgres), each on 127.0.0.1 with its log in DIR/logs; it
// creates the topics, the bucket, and the services' database and role when
// they are missing. It builds the services into DIR/bin and runs upload-api
// and each worker, as many copies as Scale says, every copy on its own
// port, restarting any that exits (with backoff). Every line a service
// writes is shown prefixed with its name ("[transcode-1] ...").
//
// It writes the endpoints as shell exports to DIR/dev.env and prints the
// commands to upload, watch the topics and read a status. When its
// context ends (Ctrl-C), it stops the services (SIGTERM, bounded wait),
// then PostgreSQL, MinIO and the broker; running it again on the same
// directory resumes with the same topics, objects and rows.
package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/launch"
	"github.com/vidpipe/vidpipe/dev/servers"
)

// Options configures Run. Zero values take the defaults.
type Options struct {
	// Dir holds all data and logs. Default: .vidpipe (in the working
	// directory).
	Dir string
	// KafkaPort, S3Port and PGPort are the servers' ports on 127.0.0.1.
	// Defaults: 9092, 9000, 5432.
	KafkaPort, S3Port, PGPort int
	// APIPort is upload-api's port; the other children take the following
	// ports (see Plan). Default: 8080.
	APIPort int
	// Partitions per topic when topics are created. Default: 12.
	Partitions int
	// Pipeline is the pipeline the stack runs: its services are upload-api
	// and one per stage (ServicesOf), its topics (AllTopics) are created.
	// Zero value: contract.DefaultPipeline().
	Pipeline contract.Pipeline
	// Packages maps a service to its main package, relative to RepoRoot
	// ("./dev/devstack/testdata/noopstage"), for a service whose package is
	// not PackagePath(service). Default: none, every service at PackagePath.
	Packages map[string]string
	// Scale is the number of copies of each service; a service of the
	// pipeline that it leaves out does not run. Default: one copy of each
	// service of the pipeline.
	Scale Scale
	// RepoRoot is the repository the services are built from. Default: the
	// directory holding go.work at or above the working directory.
	RepoRoot string
	// Environ is the environment the services inherit (their VIDPIPE_*
	// configuration is set over it). Default: os.Environ().
	Environ []string
	// Out receives the prefixed logs and messages. Required.
	Out *Output
	// Backoff paces restarts of services that exit (see Backoff).
	Backoff Backoff
	// StopTimeout is how long a service may take to stop on Ctrl-C before
	// it is killed. Default: 15s.
	StopTimeout time.Duration
	// Ready, when set, is called once everything is up, with the
	// endpoints (tests use it).
	Ready func(Endpoints)
}

func (o *Options) setDefaults() error {
	if o.Dir == "" {
		o.Dir = ".vidpipe"
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return fmt.Errorf("--dir: %w", err)
	}
	o.Dir = dir
	if o.KafkaPort == 0 {
		o.KafkaPort = 9092
	}
	if o.S3Port == 0 {
		o.S3Port = 9000
	}
	if o.PGPort == 0 {
		o.PGPort = 5432
	}
	if o.APIPort == 0 {
		o.APIPort = 8080
	}
	if o.Partitions <= 0 {
		o.Partitions = 12
	}
	o.Pipeline = pipelineOrDefault(o.Pipeline)
	if err := o.Pipeline.Validate(); err != nil {
		return err
	}
	if o.Scale == nil {
		o.Scale = scaleOf(ServicesOf(o.Pipeline))
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = childShutdown + 5*time.Second
	}
	return nil
}

// errLocked is returned by lockDir when another process holds the lock.
var errLocked = errors.New("locked")

// Run runs the dev stack until ctx ends (see the package documentation),
// then stops it and returns. It returns an error, having stopped what it
// started, if the stack could not be started; a service that keeps
// failing is restarted, not an error.
func Run(ctx context.Context, o Options) (err error) {
	if err := o.setDefaults(); err != nil {
		return err
	}
	out := o.Out
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return fmt.Errorf("--dir %s: %w", o.Dir, err)
	}
	lock, err := lockDir(filepath.Join(o.Dir, "dev.lock"))
	if errors.Is(err, errLocked) {
		return fmt.Errorf("another vidpipe-dev is running with %s: stop it, or use another --dir", o.Dir)
	}
	if err != nil {
		return err
	}
	defer lock.Close()

	infraPorts := map[int]string{o.KafkaPort: "--kafka-port (Kafka)", o.S3Port: "--s3-port (MinIO)", o.PGPort: "--pg-port (PostgreSQL)"}
	if len(infraPorts) < 3 {
		return fmt.Errorf("--kafka-port %d, --s3-port %d and --pg-port %d must differ", o.KafkaPort, o.S3Port, o.PGPort)
	}
	signingKey, err := signingKey(o.Dir)
	if err != nil {
		return err
	}
	apiURL := "http://" + hostPort(o.APIPort)
	all := ServicesOf(o.Pipeline)
	children, err := Plan(all, o.Scale, o.APIPort, infraPorts)
	if err != nil {
		return err
	}
	var apiOpsURL string // the first upload-api copy's /readyz and /metrics
	for _, c := range children {
		if c.Service == UploadAPI && c.Copy == 1 {
			apiOpsURL = "http://" + hostPort(c.OpsPort)
		}
	}
	if err := checkPorts(o, children); err != nil {
		return err
	}
	for _, svc := range all[1:] {
		if n := o.Scale[svc]; n > o.Partitions {
			out.Printf(supervisorName, "note: %d copies of %s, but new topics get %d partitions: at most %d copies get work", n, svc, o.Partitions, o.Partitions)
		}
	}

	// Build first: a service that does not compile fails before any server starts.
	var services []string
	for _, svc := range all {
		if o.Scale[svc] > 0 {
			services = append(services, svc)
		}
	}
	binDir := filepath.Join(o.Dir, "bin")
	if len(services) > 0 {
		root := o.RepoRoot
		if root == "" {
			wd, err := os.Getwd()
			if err != nil {
				return err
			}
			if root, err = FindRepoRoot(wd); err != nil {
				return err
			}
		}
		out.Printf(supervisorName, "building %s into %s", strings.Join(services, ", "), binDir)
		if err := Build(ctx, root, binDir, services, o.Packages, out); err != nil {
			return err
		}
	}

	out.Printf(supervisorName, "starting Kafka (kfake) on %s, MinIO on %s, PostgreSQL on %s; data in %s, logs in %s",
		hostPort(o.KafkaPort), hostPort(o.S3Port), hostPort(o.PGPort), o.Dir, filepath.Join(o.Dir, "logs"))
	in, err := StartInfra(ctx, InfraOptions{Dir: o.Dir, KafkaPort: o.KafkaPort, S3Port: o.S3Port, PGPort: o.PGPort, Partitions: o.Partitions,
		Pipeline: o.Pipeline})
	if err != nil {
		printStartFailure(out, err)
		return fmt.Errorf("start the servers: %w", shortError(err))
	}
	defer func() {
		out.Printf(supervisorName, "stopping PostgreSQL, MinIO and Kafka")
		if stopErr := in.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop the servers: %w", stopErr))
			return
		}
		out.Printf(supervisorName, "stopped; data kept in %s (run again to resume)", o.Dir)
	}()
	if len(in.Created) > 0 {
		out.Printf(supervisorName, "created topics %s with %d partitions", strings.Join(in.Created, ", "), o.Partitions)
	}
	ep := in.Endpoints
	ep.APIURL = apiURL
	ep.APIOpsURL = apiOpsURL
	envPath, err := writeDevEnv(o.Dir, ep)
	if err != nil {
		return err
	}

	procs := make([]Proc, len(children))
	for i, c := range children {
		procs[i] = Proc{
			Name: c.Name,
			Path: filepath.Join(binDir, c.Service),
			Env:  mergeEnv(o.Environ, ChildEnv(c, EnvOptions{Endpoints: in.Endpoints, Partitions: o.Partitions, SigningKey: signingKey})),
			Dir:  o.Dir,
		}
		if c.OpsPort != 0 {
			out.Printf(supervisorName, "starting %s on %s (operations: /healthz, /readyz, /metrics on %s)", c.Name, hostPort(c.Port), hostPort(c.OpsPort))
		} else {
			out.Printf(supervisorName, "starting %s on %s", c.Name, hostPort(c.Port))
		}
	}
	sup := &Supervisor{Out: out, Backoff: o.Backoff, StopTimeout: o.StopTimeout}
	supDone := make(chan error, 1)
	go func() { supDone <- sup.Run(ctx, procs) }()

	go func() {
		if o.Scale[UploadAPI] > 0 {
			_ = launch.WaitHTTP(ctx, apiOpsURL+"/readyz", time.Minute) // the next steps are shown either way
		}
		if ctx.Err() != nil {
			return
		}
		out.Plain(NextSteps(ep, displayPath(envPath)))
		if o.Ready != nil {
			o.Ready(ep)
		}
	}()

	<-ctx.Done()
	out.Printf(supervisorName, "stopping the services")
	return <-supDone
}

// checkPorts fails, naming each port, who needs it and the flag that
// moves it, if a port of the stack is already taken on 127.0.0.1.
func checkPorts(o Options, children []Child) error {
	type use struct {
		port      int
		who, hint string
	}
	uses := []use{
		{o.KafkaPort, "Kafka", "choose another port with --kafka-port"},
		{o.S3Port, "MinIO", "is another MinIO running? Stop it or choose another port with --s3-port"},
		{o.PGPort, "PostgreSQL", fmt.Sprintf("is another PostgreSQL server running? Stop it or choose another port with --pg-port, e.g. --pg-port %d", o.PGPort+1)},
	}
	for _, c := range children {
		for _, p := range c.ports() {
			uses = append(uses, use{p, c.Name, "choose another --api-port (the services use consecutive ports from it)"})
		}
	}
	var busy []string
	for _, u := range uses {
		l, err := net.Listen("tcp", hostPort(u.port))
		if err != nil {
			busy = append(busy, fmt.Sprintf("%s port %d is in use on 127.0.0.1 by another program: %s (%v)", u.who, u.port, u.hint, err))
			continue
		}
		l.Close()
	}
	if len(busy) > 0 {
		return errors.New(strings.Join(busy, "\n"))
	}
	return nil
}

// signingKey returns the API signing key kept in dir/api-signing-key,
// creating it (32 random bytes, hex) on first use, so signed playlist URLs
// stay valid across restarts.
func signingKey(dir string) (string, error) {
	path := filepath.Join(dir, "api-signing-key")
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) >= 32 { // config.MinSecretLen
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never returns an error
	s := hex.EncodeToString(key)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return s, nil
}

// printStartFailure shows the end of the log of each server that failed
// to start, prefixed with the server's name.
func printStartFailure(out *Output, err error) {
	for _, se := range startErrors(err) {
		out.Printf(supervisorName, "%s failed to start; end of %s:", se.Server, displayPath(se.LogPath))
		out.Line(se.Server, se.LogTail)
	}
}

// startErrors returns the *servers.StartError values in err's tree.
func startErrors(err error) []*servers.StartError {
	var se *servers.StartError
	if errors.As(err, &se) {
		return []*servers.StartError{se}
	}
	var out []*servers.StartError
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			out = append(out, startErrors(inner)...)
		}
	case interface{ Unwrap() error }:
		out = append(out, startErrors(e.Unwrap())...)
	}
	return out
}

// shortError is err without the log tails of start errors (printed
// already).
func shortError(err error) error {
	ses := startErrors(err)
	if len(ses) == 0 {
		return err
	}
	msgs := make([]string, 0, len(ses))
	for _, se := range ses {
		msgs = append(msgs, fmt.Sprintf("%v (log: %s)", se.Err, displayPath(se.LogPath)))
	}
	sort.Strings(msgs)
	return errors.New(strings.Join(msgs, "; "))
}

// displayPath is path relative to the working directory when it is below
// it, else path.
func displayPath(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	rel, err := filepath.Rel(wd, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return path
	}
	return rel
}

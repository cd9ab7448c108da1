package devstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/servers"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/platform/topics"
)

// What the dev stack creates on its servers. The credentials match the
// services' development configuration (upload-api/config.dev.yaml).
const (
	Bucket     = "vidpipe"
	Database   = "vidpipe"
	DBRole     = "vidpipe"
	S3User     = "minioadmin"
	S3Password = "minioadmin"
)

// infraSetupTimeout bounds creating topics, the bucket and the database.
const infraSetupTimeout = 30 * time.Second

// InfraOptions says where the servers keep their data and listen.
type InfraOptions struct {
	// Dir holds the data: Dir/kafka (kfake), Dir/minio, Dir/postgres, and
	// the servers' logs in Dir/logs (kafka.log, minio.log, postgres.log).
	Dir string
	// Ports on 127.0.0.1; 0 picks a free port.
	KafkaPort, S3Port, PGPort int
	// Partitions of each topic created. Default: 12.
	Partitions int
	// Pipeline names the topics to create (its AllTopics). Default:
	// contract.DefaultPipeline().
	Pipeline contract.Pipeline
}

// Infra is the running infrastructure of the dev stack: a persistent
// kfake broker, MinIO and PostgreSQL, with the pipeline's topics, the
// bucket, and the services' database and role.
type Infra struct {
	Kafka    *servers.Kafka
	MinIO    *servers.MinIO
	Postgres *servers.Postgres
	// Endpoints are the addresses and credentials (APIURL is left empty).
	Endpoints Endpoints
	// Created lists the topics this start created (empty on a resumed stack).
	Created []string

	kafkaLog *os.File
}

// LogPath returns the log file of an infrastructure server ("kafka",
// "minio" or "postgres") under dir.
func LogPath(dir, server string) string { return filepath.Join(dir, "logs", server+".log") }

// StartInfra starts the three servers (in parallel) with their data under
// o.Dir, found again on the next start, then creates whatever of the
// topics, the bucket, the role and the database is missing. On error,
// what was started is stopped again; a server that failed to start is
// reported as a *servers.StartError, which carries the end of its log.
func StartInfra(ctx context.Context, o InfraOptions) (*Infra, error) {
	if o.Partitions <= 0 {
		o.Partitions = 12
	}
	o.Pipeline = pipelineOrDefault(o.Pipeline)
	if err := os.MkdirAll(filepath.Join(o.Dir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("log directory: %w", err)
	}
	in := &Infra{}
	var err error
	in.kafkaLog, err = os.OpenFile(LogPath(o.Dir, "kafka"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("kafka log: %w", err)
	}

	var wg sync.WaitGroup
	var kafkaErr, minioErr, pgErr error
	wg.Add(3)
	go func() {
		defer wg.Done()
		in.Kafka, kafkaErr = servers.StartKafka(ctx, servers.KafkaOptions{
			Port:       o.KafkaPort,
			DataDir:    filepath.Join(o.Dir, "kafka"),
			Partitions: o.Partitions,
			Opts:       []kfake.Opt{kfake.WithLogger(kfake.BasicLogger(in.kafkaLog, kfake.LogLevelWarn))},
		})
	}()
	go func() {
		defer wg.Done()
		in.MinIO, minioErr = servers.StartMinIO(ctx, servers.MinIOOptions{
			Dir:       filepath.Join(o.Dir, "minio"),
			Port:      o.S3Port,
			AccessKey: S3User,
			SecretKey: S3Password,
			LogPath:   LogPath(o.Dir, "minio"),
		})
	}()
	go func() {
		defer wg.Done()
		in.Postgres, pgErr = servers.StartPostgres(ctx, servers.PostgresOptions{
			Dir:     filepath.Join(o.Dir, "postgres"),
			Port:    o.PGPort,
			LogPath: LogPath(o.Dir, "postgres"),
			Durable: true,
		})
	}()
	wg.Wait()
	if err := errors.Join(kafkaErr, minioErr, pgErr); err != nil {
		return nil, errors.Join(err, in.Stop())
	}

	in.Endpoints = Endpoints{
		Brokers:     in.Kafka.Brokers[0],
		S3Endpoint:  in.MinIO.Endpoint,
		Bucket:      Bucket,
		AccessKey:   S3User,
		SecretKey:   S3Password,
		Region:      servers.MinIORegion,
		PostgresURL: in.Postgres.UserURL(DBRole, Database),
	}
	if err := in.setup(ctx, o.Partitions, o.Pipeline.AllTopics()); err != nil {
		return nil, errors.Join(err, in.Stop())
	}
	return in, nil
}

// setup creates the topics (names), the bucket, the role and the database
// that do not exist yet.
func (in *Infra) setup(ctx context.Context, partitions int, names []string) error {
	ctx, cancel := context.WithTimeout(ctx, infraSetupTimeout)
	defer cancel()
	tr := &kafka.Transport{ClientID: "vidpipectl-dev"}
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(in.Kafka.Brokers...), Transport: tr, Timeout: 10 * time.Second}
	res, err := topics.Ensure(ctx, client, topics.Spec{Partitions: partitions, ReplicationFactor: 1}, names...)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, r := range res {
		if r.Created {
			in.Created = append(in.Created, r.Topic)
		}
	}
	store, err := storage.New(in.S3Config())
	if err != nil {
		return err
	}
	if err := store.EnsureBucket(ctx); err != nil {
		return err
	}
	if err := in.Postgres.EnsureDatabase(ctx, Database, DBRole); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	return nil
}

// S3Config is the configuration of the bucket on the stack's MinIO.
func (in *Infra) S3Config() config.S3 {
	return config.S3{
		Endpoint:  in.Endpoints.S3Endpoint,
		Region:    in.Endpoints.Region,
		Bucket:    in.Endpoints.Bucket,
		AccessKey: in.Endpoints.AccessKey,
		SecretKey: in.Endpoints.SecretKey,
		PathStyle: true,
	}
}

// Stop stops PostgreSQL, MinIO, then the broker (which saves its state),
// each only if it was started, and returns their errors joined.
func (in *Infra) Stop() error {
	var errs []error
	if in.Postgres != nil {
		errs = append(errs, in.Postgres.Stop())
	}
	if in.MinIO != nil {
		errs = append(errs, in.MinIO.Stop())
	}
	if in.Kafka != nil {
		in.Kafka.Stop()
	}
	if in.kafkaLog != nil {
		errs = append(errs, in.kafkaLog.Close())
		in.kafkaLog = nil
	}
	return errors.Join(errs...)
}

// pipelineOrDefault is p, or contract.DefaultPipeline() for the zero
// Pipeline.
func pipelineOrDefault(p contract.Pipeline) contract.Pipeline {
	if p.Entry.Topic == "" && len(p.Stages) == 0 {
		return contract.DefaultPipeline()
	}
	return p
}

// hostPort is "127.0.0.1:port".
func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

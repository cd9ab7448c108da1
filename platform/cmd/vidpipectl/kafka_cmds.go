package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/spf13/pflag"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/dlq"
	"github.com/vidpipe/vidpipe/platform/kafkaconn"
	"github.com/vidpipe/vidpipe/platform/topics"
	"github.com/vidpipe/vidpipe/platform/watch"
)

// flagSet returns a FlagSet with --brokers bound to the Kafka config.
func flagSet(name string, getenv func(string) string) (*pflag.FlagSet, *[]string) {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	def := ctlDefaults().Kafka.Brokers
	if v := getenv(config.EnvName("kafka.brokers")); v != "" {
		def = strings.Split(v, ",")
	}
	brokers := fs.StringSlice("brokers", def, "Kafka bootstrap brokers ($"+config.EnvName("kafka.brokers")+")")
	return fs, brokers
}

// kafkaClients returns the kafka section for brokers with the TLS and SASL
// settings of the environment (VIDPIPE_KAFKA_TLS_*, VIDPIPE_KAFKA_SASL_*,
// as the services read them), and a Transport and a Dialer that use them.
func kafkaClients(getenv func(string) string, brokers []string) (config.Kafka, *kafka.Transport, *kafka.Dialer, error) {
	env := func(key string) string { return getenv(config.EnvName(key)) }
	k := config.Kafka{Brokers: brokers}
	if v := env("kafka.tls.enabled"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return k, nil, nil, fmt.Errorf("%s: want true or false (got %q)", config.EnvName("kafka.tls.enabled"), v)
		}
		k.TLS.Enabled = on
	}
	k.TLS.CAFile, k.TLS.CertFile, k.TLS.KeyFile = env("kafka.tls.ca_file"), env("kafka.tls.cert_file"), env("kafka.tls.key_file")
	k.TLS.ServerName = env("kafka.tls.server_name")
	k.SASL = config.KafkaSASL{Mechanism: env("kafka.sasl.mechanism"), Username: env("kafka.sasl.username"), Password: env("kafka.sasl.password")}
	for _, v := range []interface{ Validate() error }{k.TLS, k.SASL} {
		if err := v.Validate(); err != nil {
			return k, nil, nil, fmt.Errorf("kafka security settings: %w", err)
		}
	}
	tr, err := kafkaconn.Transport(k, nil)
	if err != nil {
		return k, nil, nil, err
	}
	d, err := kafkaconn.Dialer(k, &kafka.Dialer{ClientID: "vidpipectl", Timeout: 10 * time.Second, DualStack: true})
	return k, tr, d, err
}

// envInt is the integer in the environment variable of key, else def.
func envInt(getenv func(string) string, key string, def int) int {
	if v, err := strconv.Atoi(getenv(config.EnvName(key))); err == nil {
		return v
	}
	return def
}

func topicsCreate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs, brokers := flagSet("topics create", getenv)
	def := ctlDefaults().Kafka
	parts := fs.Int("partitions", envInt(getenv, "kafka.partitions", def.Partitions), "partitions per topic (caps the replicas of each worker) ($"+config.EnvName("kafka.partitions")+")")
	repl := fs.Int("replication", envInt(getenv, "kafka.replication_factor", def.ReplicationFactor), "replication factor; 2 or more are production settings ($"+config.EnvName("kafka.replication_factor")+")")
	minISR := fs.Int("min-insync-replicas", envInt(getenv, "kafka.min_insync_replicas", def.MinInsyncReplicas), "min.insync.replicas (0: 2 when the replication factor is 3 or more, else 1) ($"+config.EnvName("kafka.min_insync_replicas")+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	k, tr, _, err := kafkaClients(getenv, *brokers)
	if err != nil {
		return err
	}
	k.Partitions, k.ReplicationFactor, k.MinInsyncReplicas = *parts, *repl, *minISR
	if err := k.Validate(); err != nil {
		return err
	}
	spec := topics.SpecFor(k)
	client := &kafka.Client{Addr: kafka.TCP(*brokers...), Timeout: 10 * time.Second, Transport: tr}
	res, err := topics.EnsurePipeline(ctx, client, spec)
	width := topicWidth()
	for _, r := range res {
		state := "exists"
		if r.Created {
			state = fmt.Sprintf("created (%d partitions, replication factor %d, min.insync.replicas %d)", *parts, *repl, spec.MinInsync())
		}
		fmt.Fprintf(stdout, "%-*s %s\n", width, r.Topic, state)
	}
	if err != nil {
		return err
	}
	// Topics created by an older version keep the broker default (1).
	raised, err := topics.RaiseMinInsync(ctx, client, spec)
	for _, t := range raised {
		fmt.Fprintf(stdout, "%-*s min.insync.replicas raised to %d\n", width, t, spec.MinInsync())
	}
	if err != nil {
		return err
	}
	warnings, err := topics.CheckDurability(ctx, client, spec)
	for _, w := range warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	return err
}

// topicWidth is the length of the longest topic of the pipeline table
// (video.transcode.chunks-done), so that topic lists line up.
func topicWidth() int {
	w := 0
	for _, t := range contract.AllTopics() {
		w = max(w, len(t))
	}
	return w
}

func watchCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs, brokers := flagSet("watch", getenv)
	from := fs.Bool("from-beginning", false, "start at the oldest record")
	id := fs.String("id", "", "only this video id (and its work items, keys <id>/<item>)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, tr, dialer, err := kafkaClients(getenv, *brokers)
	if err != nil {
		return err
	}
	err = watch.Follow(ctx, watch.Options{Brokers: *brokers, Topics: fs.Args(), FromBeginning: *from, Key: *id, Transport: tr, Dialer: dialer}, stdout)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// parseStage reads the one argument of dlq list|redrive: a stage of the
// pipeline table, or "webhooks" (the webhook deliveries' webhooks.dlq).
func parseStage(fs *pflag.FlagSet) (contract.Stage, error) {
	names := append(stageNames(), string(contract.StageWebhooks))
	if fs.NArg() != 1 {
		return "", fmt.Errorf("want one stage: %s", oneOf(names))
	}
	if fs.Arg(0) == string(contract.StageWebhooks) {
		return contract.StageWebhooks, nil
	}
	s, ok := contract.ParseStage(fs.Arg(0))
	if !ok {
		return "", fmt.Errorf("unknown stage %q: want %s", fs.Arg(0), oneOf(names))
	}
	return s, nil
}

func dlqList(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs, brokers := flagSet("dlq list", getenv)
	all := fs.Bool("all", false, "include records already redriven")
	asJSON := fs.Bool("json", false, "one JSON object per record")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stage, err := parseStage(fs)
	if err != nil {
		return err
	}
	_, tr, _, err := kafkaClients(getenv, *brokers)
	if err != nil {
		return err
	}
	a := dlq.NewAdmin(*brokers)
	a.Client.Transport = tr
	defer a.Close()
	recs, err := a.List(ctx, stage, *all)
	if err != nil {
		return err
	}
	return printRecords(stdout, recs, *asJSON)
}

func printRecords(w io.Writer, recs []dlq.Record, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, r := range recs {
			if err := enc.Encode(map[string]any{
				"partition": r.Partition, "offset": r.Offset, "key": r.Key, "redriven": r.Redriven,
				"stage": r.DeadLetter.Stage, "class": r.DeadLetter.Class, "attempts": r.DeadLetter.Attempts,
				"error": r.DeadLetter.Err, "failed_at": r.DeadLetter.FailedAt, "source_topic": r.DeadLetter.Topic,
				"source_partition": r.DeadLetter.Partition, "source_offset": r.DeadLetter.Offset,
				"value_bytes": valueBytes(r), "value_ref": r.DeadLetter.ValueRef,
			}); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tOFFSET\tVIDEO\tFROM\tCLASS\tATTEMPTS\tFAILED AT\tREDRIVEN\tVALUE\tERROR")
	for _, r := range recs {
		value := fmt.Sprintf("%d B", valueBytes(r))
		if ref := r.DeadLetter.ValueRef; ref != "" {
			value += " at " + oneLine(ref, 200)
		}
		// VIDEO is the record key: the video id, or "<id>/<item>" for a
		// work item (transcode's chunks); FROM the topic it failed on.
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%d\t%s\t%v\t%s\t%s\n", r.Partition, r.Offset, oneLine(r.Key, 80), oneLine(orDash(r.DeadLetter.Topic), 80),
			r.DeadLetter.Class, r.DeadLetter.Attempts, r.DeadLetter.FailedAt.UTC().Format(time.RFC3339), r.Redriven, value, oneLine(r.DeadLetter.Err, 120))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// valueBytes is the size of the original value, wherever it is.
func valueBytes(r dlq.Record) int {
	if r.DeadLetter.ValueRef != "" {
		return r.DeadLetter.ValueBytes
	}
	return len(r.Value)
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func dlqRedrive(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs, brokers := flagSet("dlq redrive", getenv)
	id := fs.String("id", "", "only records of this video id (and of its work items, keys <id>/<item>)")
	limit := fs.Int("limit", 0, "at most N records (0: all)")
	dry := fs.Bool("dry-run", false, "show what would be redriven, change nothing")
	cfgFile := fs.String("config", "", "YAML file with an s3 section, to read values moved to S3 (default: ./vidpipe.yaml if present; $VIDPIPE_S3_* override it)")
	pgURL := fs.String("postgres", getenv(config.EnvName("postgres.url")),
		"the API's status database (postgres.url): the redrive waits for its redrive lock, so that it never runs with the API's (default $"+config.EnvName("postgres.url")+"; empty: no lock)")
	lockWait := fs.Duration("lock-wait", 2*time.Minute, "how long to wait for another redrive to finish")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stage, err := parseStage(fs)
	if err != nil {
		return err
	}
	// One redrive at a time (dlq package doc): the API's redrives take the
	// same lock.
	if !*dry {
		if *pgURL == "" {
			fmt.Fprintf(stdout, "warning: no --postgres (or $%s): this redrive is not serialized with the API's\n", config.EnvName("postgres.url"))
		} else {
			lctx, cancel := context.WithTimeout(ctx, *lockWait)
			unlock, err := dlq.LockRedrives(lctx, *pgURL, func() {
				fmt.Fprintf(stdout, "waiting up to %s for another redrive to finish\n", *lockWait)
			})
			cancel()
			if err != nil {
				return err
			}
			defer unlock()
		}
	}
	// Dead letters too large for Kafka keep their value in S3 (dlq.value_ref).
	var s3 struct {
		S3 config.S3 `mapstructure:"s3"`
	}
	var cfgArgs []string
	if *cfgFile != "" {
		cfgArgs = []string{"--config", *cfgFile}
	}
	if err := config.Load("vidpipectl", cfgArgs, getenv, &s3); err != nil {
		return err
	}
	_, tr, _, err := kafkaClients(getenv, *brokers)
	if err != nil {
		return err
	}
	a := dlq.NewAdmin(*brokers)
	a.Client.Transport = tr
	a.Values = dlq.S3Values(s3.S3, 0)
	defer a.Close()
	recs, err := a.Redrive(ctx, stage, dlq.RedriveOptions{VideoID: *id, Limit: *limit, DryRun: *dry})
	verb := "redriven"
	if *dry {
		verb = "would redrive"
	}
	for _, r := range recs {
		from := ""
		if ref := r.DeadLetter.ValueRef; ref != "" {
			from = fmt.Sprintf(" value=%d B from %s", r.DeadLetter.ValueBytes, ref)
		}
		fmt.Fprintf(stdout, "%s %s/%d@%d key=%s%s -> %s\n", verb, r.Topic, r.Partition, r.Offset, r.Key, from, dlq.RedriveTopic(stage, r))
	}
	fmt.Fprintf(stdout, "%d record(s) %s\n", len(recs), verb)
	return err
}

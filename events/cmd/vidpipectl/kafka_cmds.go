package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/spf13/pflag"

	"github.com/vidpipe/vidpipe/events"
	"github.com/vidpipe/vidpipe/events/config"
	"github.com/vidpipe/vidpipe/events/dlq"
	"github.com/vidpipe/vidpipe/events/topics"
	"github.com/vidpipe/vidpipe/events/watch"
)

// flagSet returns a FlagSet with --brokers bound to the Kafka config.
func flagSet(name string, getenv func(string) string) (*pflag.FlagSet, *[]string) {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	def := []string{"127.0.0.1:9092"}
	if v := getenv(config.EnvName("kafka.brokers")); v != "" {
		def = strings.Split(v, ",")
	}
	brokers := fs.StringSlice("brokers", def, "Kafka bootstrap brokers ($"+config.EnvName("kafka.brokers")+")")
	return fs, brokers
}

func topicsCreate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs, brokers := flagSet("topics create", getenv)
	parts := fs.Int("partitions", 6, "partitions per topic (caps the replicas of each worker)")
	repl := fs.Int("replication", 1, "replication factor")
	if err := fs.Parse(args); err != nil {
		return err
	}
	client := &kafka.Client{Addr: kafka.TCP(*brokers...), Timeout: 10 * time.Second}
	res, err := topics.EnsurePipeline(ctx, client, topics.Spec{Partitions: *parts, ReplicationFactor: *repl})
	for _, r := range res {
		state := "exists"
		if r.Created {
			state = fmt.Sprintf("created (%d partitions)", *parts)
		}
		fmt.Fprintf(stdout, "%-20s %s\n", r.Topic, state)
	}
	return err
}

func watchCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs, brokers := flagSet("watch", getenv)
	from := fs.Bool("from-beginning", false, "start at the oldest record")
	id := fs.String("id", "", "only this video id")
	if err := fs.Parse(args); err != nil {
		return err
	}
	err := watch.Follow(ctx, watch.Options{Brokers: *brokers, Topics: fs.Args(), FromBeginning: *from, Key: *id}, stdout)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func parseStage(fs *pflag.FlagSet) (events.Stage, error) {
	if fs.NArg() != 1 {
		return "", fmt.Errorf("want one stage: transcode, thumbnail or indexer")
	}
	s, ok := events.ParseStage(fs.Arg(0))
	if !ok {
		return "", fmt.Errorf("unknown stage %q: want transcode, thumbnail or indexer", fs.Arg(0))
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
	a := dlq.NewAdmin(*brokers)
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
			}); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tOFFSET\tVIDEO\tCLASS\tATTEMPTS\tFAILED AT\tREDRIVEN\tERROR")
	for _, r := range recs {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d\t%s\t%v\t%s\n", r.Partition, r.Offset, r.Key, r.DeadLetter.Class,
			r.DeadLetter.Attempts, r.DeadLetter.FailedAt.UTC().Format(time.RFC3339), r.Redriven, oneLine(r.DeadLetter.Err, 120))
	}
	return tw.Flush()
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
	id := fs.String("id", "", "only records of this video id")
	limit := fs.Int("limit", 0, "at most N records (0: all)")
	dry := fs.Bool("dry-run", false, "show what would be redriven, change nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stage, err := parseStage(fs)
	if err != nil {
		return err
	}
	a := dlq.NewAdmin(*brokers)
	defer a.Close()
	recs, err := a.Redrive(ctx, stage, dlq.RedriveOptions{VideoID: *id, Limit: *limit, DryRun: *dry})
	verb := "redriven"
	if *dry {
		verb = "would redrive"
	}
	for _, r := range recs {
		fmt.Fprintf(stdout, "%s %s/%d@%d key=%s -> %s\n", verb, r.Topic, r.Partition, r.Offset, r.Key, stage.InputTopic())
	}
	fmt.Fprintf(stdout, "%d record(s) %s\n", len(recs), verb)
	return err
}

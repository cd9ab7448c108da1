package main

import (
	"errors"

	"github.com/vidpipe/vidpipe/platform/config"
)

// ctlConfig is every setting vidpipectl reads from the environment (and,
// for dlq redrive, the s3 section of --config FILE): the defaults of its
// Kafka flags, the Kafka TLS and SASL settings the services share, and the
// S3 section for dead-letter values moved to S3. It is what
// `vidpipectl --config-reference` describes and `vidpipectl --config-check`
// checks (platform/config). Every other setting is a flag of a command.
type ctlConfig struct {
	Kafka ctlKafka  `mapstructure:"kafka"`
	S3    config.S3 `mapstructure:"s3"`
}

// ctlKafka is the part of config.Kafka vidpipectl reads: not client_id
// (its client id is vidpipectl).
type ctlKafka struct {
	Brokers           []string         `mapstructure:"brokers" default:"127.0.0.1:9092" desc:"Kafka bootstrap brokers, comma-separated (the default of --brokers)"`
	Partitions        int              `mapstructure:"partitions" default:"12" desc:"topics create: partitions per topic (the default of --partitions)"`
	ReplicationFactor int              `mapstructure:"replication_factor" default:"1" desc:"topics create: replication factor (the default of --replication)"`
	MinInsyncReplicas int              `mapstructure:"min_insync_replicas" default:"0" desc:"topics create: min.insync.replicas, 0: 2 when the replication factor is 3 or more, else 1 (the default of --min-insync-replicas)"`
	TLS               config.KafkaTLS  `mapstructure:"tls"`
	SASL              config.KafkaSASL `mapstructure:"sasl"`
}

// ctlDefaults returns the defaults of ctlConfig: the flags' defaults when
// the environment sets nothing.
func ctlDefaults() ctlConfig {
	var c ctlConfig
	if err := config.LoadDefaults(&c); err != nil {
		panic(err) // the tags above are constants; TestConfigReference loads them
	}
	return c
}

// describeConfig handles `vidpipectl --config-reference` and
// `vidpipectl --config-check` (args as given): config.Load prints the
// reference, or checks the environment and prints the values, and returns
// an error matching config.ErrHelp, which is success.
func describeConfig(args []string, getenv func(string) string) error {
	var c ctlConfig
	if err := config.Load("vidpipectl", args, getenv, &c); err != nil && !errors.Is(err, config.ErrHelp) {
		return err
	}
	return nil
}

package servers

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/dev/launch"
)

func TestKafkaOnGivenPortPersistsAcrossStarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	port, err := launch.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	o := KafkaOptions{Port: port, DataDir: dir, Partitions: 2}
	k, err := StartKafka(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	if want := "127.0.0.1:" + strconv.Itoa(port); len(k.Brokers) != 1 || k.Brokers[0] != want {
		t.Fatalf("Brokers = %v, want [%s]", k.Brokers, want)
	}
	client := &kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: 10 * time.Second}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: "t", NumPartitions: -1, ReplicationFactor: -1}}})
	if err != nil || resp.Errors["t"] != nil {
		t.Fatalf("create topic: %v %v", err, resp)
	}

	// A second cluster on the same port fails with ErrAddrInUse.
	if k2, err := StartKafka(ctx, KafkaOptions{Port: port}); !errors.Is(err, ErrAddrInUse) {
		if k2 != nil {
			k2.Stop()
		}
		t.Errorf("second StartKafka on port %d = %v, want ErrAddrInUse", port, err)
	}

	// A new cluster on the same DataDir and port finds the topic.
	k.Stop()
	k.Stop() // stopping twice is fine
	k, err = StartKafka(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{"t"}})
	if err != nil || len(md.Topics) != 1 || md.Topics[0].Error != nil {
		t.Fatalf("metadata of t after a new start: %v %+v", err, md)
	}
	if n := len(md.Topics[0].Partitions); n != 2 {
		t.Errorf("topic t has %d partitions, want 2 (KafkaOptions.Partitions)", n)
	}
}

func TestKafkaHostIsLoopback(t *testing.T) {
	k, err := StartKafka(context.Background(), KafkaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	host, _, err := net.SplitHostPort(k.Brokers[0])
	if err != nil || host != "127.0.0.1" {
		t.Errorf("broker %q: host %q, want 127.0.0.1", k.Brokers[0], host)
	}
}

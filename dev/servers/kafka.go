package servers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// KafkaOptions configures StartKafka.
type KafkaOptions struct {
	// Host is the address the broker listens on and advertises. Default:
	// 127.0.0.1.
	Host string
	// Port of the (single) broker. Default: 0, a free port.
	Port int
	// DataDir, when set, makes the cluster persistent (kfake.DataDir): it
	// keeps topics, records and committed offsets there (created if
	// needed) and a cluster started on the same DataDir finds them again.
	// Default: empty, in memory.
	DataDir string
	// Partitions is the partition count of topics created without one
	// (kfake.DefaultNumPartitions). Default: 0, kfake's default.
	Partitions int
	// Opts are passed to kfake.NewCluster after the options above
	// (kfake.NumBrokers(1), a listener on Host, kfake.Ports(Port) when
	// Port is set, DataDir, Partitions), so they may override them, e.g.
	// kfake.NumBrokers(3) with Port 0, or kfake.WithLogger.
	Opts []kfake.Opt
}

// Kafka is an in-process Kafka broker (franz-go kfake) speaking the real
// wire protocol. Its methods are safe for concurrent use; Cluster and
// Brokers are replaced by Restart, so do not read them while another
// goroutine restarts the broker.
type Kafka struct {
	// Cluster is the running kfake cluster, for fault injection.
	Cluster *kfake.Cluster
	// Brokers are the listen addresses, e.g. ["127.0.0.1:40123"]; they stay
	// the same across Restart.
	Brokers []string

	mu      sync.Mutex
	opts    []kfake.Opt // options of the first start, without ports
	ports   []int       // ports of the first start, reused by Restart
	running bool
}

// StartKafka starts a kfake cluster as o says (one broker on 127.0.0.1, in
// memory, unless o says otherwise). Topics are not auto-created. Stop it
// with Stop.
func StartKafka(ctx context.Context, o KafkaOptions) (*Kafka, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start kfake: %w", err)
	}
	host := o.Host
	if host == "" {
		host = "127.0.0.1"
	}
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.ListenFn(listenOn(host))}
	if o.DataDir != "" {
		opts = append(opts, kfake.DataDir(o.DataDir))
	}
	if o.Partitions > 0 {
		opts = append(opts, kfake.DefaultNumPartitions(o.Partitions))
	}
	opts = append(opts, o.Opts...)
	first := opts
	if o.Port != 0 {
		first = append(append([]kfake.Opt(nil), opts...), kfake.Ports(o.Port))
	}
	c, err := kfake.NewCluster(first...)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			err = fmt.Errorf("%w: %w", ErrAddrInUse, err)
		}
		return nil, fmt.Errorf("start kfake on %s: %w", net.JoinHostPort(host, strconv.Itoa(o.Port)), err)
	}
	k := &Kafka{Cluster: c, Brokers: c.ListenAddrs(), opts: opts, running: true}
	for _, addr := range k.Brokers {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("kfake listen address %q: %w", addr, err)
		}
		p, _ := strconv.Atoi(port)
		k.ports = append(k.ports, p)
	}
	return k, nil
}

// listenOn returns a kfake ListenFn that listens on host at the requested
// port whatever host the requested address names.
func listenOn(host string) func(network, address string) (net.Listener, error) {
	return func(network, address string) (net.Listener, error) {
		_, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, fmt.Errorf("kfake listen address %q: %w", address, err)
		}
		return net.Listen(network, net.JoinHostPort(host, port))
	}
}

// Stop closes the cluster; a persistent one saves its state first.
// Stopping a stopped cluster does nothing.
func (k *Kafka) Stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.running {
		k.Cluster.Close()
		k.running = false
	}
}

// Restart stops the cluster if it is running and starts it again on the
// same ports with the same options. A persistent cluster comes back with
// its data (topics, records, committed offsets); an in-memory one comes
// back empty. Clients reconnect on their own. A port still held by
// someone else is retried for a few seconds.
func (k *Kafka) Restart(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.running {
		k.Cluster.Close()
		k.running = false
	}
	opts := append(append([]kfake.Opt(nil), k.opts...), kfake.Ports(k.ports...))
	deadline := time.Now().Add(rebindTimeout)
	for {
		c, err := kfake.NewCluster(opts...)
		if err == nil {
			k.Cluster, k.Brokers, k.running = c, c.ListenAddrs(), true
			return nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("restart kfake on ports %v: %w", k.ports, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

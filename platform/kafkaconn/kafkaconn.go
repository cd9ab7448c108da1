// Package kafkaconn applies the Kafka security settings of the
// configuration (config.Kafka: kafka.tls.*, kafka.sasl.*) to kafka-go
// clients. Every place that builds a kafka-go Transport (producers, admin
// clients) or Dialer (consumer groups, readers, connections) passes it
// through Transport or Dialer, so one setting secures every client of a
// service, of vidpipectl and of the tests.
package kafkaconn

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/vidpipe/vidpipe/platform/config"
)

// Security returns the TLS configuration (nil without TLS) and the SASL
// mechanism (nil without SASL) of k.
func Security(k config.Kafka) (*tls.Config, sasl.Mechanism, error) {
	tlsCfg, err := k.TLS.TLSConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("kafka.tls: %w", err)
	}
	mech, err := Mechanism(k.SASL)
	if err != nil {
		return nil, nil, err
	}
	return tlsCfg, mech, nil
}

// Mechanism returns the kafka-go SASL mechanism of s, or nil when
// s.Mechanism is empty.
func Mechanism(s config.KafkaSASL) (sasl.Mechanism, error) {
	switch strings.ToUpper(s.Mechanism) {
	case "":
		return nil, nil
	case config.SASLPlain:
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case config.SASLScramSHA256, config.SASLScramSHA512:
		algo := scram.SHA256
		if strings.ToUpper(s.Mechanism) == config.SASLScramSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, s.Username, s.Password)
		if err != nil {
			return nil, fmt.Errorf("kafka.sasl: %w", err)
		}
		return m, nil
	default:
		return nil, fmt.Errorf("kafka.sasl.mechanism: must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (got %q)", s.Mechanism)
	}
}

// Transport sets t's TLS and SASL from k and returns t (a new Transport
// when t is nil), for a kafka.Client or kafka.Writer.
func Transport(k config.Kafka, t *kafka.Transport) (*kafka.Transport, error) {
	if t == nil {
		t = &kafka.Transport{}
	}
	tlsCfg, mech, err := Security(k)
	if err != nil {
		return nil, err
	}
	t.TLS, t.SASL = tlsCfg, mech
	return t, nil
}

// Dialer sets d's TLS and SASL from k and returns d (a new Dialer when d
// is nil), for a kafka.Reader, a kafka.ConsumerGroup or a kafka.Conn.
func Dialer(k config.Kafka, d *kafka.Dialer) (*kafka.Dialer, error) {
	if d == nil {
		d = &kafka.Dialer{}
	}
	tlsCfg, mech, err := Security(k)
	if err != nil {
		return nil, err
	}
	d.TLS, d.SASLMechanism = tlsCfg, mech
	return d, nil
}

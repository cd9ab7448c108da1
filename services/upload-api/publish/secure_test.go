package publish

import (
	"context"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/config"
)

func TestPublishOverTLSAndSASL(t *testing.T) {
	for _, mech := range []string{config.SASLPlain, config.SASLScramSHA256, config.SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			k, kcfg := harness.StartSecureKafka(t, mech)
			k.CreateTopics(t, 2, contract.TopicUploaded)
			p, err := New(kcfg, Options{Service: "upload-api", Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx := context.Background()
			if err := p.Ping(ctx, contract.TopicUploaded); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			id := "6f1c2b9e-3a7d-4c1e-9b2a-0d3e4f5a6b7c"
			if _, err := p.Publish(ctx, uploaded(id)); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			if msgs := k.ReadAll(t, contract.TopicUploaded, 1, 10*time.Second); string(msgs[0].Key) != id {
				t.Fatalf("key %q, want %q", msgs[0].Key, id)
			}
		})
	}
}

func TestPublishRefusedWithWrongKafkaCredentials(t *testing.T) {
	k, kcfg := harness.StartSecureKafka(t, config.SASLScramSHA512)
	k.CreateTopics(t, 1, contract.TopicUploaded)
	for name, change := range map[string]func(*config.Kafka){
		"wrong password": func(c *config.Kafka) { c.SASL.Password = "wrong-password-0123456789abcdef" },
		"unknown user":   func(c *config.Kafka) { c.SASL.Username = "mallory" },
		"no SASL":        func(c *config.Kafka) { c.SASL = config.KafkaSASL{} },
		"no TLS":         func(c *config.Kafka) { c.TLS = config.KafkaTLS{} },
	} {
		t.Run(name, func(t *testing.T) {
			c := kcfg
			change(&c)
			p, err := New(c, Options{Service: "upload-api", MaxAttempts: 1, Timeout: 3 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := p.Ping(ctx, contract.TopicUploaded); err == nil {
				t.Error("Ping succeeded")
			}
			if _, err := p.Publish(ctx, uploaded("0b5d7e4e-8f1a-4a7e-b3c2-9d8e7f6a5b4c")); err == nil {
				t.Error("Publish succeeded")
			}
		})
	}
	if got := k.ReadAll(t, contract.TopicUploaded, 0, 5*time.Second); len(got) != 0 {
		t.Fatalf("%d records written with wrong credentials", len(got))
	}
}

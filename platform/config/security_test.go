package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestKafkaSecurityValidate(t *testing.T) {
	ok := Kafka{Brokers: []string{"b:9092"}, Partitions: 1, ReplicationFactor: 1}
	tests := map[string]struct {
		change  func(*Kafka)
		wantKey string // "" = valid
	}{
		"plaintext":             {func(*Kafka) {}, ""},
		"scram":                 {func(k *Kafka) { k.SASL = KafkaSASL{Mechanism: "scram-sha-512", Username: "u", Password: "p4ssw0rd"} }, ""},
		"unknown mechanism":     {func(k *Kafka) { k.SASL = KafkaSASL{Mechanism: "GSSAPI", Username: "u", Password: "p"} }, "mechanism"},
		"mechanism no user":     {func(k *Kafka) { k.SASL = KafkaSASL{Mechanism: "PLAIN", Password: "p"} }, "username"},
		"mechanism no password": {func(k *Kafka) { k.SASL = KafkaSASL{Mechanism: "PLAIN", Username: "u"} }, "password"},
		"password no mechanism": {func(k *Kafka) { k.SASL = KafkaSASL{Username: "u", Password: "p"} }, "mechanism"},
		"placeholder password":  {func(k *Kafka) { k.SASL = KafkaSASL{Mechanism: "PLAIN", Username: "u", Password: "change-me"} }, "password"},
		"tls":                   {func(k *Kafka) { k.TLS = KafkaTLS{Enabled: true} }, ""},
		"tls missing CA file":   {func(k *Kafka) { k.TLS = KafkaTLS{Enabled: true, CAFile: filepath.Join(t.TempDir(), "nope.pem")} }, "ca_file"},
		"cert without key":      {func(k *Kafka) { k.TLS = KafkaTLS{Enabled: true, CertFile: "c.pem"} }, "cert_file"},
		"CA file without tls":   {func(k *Kafka) { k.TLS = KafkaTLS{CAFile: "ca.pem"} }, "enabled"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			k := ok
			tt.change(&k)
			errs := []error{k.Validate(), k.TLS.Validate(), k.SASL.Validate()}
			var msgs []string
			for _, err := range errs {
				if err != nil {
					msgs = append(msgs, err.Error())
				}
			}
			got := strings.Join(msgs, "; ")
			if tt.wantKey == "" && got != "" {
				t.Fatalf("unexpected error: %s", got)
			}
			if tt.wantKey != "" && !strings.Contains(got, tt.wantKey+":") {
				t.Fatalf("error %q does not name %s", got, tt.wantKey)
			}
			if strings.Contains(got, "p4ssw0rd") || strings.Contains(got, "change-me\"") {
				t.Fatalf("error shows the password: %s", got)
			}
		})
	}
}

func TestPlaceholderSecretsRefused(t *testing.T) {
	s3 := S3{Endpoint: "127.0.0.1:9000", Bucket: "vidpipe", PartSize: MinPartSize, PresignExpiry: 3600e9, AccessKey: "change-me", SecretKey: "change-me-too"}
	if err := s3.Validate(); err == nil || !strings.Contains(err.Error(), "secret_key") {
		t.Errorf("S3 with a placeholder secret key: %v", err)
	}
	pg := Postgres{URL: "postgres://vidpipe:change-me@db:5432/vidpipe", MaxConns: 1}
	if err := pg.Validate(); err == nil || !strings.Contains(err.Error(), "placeholder") || strings.Contains(err.Error(), "db:5432") {
		t.Errorf("Postgres with a placeholder password: %v", err)
	}
	for _, tc := range []struct {
		v      string
		min    int
		wantOK bool
	}{
		{"change-me-to-32-random-bytes-0123456789", MinSecretLen, false},
		{"CHANGEME", 0, false},
		{"x7Qz9", MinSecretLen, false},
		{"0123456789abcdef0123456789abcdef", MinSecretLen, true},
		{"short", 0, true},
	} {
		if err := CheckSecret(tc.v, tc.min); (err == nil) != tc.wantOK {
			t.Errorf("CheckSecret(%q, %d) = %v", tc.v, tc.min, err)
		} else if err != nil && strings.Contains(err.Error(), tc.v) {
			t.Errorf("CheckSecret error shows the value: %v", err)
		}
	}
}

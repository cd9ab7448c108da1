package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vidpipe/vidpipe/platform/config"
)

// SecureUser and SecurePassword are the SASL credentials of a cluster
// started by StartSecureKafka; the user exists for every mechanism
// (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).
const (
	SecureUser     = "vidpipe"
	SecurePassword = "harness-sasl-password-0123456789"
)

// StartSecureKafka starts a kfake cluster like StartKafka that accepts
// only TLS connections (a certificate for 127.0.0.1 signed by a fresh CA)
// authenticated with SASL: SecureUser/SecurePassword as a superuser for
// PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512. It returns the cluster, whose
// helpers (CreateTopics, Produce, ReadAll…) use mechanism, and the kafka
// section a service needs to reach it with mechanism (kafka.brokers,
// kafka.tls.*, kafka.sasl.*).
func StartSecureKafka(tb testing.TB, mechanism string) (*Kafka, config.Kafka) {
	tb.Helper()
	serverTLS, caFile := selfSignedTLS(tb)
	k := StartKafka(tb, kfake.TLS(serverTLS), kfake.EnableSASL(),
		kfake.Superuser(config.SASLPlain, SecureUser, SecurePassword),
		kfake.Superuser(config.SASLScramSHA256, SecureUser, SecurePassword),
		kfake.Superuser(config.SASLScramSHA512, SecureUser, SecurePassword))
	k.Security = config.Kafka{
		Brokers: k.Brokers,
		TLS:     config.KafkaTLS{Enabled: true, CAFile: caFile},
		SASL:    config.KafkaSASL{Mechanism: mechanism, Username: SecureUser, Password: SecurePassword},
	}
	return k, k.Security
}

// selfSignedTLS returns a server TLS configuration with a self-signed CA
// certificate valid for 127.0.0.1 and localhost, and the path of that
// certificate as a PEM file (the CA file of the clients).
func selfSignedTLS(tb testing.TB) (*tls.Config, string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("harness: TLS key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "vidpipe harness broker"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("harness: TLS certificate: %v", err)
	}
	caFile := filepath.Join(tb.TempDir(), "kafka-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatalf("harness: %v", err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, caFile
}

package stage_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/config"
)

// newSecureEnv is newEnv on a broker that accepts only TLS with SASL
// (mechanism), the stage configured with the matching kafka.tls.* and
// kafka.sasl.* settings.
func newSecureEnv(t *testing.T, mechanism string) *env {
	t.Helper()
	e := newEnv(t, 1) // for its options; its plaintext broker is not used
	k, kcfg := harness.StartSecureKafka(t, mechanism)
	k.CreatePipelineTopics(t, 2)
	e.k = k
	e.opts.Kafka = kcfg
	return e
}

func TestStageOverTLSAndSASL(t *testing.T) {
	for _, mech := range []string{config.SASLPlain, config.SASLScramSHA256, config.SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			e := newSecureEnv(t, mech)
			in := uploaded(contract.NewID())
			e.produce(t, in)
			e.start(t, transcodeOK)
			out := e.k.ReadAll(t, contract.TopicTranscoded, 1, 30*time.Second)
			if string(out[0].Key) != in.VideoID {
				t.Fatalf("output key %q, want %q", out[0].Key, in.VideoID)
			}
			e.waitLag(t, contract.TopicUploaded)
		})
	}
}

func TestStageWithWrongKafkaCredentialsIsNotReady(t *testing.T) {
	e := newSecureEnv(t, config.SASLScramSHA256)
	e.produce(t, uploaded(contract.NewID()))
	e.opts.Kafka.SASL.Password = "not-the-password-0123456789abcdef"
	r := e.start(t, transcodeOK)
	addr := r.httpAddr(t)
	time.Sleep(3 * time.Second)
	if code, body := get(t, "http://"+addr+"/readyz"); code != 503 || !strings.Contains(body, "kafka") {
		t.Fatalf("/readyz with wrong SASL credentials: %d %s", code, body)
	}
	if got := e.k.ReadAll(t, contract.TopicTranscoded, 0, 5*time.Second); len(got) != 0 {
		t.Fatalf("%d outputs published with wrong credentials", len(got))
	}
}

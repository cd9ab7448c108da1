package publish

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/config"
	uploadapi "github.com/vidpipe/vidpipe/services/upload-api"
)

func TestMain(m *testing.M) { harness.Main(m) }

func uploaded(id string) contract.VideoUploaded {
	return contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: id, Owner: "alice", Title: "t",
		Source:     contract.SourceObject{Bucket: "b", Key: contract.SourceKey(id), Size: 1, ContentType: "video/mp4"},
		UploadedAt: time.Now().UTC(),
	}}
}

func TestPublishWaitsForAck(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreateTopics(t, 3, contract.TopicUploaded)
	p, err := New(config.Kafka{Brokers: k.Brokers}, Options{Service: "upload-api"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	if err := p.Ping(ctx, contract.TopicUploaded); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := p.Ping(ctx, "no.such.topic"); err == nil {
		t.Fatal("Ping of a missing topic succeeded")
	}
	ids := []string{"6f1c2b9e-3a7d-4c1e-9b2a-0d3e4f5a6b7c", "0b5d7e4e-8f1a-4a7e-b3c2-9d8e7f6a5b4c"}
	for _, id := range ids {
		if _, err := p.Publish(ctx, uploaded(id)); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	msgs := k.ReadAll(t, contract.TopicUploaded, 2, 10*time.Second)
	if len(msgs) != 2 {
		t.Fatalf("%d records, want 2", len(msgs))
	}
	ceIDs := map[string]bool{}
	for _, m := range msgs {
		hs := make([]contract.Header, len(m.Headers))
		for i, h := range m.Headers {
			hs[i] = contract.Header{Key: h.Key, Value: h.Value}
		}
		if contract.HeaderValue(hs, contract.HeaderSubject) != string(m.Key) || contract.HeaderValue(hs, contract.HeaderSource) != "/vidpipe/upload-api" {
			t.Errorf("headers %v for key %s", hs, m.Key)
		}
		ceIDs[contract.HeaderValue(hs, contract.HeaderID)] = true
		if _, err := contract.Decode[contract.VideoUploaded](m.Value); err != nil {
			t.Errorf("value: %v", err)
		}
	}
	if len(ceIDs) != 2 {
		t.Errorf("ce_id not unique per record: %v", ceIDs)
	}
	// Same key, same partition (murmur2): publish the first id again.
	if _, err := p.Publish(ctx, uploaded(ids[0])); err != nil {
		t.Fatal(err)
	}
	msgs = k.ReadAll(t, contract.TopicUploaded, 3, 10*time.Second)
	parts := map[int]bool{}
	for _, m := range msgs {
		if string(m.Key) == ids[0] {
			parts[m.Partition] = true
		}
	}
	if len(parts) != 1 {
		t.Errorf("one key on partitions %v", parts)
	}
}

func TestPublishRefusesInvalidEvent(t *testing.T) {
	p, err := New(config.Kafka{Brokers: []string{"127.0.0.1:1"}}, Options{Service: "upload-api"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ev := uploaded("not-a-uuid")
	if _, err := p.Publish(context.Background(), ev); err == nil {
		t.Fatal("published an invalid event")
	}
}

func TestPublishBrokerDown(t *testing.T) {
	k := harness.StartKafka(t)
	k.CreateTopics(t, 1, contract.TopicUploaded)
	p, err := New(config.Kafka{Brokers: k.Brokers}, Options{Service: "upload-api", MaxAttempts: 2, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	k.Stop(t)
	if _, err := p.Publish(context.Background(), uploaded("6f1c2b9e-3a7d-4c1e-9b2a-0d3e4f5a6b7c")); err == nil {
		t.Fatal("Publish succeeded with the broker down")
	}
	if err := p.Ping(context.Background(), contract.TopicUploaded); err == nil {
		t.Fatal("Ping succeeded with the broker down")
	}
}

func TestNewTraceparent(t *testing.T) {
	re := regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`)
	a, b := NewTraceparent(), NewTraceparent()
	if !re.MatchString(a) || a == b {
		t.Fatalf("traceparents %q, %q", a, b)
	}
}

func TestNewOptions(t *testing.T) {
	tests := map[string]struct {
		brokers []string
		opts    Options
		ok      bool
	}{
		"ok":         {[]string{"127.0.0.1:9092"}, Options{Service: "s"}, true},
		"no brokers": {nil, Options{Service: "s"}, false},
		"no service": {[]string{"127.0.0.1:9092"}, Options{}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := New(config.Kafka{Brokers: tc.brokers}, tc.opts)
			if (err == nil) != tc.ok {
				t.Fatalf("New error = %v", err)
			}
			if p != nil {
				p.Close()
			}
		})
	}
}

// Options left zero take the api section's defaults, the ones a service
// started with no configuration passes in.
func TestNewDefaultsAreTheConfigDefaults(t *testing.T) {
	p, err := New(config.Kafka{Brokers: []string{"127.0.0.1:1"}}, Options{Service: "upload-api"})
	if err != nil {
		t.Fatal(err)
	}
	def := uploadapi.DefaultAPI()
	if p.attempts != def.PublishAttempts || p.timeout != def.PublishTimeout || p.readTimeout != 10*time.Second {
		t.Errorf("attempts %d, timeout %v, read-back %v; want %d, %v, 10s", p.attempts, p.timeout, p.readTimeout, def.PublishAttempts, def.PublishTimeout)
	}
}

func TestRetryDelays(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 9: time.Second} {
		if got := retry.Delay(attempt); got != want {
			t.Errorf("delay before attempt %d = %v, want %v", attempt+1, got, want)
		}
	}
}

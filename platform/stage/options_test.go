package stage

import (
	"reflect"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
)

// service is a worker's configuration as a service loads it.
type service struct {
	Kafka config.Kafka `mapstructure:"kafka"`
	Stage config.Stage `mapstructure:"stage"`
}

func loadService(t *testing.T, args ...string) service {
	t.Helper()
	var c service
	if err := config.Load(string(contract.StageTranscode), args, nil, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// Run called with zero options must behave like a service started with no
// configuration: the same runtime settings, the same Kafka settings, the
// same producer.
func TestZeroOptionsAreTheConfigDefaults(t *testing.T) {
	loaded := loadService(t)
	o := Options{Stage: contract.StageTranscode}
	if err := o.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if o.Runtime != loaded.Stage {
		t.Errorf("zero Runtime became\n%+v\nwant the loaded defaults\n%+v", o.Runtime, loaded.Stage)
	}
	if o.Runtime.CommitInterval != time.Second || o.Runtime.BatchTimeout != 5*time.Millisecond {
		t.Errorf("commit_interval %v, batch_timeout %v; want 1s and 5ms", o.Runtime.CommitInterval, o.Runtime.BatchTimeout)
	}
	if !reflect.DeepEqual(o.Kafka, loaded.Kafka) {
		t.Errorf("zero Kafka became %+v, want the loaded defaults %+v", o.Kafka, loaded.Kafka)
	}

	fromConfig := Options{Stage: contract.StageTranscode, Kafka: loaded.Kafka, Runtime: loaded.Stage}
	if err := fromConfig.setDefaults(); err != nil {
		t.Fatal(err)
	}
	w, cw := newWriter(&o, &kafka.Transport{}), newWriter(&fromConfig, &kafka.Transport{})
	if w.BatchTimeout != config.DefaultStage().BatchTimeout || cw.BatchTimeout != w.BatchTimeout {
		t.Errorf("producer linger: zero options %v, configured %v, default %v", w.BatchTimeout, cw.BatchTimeout, config.DefaultStage().BatchTimeout)
	}
	if w.BatchBytes != DefaultMaxRecordBytes || w.RequiredAcks != kafka.RequireAll {
		t.Errorf("producer: batch bytes %d, acks %v", w.BatchBytes, w.RequiredAcks)
	}
}

// A configuration key set to 0 loads as config.Off and keeps its meaning
// in the runtime; a Runtime built in code says the same with config.Off.
func TestOffSettings(t *testing.T) {
	loaded := loadService(t, "--stage.shutdown_grace=0", "--stage.batch_timeout=0", "--stage.commit_interval=0", "--stage.stuck_timeout=0")
	inCode := config.Stage{ShutdownGrace: config.Off, BatchTimeout: config.Off, CommitInterval: config.Off, StuckTimeout: config.Off}
	for name, rt := range map[string]config.Stage{"loaded": loaded.Stage, "in code": inCode} {
		o := Options{Stage: contract.StageTranscode, Runtime: rt}
		if err := o.setDefaults(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r := o.Runtime
		if r.ShutdownGrace != 0 || r.CommitInterval != 0 || r.StuckTimeout != 0 || r.BatchTimeout != minLinger {
			t.Errorf("%s: grace %v, commit %v (0: synchronous), stuck %v, linger %v; want 0, 0, 0, %v",
				name, r.ShutdownGrace, r.CommitInterval, r.StuckTimeout, r.BatchTimeout, minLinger)
		}
		if r.MaxAttempts != 5 || r.HTTPAddr != "127.0.0.1:8081" {
			t.Errorf("%s: other defaults lost: %+v", name, r)
		}
	}
}

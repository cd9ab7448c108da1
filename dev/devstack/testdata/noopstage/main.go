// Command noopstage is the worker of "noop", a stage that the dev stack's
// test declares at run time (contract.Pipeline.With) and that no table of
// the repository knows. It is written as a real worker is: its
// configuration comes from platform/config (kafka, stage and log sections,
// plus its own noop section naming its topics and event type, which the
// test sets from its declaration), and platform/stage runs it.
//
// Its handler consumes the noop section's input (the pipeline's last step,
// video.ready), decoding each event as contract.VideoReady, and re-publishes
// the document, as the noop section's event type, to its output topic. It honours
// the stage contract: an event whose title starts with "noop-fail" is
// refused as permanent, so the runtime dead-letters it to the noop section's
// dead-letter topic.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/config"
	"github.com/vidpipe/vidpipe/platform/stage"
)

// Config is the noop stage's configuration (VIDPIPE_NOOP_OUTPUT, …).
type Config struct {
	Kafka config.Kafka `mapstructure:"kafka"`
	Stage config.Stage `mapstructure:"stage"`
	Log   config.Log   `mapstructure:"log"`
	Noop  Settings     `mapstructure:"noop"`
}

// Settings are the stage's row of the pipeline table, as the test declared it.
type Settings struct {
	Input  string `mapstructure:"input" default:"video.ready" desc:"topic consumed (video.ready events)"`
	Output string `mapstructure:"output" default:"video.nooped" desc:"topic published to"`
	DLQ    string `mapstructure:"dlq" default:"video.noop.dlq" desc:"dead-letter topic"`
	Type   string `mapstructure:"type" default:"dev.vidpipe.video.nooped.v1" desc:"CloudEvents type of the output"`
}

// output is the noop section, read once at start; the output event's
// methods read it.
var output Settings

// nooped is the output event: the video.ready document under the noop
// stage's type and topic.
type nooped struct{ contract.VideoReady }

func (nooped) EventType() string { return output.Type }
func (nooped) Topic() string     { return output.Output }

// errRefused marks the input the handler refuses (permanent).
var errRefused = errors.New("noop: refused by title")

func handle(_ context.Context, in contract.VideoReady) (nooped, error) {
	if strings.HasPrefix(in.Title, "noop-fail") {
		return nooped{}, stage.Permanent(fmt.Errorf("%w: %q", errRefused, in.Title))
	}
	return nooped{in}, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "noop:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	var cfg Config
	if err := config.Load("noop", os.Args[1:], os.Getenv, &cfg); err != nil {
		if errors.Is(err, config.ErrHelp) {
			return nil
		}
		return err
	}
	output = cfg.Noop
	log := config.NewLogger(cfg.Log, os.Stdout, "noop")
	log.Info("starting", "config", config.Redacted(cfg))
	return stage.Run(ctx, stage.Options{
		Stage:       "noop",
		Kafka:       cfg.Kafka,
		Runtime:     cfg.Stage,
		Logger:      log,
		InputTopic:  cfg.Noop.Input,
		OutputTopic: cfg.Noop.Output,
		DLQTopic:    cfg.Noop.DLQ,
		Group:       "noop",
	}, handle)
}

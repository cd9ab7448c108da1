package procgroup

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WorkerSandbox is a worker's sandbox configuration: its keys
// <Section>.sandbox and <Section>.sandbox_max_memory, and the attempt
// timeout that bounds each tool's CPU time.
type WorkerSandbox struct {
	// Section is the worker's configuration section, e.g. "transcode":
	// errors name the key "<Section>.sandbox".
	Section string
	// Mode is one of [Modes] (the <Section>.sandbox key).
	Mode string
	// MaxMemory is each tool's address-space limit (RLIMIT_AS) in bytes,
	// the <Section>.sandbox_max_memory key; 0: no limit.
	MaxMemory int64
	// AttemptTimeout bounds each tool's CPU time: AttemptTimeout on every
	// core (stage.attempt_timeout × the number of CPUs). 0 keeps the CPU
	// time of Limits.
	AttemptTimeout time.Duration
	// Limits are the other limits (FileSize, OpenFiles). Default (the zero
	// value): [DefaultLimits].
	Limits Limits
}

// limits are ws's resource limits: Limits (or DefaultLimits) with the
// address space and CPU time ws sets.
func (ws WorkerSandbox) limits() Limits {
	lim := ws.Limits
	if lim.zero() {
		lim = DefaultLimits()
	}
	lim.AddressSpace = uint64(max(ws.MaxMemory, 0))
	if ws.AttemptTimeout > 0 {
		lim.CPUTime = ws.AttemptTimeout * time.Duration(runtime.NumCPU())
	}
	return lim
}

// StartSandbox is a worker's sandbox start-up: it makes the sandbox
// described by ws the [Default] every later [Command] and [RunTool] runs
// in, and reports it: a log line, the gauge vidpipe_sandbox_active{mode}
// (1 or 0) registered on reg, and the name of the worker's /readyz check,
// "sandbox: active (<isolation>)" or "sandbox: inactive (<mode>)". The
// check always passes ([Ready]): in ModeRequired StartSandbox already
// fails, matching ErrUnavailable and naming "<Section>.sandbox", when the
// kernel allows no network namespace.
func StartSandbox(ctx context.Context, ws WorkerSandbox, log *slog.Logger, reg prometheus.Registerer) (check string, err error) {
	check, err = report(ctx, ws.Mode, ws.limits(), log, reg)
	if err != nil {
		return "", fmt.Errorf("%s.sandbox: %w", ws.Section, err)
	}
	return check, nil
}

// report makes the sandbox of mode with limits lim the Default and
// reports it (see StartSandbox).
func report(ctx context.Context, mode string, lim Limits, log *slog.Logger, reg prometheus.Registerer) (check string, err error) {
	m, err := ParseMode(mode)
	if err != nil {
		return "", err
	}
	sb, err := New(ctx, m, lim)
	if err != nil {
		return "", err
	}
	SetDefault(sb)
	st := sb.Status()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "vidpipe_sandbox_active",
		Help:        "1 when ffmpeg and ffprobe run in a network namespace of their own, 0 when they share the worker's network.",
		ConstLabels: prometheus.Labels{"mode": string(st.Mode)},
	})
	check = "sandbox: inactive (" + string(st.Mode) + ")"
	if st.Active {
		g.Set(1)
		check = "sandbox: active (" + st.Isolation + ")"
		log.Info("ffmpeg sandbox active", "sandbox", st.String())
	} else {
		log.Warn("ffmpeg sandbox inactive: ffmpeg and ffprobe share the worker's network", "reason", st.Reason, "sandbox", st.String())
	}
	if err := reg.Register(g); err != nil {
		return "", fmt.Errorf("metrics: %w", err)
	}
	return check, nil
}

// Ready is the function of the /readyz check named by [StartSandbox]: the sandbox
// is what it is from start-up on, so the check always passes.
func Ready(context.Context) error { return nil }

package procgroup

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Start is a worker's sandbox start-up: it makes the sandbox of mode (one
// of [Modes]) with limits lim the [Default] every later [Command] runs in,
// and reports it: a log line, the gauge vidpipe_sandbox_active{mode} (1 or
// 0) registered on reg, and the name of the worker's /readyz check,
// "sandbox: active (<isolation>)" or "sandbox: inactive (<mode>)". The
// check always passes ([Ready]): in ModeRequired Start already fails,
// matching ErrUnavailable, when the kernel allows no network namespace.
func Start(ctx context.Context, mode string, lim Limits, log *slog.Logger, reg prometheus.Registerer) (check string, err error) {
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

// Ready is the function of the /readyz check named by [Start]: the sandbox
// is what it is from start-up on, so the check always passes.
func Ready(context.Context) error { return nil }

package ffmpeg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// ErrRejected matches errors where ffmpeg exited with a failure status on
// input that ffprobe accepted (corrupt sample tables, undecodable
// bitstreams, ...). Retrying the same input cannot fix it: callers treat
// it as permanent. Failures that can be transient — ffmpeg missing, killed
// by a signal (e.g. out of memory), a full disk, a cancelled context — do
// not match.
var ErrRejected = errors.New("ffmpeg rejected the input")

// Runner runs ffmpeg. The zero value is usable.
type Runner struct {
	// Path of the ffmpeg binary. Default: "ffmpeg" (looked up in PATH).
	Path string
	// Logger receives progress lines. Default: slog.Default().
	Logger *slog.Logger
	// ProgressInterval is the minimum time between two progress log lines.
	// Default: 10s.
	ProgressInterval time.Duration
	// Metrics, if not nil, is updated while ffmpeg runs.
	Metrics *Metrics
	// Sandbox runs ffmpeg: minimal environment, resource limits, its own
	// network namespace when active. Default: procgroup.Default().
	Sandbox *procgroup.Sandbox
	// FrameRate, if > 0, measures progress by the frames written
	// (frame=N / FrameRate) instead of out_time, which ffmpeg reports as 0
	// for outputs with copied timestamps (-copyts: the chunks). Default: 0.
	FrameRate float64
	// Stderr, if not nil, also receives everything ffmpeg writes to its
	// stderr (MeasureLoudness reads its measurement there). Default: nil.
	Stderr io.Writer
}

// transientStderr lists ffmpeg messages of failures that are not the input's fault.
var transientStderr = []string{
	"No space left on device",
	"Cannot allocate memory",
	"Too many open files",
	"Disk quota exceeded",
}

// Run runs ffmpeg with args in dir, parsing -progress output from stdout
// for logs and metrics. duration (seconds, 0 if unknown) is the expected
// output duration, for the percentage in logs. When ctx ends, ffmpeg's
// whole process group is killed and Run returns the context's cause.
func (r Runner) Run(ctx context.Context, dir string, args []string, duration float64) (err error) {
	bin := r.Path
	if bin == "" {
		bin = "ffmpeg"
	}
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	r.Metrics.start()
	defer func() { r.Metrics.finish(time.Since(start), outcome(ctx, err)) }()

	sb := r.Sandbox
	if sb == nil {
		sb = procgroup.Default()
	}
	cmd := sb.Command(ctx, bin, args...)
	cmd.Dir = dir
	// SVT-AV1 logs its configuration to stderr at info level unless told
	// otherwise (libsvtav1 ignores -loglevel): errors only.
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(slices.Clip(env), "SVT_LOG=1")
	stderr := &procgroup.Tail{Max: 16 << 10}
	cmd.Stderr = stderr
	if r.Stderr != nil {
		cmd.Stderr = io.MultiWriter(stderr, r.Stderr)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("ffmpeg: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("ffmpeg: start: %w", err)
	}
	p := progress{log: log, every: r.ProgressInterval, metrics: r.Metrics, total: duration, start: start, fps: r.FrameRate}
	p.read(stdout)
	err = cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("ffmpeg: %w", context.Cause(ctx))
	case err == nil:
		log.Debug("ffmpeg finished", "elapsed", time.Since(start).Round(time.Millisecond), "out_time_s", p.outTime)
		return nil
	case procgroup.Exited(err):
		msg := stderr.LastLines(4)
		for _, s := range transientStderr {
			if strings.Contains(msg, s) {
				return fmt.Errorf("ffmpeg: %w: %s", err, msg)
			}
		}
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%w: %s", ErrRejected, msg)
	default:
		return fmt.Errorf("ffmpeg: %w (stderr: %s)", err, stderr.LastLines(4))
	}
}

func outcome(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return "ok"
	case ctx.Err() != nil:
		return "cancelled"
	case errors.Is(err, ErrRejected):
		return "rejected"
	}
	return "error"
}

// progress parses ffmpeg's -progress output: blocks of key=value lines,
// each ended by progress=continue or progress=end.
type progress struct {
	log     *slog.Logger
	every   time.Duration
	metrics *Metrics
	total   float64
	start   time.Time

	outTime float64 // seconds of output written so far
	fps     float64 // if > 0, outTime comes from frame counts
	speed   string
	lastLog time.Time
}

// advance records that t seconds of output are written.
func (p *progress) advance(t float64) {
	if t > p.outTime {
		p.metrics.addEncoded(t - p.outTime)
		p.outTime = t
	}
}

func (p *progress) read(rd io.Reader) {
	if p.every <= 0 {
		p.every = 10 * time.Second
	}
	p.lastLog = p.start
	sc := bufio.NewScanner(rd)
	for sc.Scan() {
		key, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		switch key {
		case "out_time_us":
			if us, err := strconv.ParseInt(val, 10, 64); err == nil && us >= 0 && p.fps == 0 {
				p.advance(float64(us) / 1e6)
			}
		case "frame":
			if n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64); err == nil && n >= 0 && p.fps > 0 {
				p.advance(float64(n) / p.fps)
			}
		case "speed":
			p.speed = strings.TrimSpace(val)
		case "progress":
			if now := time.Now(); val == "continue" && now.Sub(p.lastLog) >= p.every {
				p.lastLog = now
				args := []any{"out_time_s", round(p.outTime), "speed", p.speed,
					"elapsed", now.Sub(p.start).Round(time.Second)}
				if p.total > 0 {
					args = append(args, "percent", round(min(100, 100*p.outTime/p.total)))
				}
				p.log.Info("transcode progress", args...)
			}
		}
	}
	// A scanner error (an absurdly long line) must not block ffmpeg on a full pipe.
	_, _ = io.Copy(io.Discard, rd)
}

func round(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

package procgroup

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Mode says whether children run in their own network namespace.
type Mode string

const (
	// ModeAuto isolates children when the kernel allows it and runs them
	// with the worker's network (logged, reported) when it does not.
	ModeAuto Mode = "auto"
	// ModeRequired refuses to run children without their own network
	// namespace: [New] fails.
	ModeRequired Mode = "required"
	// ModeOff never creates namespaces. The minimal environment and the
	// resource limits still apply.
	ModeOff Mode = "off"
)

// Modes lists the accepted modes.
var Modes = []Mode{ModeAuto, ModeRequired, ModeOff}

// ParseMode returns the mode named s.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("sandbox mode must be one of auto, required, off (got %q)", s)
}

// Limits are resource limits (setrlimit, soft = hard) applied to each child
// before it starts; the child cannot raise them. Zero means no limit.
type Limits struct {
	// AddressSpace is RLIMIT_AS in bytes (virtual memory).
	AddressSpace uint64
	// FileSize is RLIMIT_FSIZE in bytes: the largest file the child can write.
	FileSize uint64
	// OpenFiles is RLIMIT_NOFILE.
	OpenFiles uint64
	// CPUTime is RLIMIT_CPU, rounded up to whole seconds (SIGKILL once the
	// hard limit is reached).
	CPUTime time.Duration
}

// DefaultLimits are generous bounds for ffmpeg and ffprobe: 16 GiB of
// address space, 64 GiB per written file, 1024 open files, and one hour of
// CPU per core (a worker should set CPUTime from its attempt timeout).
func DefaultLimits() Limits {
	return Limits{
		AddressSpace: 16 << 30,
		FileSize:     64 << 30,
		OpenFiles:    1024,
		CPUTime:      time.Duration(runtime.NumCPU()) * time.Hour,
	}
}

func (l Limits) zero() bool { return l == Limits{} }

// Env is the whole environment of every child: no credential, no
// configuration of the worker (VIDPIPE_*, AWS_*, ...) reaches ffmpeg.
var Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}

// Status is what [New] found out.
type Status struct {
	Mode Mode
	// Active is true when children run in their own network namespace
	// (they cannot open any connection, not even to 127.0.0.1).
	Active bool
	// Isolation names how: "network namespace" or "user+network
	// namespace" (unprivileged); empty when not active.
	Isolation string
	// Reason says why the sandbox is not active (mode off, or the error
	// the kernel gave).
	Reason string
	// Limits are the resource limits applied to every child.
	Limits Limits
}

// String is a one-line summary for logs and /readyz.
func (s Status) String() string {
	lim := "no resource limits"
	if !s.Limits.zero() {
		lim = fmt.Sprintf("rlimits as=%d fsize=%d nofile=%d cpu=%s",
			s.Limits.AddressSpace, s.Limits.FileSize, s.Limits.OpenFiles, s.Limits.CPUTime)
	}
	if s.Active {
		return fmt.Sprintf("active (%s, minimal env, %s; mode %s)", s.Isolation, lim, s.Mode)
	}
	return fmt.Sprintf("inactive (no network isolation: %s; minimal env, %s; mode %s)", s.Reason, lim, s.Mode)
}

// ErrUnavailable matches the error of [New] in ModeRequired when the
// kernel does not allow a network namespace.
var ErrUnavailable = errors.New("sandbox unavailable")

// Sandbox starts children with a minimal environment, resource limits,
// and (when active) in a new network namespace of their own. Create it
// with [New]; it is safe for concurrent use.
type Sandbox struct {
	status Status
	iso    isolation
}

// New checks what the kernel allows by starting one sandboxed child (a
// re-execution of this binary that exits at once) and returns the
// sandbox. In ModeRequired it fails (matching ErrUnavailable) when no
// network namespace can be created; in ModeAuto it falls back to the
// worker's network and says why in Status.
func New(ctx context.Context, mode Mode, lim Limits) (*Sandbox, error) {
	if _, err := ParseMode(string(mode)); err != nil {
		return nil, err
	}
	s := &Sandbox{status: Status{Mode: mode, Limits: lim}}
	if mode == ModeOff {
		s.status.Reason = "sandbox = off"
		return s, nil
	}
	iso, name, err := probeIsolation(ctx)
	if err != nil {
		if mode == ModeRequired {
			return nil, fmt.Errorf("%w: no network namespace for ffmpeg (sandbox = required): %v", ErrUnavailable, err)
		}
		s.status.Reason = err.Error()
		return s, nil
	}
	s.iso, s.status.Active, s.status.Isolation = iso, true, name
	return s, nil
}

// Status reports what the sandbox does.
func (s *Sandbox) Status() Status { return s.status }

// Command is like the package-level [Command] but runs name in s.
func (s *Sandbox) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return s.command(ctx, name, args...)
}

var (
	defaultMu  sync.Mutex
	defaultBox *Sandbox
)

// SetDefault makes s the sandbox of the package-level [Command].
func SetDefault(s *Sandbox) {
	defaultMu.Lock()
	defaultBox = s
	defaultMu.Unlock()
}

// Default returns the sandbox of [Command]: the one given to SetDefault,
// else one made on first use with ModeAuto and DefaultLimits.
func Default() *Sandbox {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if defaultBox == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := New(ctx, ModeAuto, DefaultLimits())
		if err != nil { // only a bad mode fails in ModeAuto
			panic(err)
		}
		defaultBox = s
	}
	return defaultBox
}

// lookPath resolves name with the worker's PATH (the child's is [Env]) and
// checks that an absolute path is an executable file, so a missing binary
// is a start error, as with exec.Command. A relative path with a slash is
// left to the child (it is relative to the command's Dir).
func lookPath(name string) (string, error) {
	if strings.ContainsRune(name, '/') && !filepath.IsAbs(name) {
		return name, nil
	}
	return exec.LookPath(name)
}

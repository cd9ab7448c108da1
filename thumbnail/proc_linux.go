package thumbnail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// sandboxArg0 is argv[0] of the re-executed worker binary that sets the
// resource limits on itself and then executes ffmpeg or ffprobe (same pid:
// the process-group kill and the parent-death signal keep working, and the
// limits hold from the tool's first instruction).
const sandboxArg0 = "vidpipe-thumbnail-sandbox-exec"

func init() {
	if len(os.Args) > 0 && os.Args[0] == sandboxArg0 {
		sandboxHelper(os.Args[1:])
	}
}

// isolation: clone flags, and whether a user namespace maps the worker's
// own uid and gid (unprivileged).
type isolation struct {
	flags  uintptr
	userns bool
}

var sandboxResources = [...]int{syscall.RLIMIT_AS, syscall.RLIMIT_FSIZE, syscall.RLIMIT_NOFILE, syscall.RLIMIT_CPU}

// sandboxHelper: args are the four limits, then the program and its
// arguments (an empty program prints the network namespace: the probe).
func sandboxHelper(args []string) {
	fail := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "vidpipe sandbox: "+format+"\n", a...)
		// Die by a signal: the worker's failure, not the input's.
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		os.Exit(126)
	}
	if len(args) < len(sandboxResources)+1 {
		fail("bad arguments %q", args)
	}
	for i, res := range sandboxResources {
		v, err := strconv.ParseUint(args[i], 10, 64)
		if err != nil {
			fail("bad limit %q", args[i])
		}
		if v == 0 {
			continue
		}
		var cur syscall.Rlimit
		if err := syscall.Getrlimit(res, &cur); err == nil && v > cur.Max {
			v = cur.Max
		}
		if err := syscall.Setrlimit(res, &syscall.Rlimit{Cur: v, Max: v}); err != nil {
			fail("setrlimit %d: %v", res, err)
		}
	}
	prog := args[len(sandboxResources)]
	if prog == "" {
		ns, err := os.Readlink("/proc/self/ns/net")
		if err != nil {
			fail("%v", err)
		}
		fmt.Print(ns)
		os.Exit(0)
	}
	err := syscall.Exec(prog, args[len(sandboxResources):], os.Environ())
	fail("exec %s: %v", prog, err)
}

func (s *sandbox) command(ctx context.Context, name string, args []string) *exec.Cmd {
	var cmd *exec.Cmd
	if s.status.Limits.zero() {
		cmd = exec.CommandContext(ctx, name, args...)
	} else {
		// A missing binary is a start error, as with exec.Command.
		path, err := exec.LookPath(name)
		cmd = helperCommand(ctx, s.status.Limits, path, args)
		if err != nil {
			cmd.Err = err
		}
	}
	setupCmd(cmd, s.iso)
	return cmd
}

func helperCommand(ctx context.Context, lim SandboxLimits, path string, args []string) *exec.Cmd {
	cpu := uint64((lim.CPUTime + 999_999_999) / 1_000_000_000)
	a := []string{
		strconv.FormatUint(lim.AddressSpace, 10), strconv.FormatUint(lim.FileSize, 10),
		strconv.FormatUint(lim.OpenFiles, 10), strconv.FormatUint(cpu, 10), path,
	}
	cmd := exec.CommandContext(ctx, "/proc/self/exe", append(a, args...)...)
	cmd.Args[0] = sandboxArg0
	return cmd
}

// setupCmd: own process group, killed with the worker, namespaces, minimal
// environment, group kill when ctx ends.
func setupCmd(cmd *exec.Cmd, iso isolation) {
	attr := processGroupAttr()
	attr.Cloneflags = iso.flags
	if iso.userns {
		uid, gid := os.Geteuid(), os.Getegid()
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	cmd.SysProcAttr = attr
	cmd.Env = append([]string(nil), SandboxEnv...)
	cmd.Cancel = func() error {
		// Negative pid: the whole group (Setpgid makes pgid == pid).
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = waitDelay
}

// processGroupAttr puts the tool in its own process group (so it can be
// killed with its children) and kills it if the worker dies first, so a
// crashed worker leaves no ffmpeg running.
func processGroupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// probeIsolation: a network namespace (CAP_SYS_ADMIN), else a user and a
// network namespace (unprivileged, where user namespaces are enabled).
func probeIsolation(ctx context.Context) (isolation, string, error) {
	own, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return isolation{}, "", fmt.Errorf("read own network namespace: %w", err)
	}
	candidates := []struct {
		iso  isolation
		name string
	}{
		{isolation{flags: syscall.CLONE_NEWNET}, "network namespace"},
		{isolation{flags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET, userns: true}, "user+network namespace"},
	}
	var errs []string
	for _, c := range candidates {
		err := probeNamespace(ctx, c.iso, own)
		if err == nil {
			return c.iso, c.name, nil
		}
		errs = append(errs, c.name+": "+err.Error())
	}
	return isolation{}, "", errors.New(strings.Join(errs, "; "))
}

func probeNamespace(ctx context.Context, iso isolation, own string) error {
	cmd := helperCommand(ctx, SandboxLimits{}, "", nil)
	setupCmd(cmd, iso)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	if ns := string(out); !strings.HasPrefix(ns, "net:") || ns == own {
		return fmt.Errorf("child network namespace %q is the worker's (%q)", ns, own)
	}
	return nil
}

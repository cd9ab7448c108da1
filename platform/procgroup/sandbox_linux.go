package procgroup

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

// helperArg0 is argv[0] of the re-executed worker binary that applies the
// resource limits to itself and then executes the real child: rlimits are
// in place before the child's first instruction, the child keeps the pid
// (so the process-group kill and the parent-death signal still apply), and
// the worker's own limits are never touched.
const helperArg0 = "vidpipe-sandbox-exec"

func init() {
	if len(os.Args) > 0 && os.Args[0] == helperArg0 {
		helperMain(os.Args[1:])
	}
}

// isolation is how children are isolated: clone flags, and whether a user
// namespace maps the worker's own uid and gid.
type isolation struct {
	flags  uintptr
	userns bool
}

var resources = [...]int{syscall.RLIMIT_AS, syscall.RLIMIT_FSIZE, syscall.RLIMIT_NOFILE, syscall.RLIMIT_CPU}

// helperMain runs in the re-executed binary: args are the four limits
// (AS, FSIZE, NOFILE bytes/count, CPU seconds), then the program and its
// arguments. An empty program only prints the network namespace (probe).
// It never returns.
func helperMain(args []string) {
	fail := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "vidpipe sandbox: "+format+"\n", a...)
		// A signal death: callers treat it as the worker's failure, not
		// as ffmpeg rejecting the input.
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		os.Exit(126)
	}
	if len(args) < len(resources)+1 {
		fail("bad arguments %q", args)
	}
	for i, res := range resources {
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
	prog := args[len(resources)]
	if prog == "" {
		ns, err := os.Readlink("/proc/self/ns/net")
		if err != nil {
			fail("%v", err)
		}
		fmt.Print(ns)
		os.Exit(0)
	}
	err := syscall.Exec(prog, args[len(resources):], os.Environ())
	fail("exec %s: %v", prog, err)
}

func (s *Sandbox) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	lim := Limits{}
	if s != nil {
		lim = s.status.Limits
	}
	var cmd *exec.Cmd
	if lim.zero() {
		cmd = exec.CommandContext(ctx, name, args...)
	} else {
		path, err := lookPath(name)
		cmd = helperCommand(ctx, lim, path, args)
		if err != nil {
			cmd.Err = err
		}
	}
	var iso isolation
	if s != nil {
		iso = s.iso
	}
	setup(cmd, iso)
	return cmd
}

// helperCommand runs path with args through the helper, with limits lim.
func helperCommand(ctx context.Context, lim Limits, path string, args []string) *exec.Cmd {
	cpu := uint64((lim.CPUTime + 999_999_999) / 1_000_000_000)
	a := []string{
		strconv.FormatUint(lim.AddressSpace, 10), strconv.FormatUint(lim.FileSize, 10),
		strconv.FormatUint(lim.OpenFiles, 10), strconv.FormatUint(cpu, 10), path,
	}
	cmd := exec.CommandContext(ctx, "/proc/self/exe", append(a, args...)...)
	cmd.Args[0] = helperArg0
	return cmd
}

// setup gives cmd its process group, death signal, namespaces, minimal
// environment, and the group kill on cancel.
func setup(cmd *exec.Cmd, iso isolation) {
	attr := sysProcAttr(syscall.SIGKILL, nil)
	attr.Cloneflags = iso.flags
	if iso.userns {
		uid, gid := os.Geteuid(), os.Getegid()
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	cmd.SysProcAttr = attr
	cmd.Env = append([]string(nil), Env...)
	killOnCancel(cmd, WaitDelay)
}

// probeIsolation finds the first isolation the kernel allows: a network
// namespace (needs CAP_SYS_ADMIN), else a user namespace with a network
// namespace (unprivileged, where user namespaces are enabled).
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
		err := probe(ctx, c.iso, own)
		if err == nil {
			return c.iso, c.name, nil
		}
		errs = append(errs, c.name+": "+err.Error())
	}
	return isolation{}, "", errors.New(strings.Join(errs, "; "))
}

// probe starts the helper with iso and checks that it runs in another
// network namespace than own.
func probe(ctx context.Context, iso isolation, own string) error {
	cmd := helperCommand(ctx, Limits{}, "", nil)
	setup(cmd, iso)
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

package procgroup_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// TestMain lets the test binary act as a worker that starts a sandboxed
// child and prints its pid (TestSandboxChildDiesWithWorker), or as a
// parent of a process started with Start (TestStartedChildGetsDeathSignal).
func TestMain(m *testing.M) {
	if os.Getenv("PROCGROUP_TEST_WORKER") == "1" {
		sb, err := procgroup.New(context.Background(), procgroup.ModeRequired, procgroup.DefaultLimits())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		cmd := sb.Command(context.Background(), "sleep", "300")
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println(cmd.Process.Pid)
		time.Sleep(time.Hour)
	}
	if mark := os.Getenv("PROCGROUP_TEST_PARENT"); mark != "" {
		parentMain(mark)
	}
	if os.Getenv("PROCGROUP_TEST_NO_NAMESPACES") == "1" {
		os.Exit(withoutNamespaces())
	}
	os.Exit(m.Run())
}

// withoutNamespaces runs in a user namespace made by
// TestSandboxUnavailable: it forbids further user namespaces, drops to an
// unprivileged uid (so no network namespace either), and checks what procgroup.New
// does there. Exit 0 is success; the reason is printed.
func withoutNamespaces() int {
	if err := harness.DropNamespaces(); err != nil {
		fmt.Println(err)
		return 2
	}
	if _, err := procgroup.New(context.Background(), procgroup.ModeRequired, procgroup.DefaultLimits()); !errors.Is(err, procgroup.ErrUnavailable) {
		fmt.Println("required: procgroup.New =", err, "want ErrUnavailable")
		return 1
	}
	sb, err := procgroup.New(context.Background(), procgroup.ModeAuto, procgroup.DefaultLimits())
	if err != nil || sb.Status().Active || sb.Status().Reason == "" {
		fmt.Printf("auto: procgroup.New = %+v, %v; want inactive with a reason\n", sb.Status(), err)
		return 1
	}
	// Still a minimal environment and the limits, only no namespace.
	out, err := sb.Command(context.Background(), "sh", "-c", "ulimit -n; env").Output()
	if err != nil || !strings.HasPrefix(string(out), "1024\n") || strings.Contains(string(out), "PROCGROUP_TEST") {
		fmt.Printf("auto child: %v %q\n", err, out)
		return 1
	}
	fmt.Println("ok:", sb.Status())
	return 0
}

func newSandbox(t *testing.T, mode procgroup.Mode, lim procgroup.Limits) *procgroup.Sandbox {
	t.Helper()
	sb, err := procgroup.New(context.Background(), mode, lim)
	if err != nil {
		t.Fatalf("procgroup.New(%s): %v", mode, err)
	}
	return sb
}

// fetch runs ffmpeg on an http URL of addr in sb and returns its error.
func fetch(t *testing.T, sb *procgroup.Sandbox, addr string) (error, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := sb.Command(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-rw_timeout", "5000000",
		"-i", "http://"+addr+"/x.mp4", "-f", "null", "-")
	tail := &procgroup.Tail{}
	cmd.Stderr = tail
	return cmd.Run(), tail.String()
}

func TestSandboxChildCannotReachLoopback(t *testing.T) {
	addr, conns := harness.LoopbackListener(t)
	// Control: without the sandbox ffmpeg does connect, so the check below is meaningful.
	if err, _ := fetch(t, newSandbox(t, procgroup.ModeOff, procgroup.DefaultLimits()), addr); err == nil {
		t.Fatal("ffmpeg succeeded on a listener that closes every connection")
	}
	if n := conns.Load(); n == 0 {
		t.Fatal("control: unsandboxed ffmpeg did not connect")
	}
	conns.Store(0)

	sb := newSandbox(t, procgroup.ModeRequired, procgroup.DefaultLimits())
	if st := sb.Status(); !st.Active || st.Isolation == "" {
		t.Fatalf("status %+v, want active", st)
	}
	err, stderr := fetch(t, sb, addr)
	if !procgroup.Exited(err) {
		t.Fatalf("sandboxed ffmpeg: %v (%s), want a failure exit", err, stderr)
	}
	time.Sleep(100 * time.Millisecond)
	if n := conns.Load(); n != 0 {
		t.Fatalf("sandboxed ffmpeg opened %d connection(s) to %s (stderr: %s)", n, addr, stderr)
	}
	t.Logf("sandboxed ffmpeg: %s", strings.TrimSpace(stderr))
}

func TestDefaultCommandIsSandboxed(t *testing.T) {
	if st := procgroup.Default().Status(); !st.Active {
		t.Fatalf("default sandbox (auto) not active on this machine: %s", st)
	}
	own, _ := os.Readlink("/proc/self/ns/net")
	out, err := procgroup.Command(context.Background(), "readlink", "/proc/self/ns/net").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got == own || !strings.HasPrefix(got, "net:") {
		t.Errorf("child network namespace %q, worker's %q", got, own)
	}
}

func TestSandboxEnvironmentHasNoCredentials(t *testing.T) {
	t.Setenv("VIDPIPE_S3_SECRET_KEY", "s3cr3t")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIA")
	t.Setenv("MINIO_ROOT_PASSWORD", "s3cr3t")
	for _, mode := range []procgroup.Mode{procgroup.ModeAuto, procgroup.ModeOff} {
		t.Run(string(mode), func(t *testing.T) {
			// The environment of the running ffmpeg itself, read from /proc.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cmd := newSandbox(t, mode, procgroup.DefaultLimits()).Command(ctx, "ffmpeg", "-nostdin", "-v", "error",
				"-re", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10", "-f", "null", "-")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			defer cancel()
			env := waitProcFile(t, cmd.Process.Pid, "ffmpeg", "environ", "PATH=")
			for _, kv := range strings.Split(strings.TrimRight(env, "\x00"), "\x00") {
				if strings.Contains(kv, "s3cr3t") || strings.HasPrefix(kv, "VIDPIPE_") || strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "MINIO_") {
					t.Errorf("ffmpeg environment has %q", kv)
				}
			}
			if got := strings.Split(strings.TrimRight(env, "\x00"), "\x00"); len(got) != len(procgroup.Env) {
				t.Errorf("ffmpeg environment = %q, want %q", got, procgroup.Env)
			}
		})
	}
}

// waitProcFile reads /proc/pid/name once the process runs comm (the
// helper has executed the real child) and the file contains want.
func waitProcFile(t *testing.T, pid int, comm, name, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, name))
		if err == nil && strings.TrimSpace(string(c)) == comm && strings.Contains(string(data), want) {
			return string(data)
		}
		if time.Now().After(deadline) {
			t.Fatalf("/proc/%d/%s: %v %q (comm %q)", pid, name, err, data, c)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSandboxLimitsAreVisibleOnTheChild(t *testing.T) {
	lim := procgroup.Limits{AddressSpace: 3 << 30, FileSize: 5 << 20, OpenFiles: 200, CPUTime: 90 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := newSandbox(t, procgroup.ModeAuto, lim).Command(ctx, "ffmpeg", "-nostdin", "-v", "error",
		"-re", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10", "-f", "null", "-")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cancel()
	limits := waitProcFile(t, cmd.Process.Pid, "ffmpeg", "limits", "Max cpu time")
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid)); strings.TrimSpace(string(comm)) != "ffmpeg" {
		t.Errorf("pid %d is %q, want ffmpeg itself (the helper execs it)", cmd.Process.Pid, comm)
	}
	for _, want := range []string{
		"Max cpu time              90                   90                   seconds",
		"Max file size             5242880              5242880              bytes",
		"Max open files            200                  200                  files",
		"Max address space         3221225472           3221225472           bytes",
	} {
		if !strings.Contains(limits, want) {
			t.Errorf("/proc/<ffmpeg>/limits lacks %q:\n%s", want, limits)
		}
	}
}

func TestSandboxFileSizeLimitStopsTheChild(t *testing.T) {
	dir := t.TempDir()
	cmd := newSandbox(t, procgroup.ModeAuto, procgroup.Limits{FileSize: 1 << 20}).Command(context.Background(),
		"sh", "-c", "head -c 3000000 /dev/zero > big")
	cmd.Dir = dir
	err := cmd.Run()
	if err == nil {
		t.Fatal("child wrote past its file size limit")
	}
	if fi, serr := os.Stat(filepath.Join(dir, "big")); serr != nil || fi.Size() > 1<<20 {
		t.Errorf("file: %v, %v; want at most 1 MiB", fi, serr)
	}
}

func TestSandboxMissingBinary(t *testing.T) {
	err := newSandbox(t, procgroup.ModeAuto, procgroup.DefaultLimits()).Command(context.Background(), "no-such-ffmpeg-binary").Run()
	if !errors.Is(err, exec.ErrNotFound) || procgroup.Exited(err) || procgroup.Signaled(err) {
		t.Errorf("err = %v, want exec.ErrNotFound", err)
	}
}

func TestSandboxUserNamespace(t *testing.T) {
	// The unprivileged variant, forced (as root the plain network namespace wins).
	sb, err := procgroup.UserNamespaceSandbox(context.Background())
	if err != nil {
		t.Fatalf("user namespaces unavailable here: %v", err)
	}
	dir := t.TempDir()
	addr, conns := harness.LoopbackListener(t)
	if err, _ := fetch(t, sb, addr); !procgroup.Exited(err) || conns.Load() != 0 {
		t.Errorf("ffmpeg in a user+network namespace: %v, %d connection(s)", err, conns.Load())
	}
	// Files it writes belong to the worker's uid.
	cmd := sb.Command(context.Background(), "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x64:duration=0.2", "out.mp4")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	fi, err := os.Stat(filepath.Join(dir, "out.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Geteuid() {
		t.Errorf("output owned by uid %d, want %d", uid, os.Geteuid())
	}
}

func TestSandboxChildDiesWithWorker(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	worker := exec.Command(exe, "-test.run=^$")
	worker.Env = append(os.Environ(), "PROCGROUP_TEST_WORKER=1")
	out, err := worker.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	worker.Stderr = os.Stderr
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	defer worker.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("worker: %v", err)
	}
	child, _ := strconv.Atoi(strings.TrimSpace(line))
	waitProcFile(t, child, "sleep", "comm", "sleep")
	worker.Process.Kill()
	worker.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for procgroup.Alive(child) {
		if time.Now().After(deadline) {
			syscall.Kill(child, syscall.SIGKILL)
			t.Fatalf("sandboxed child %d outlived its killed worker", child)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Where the kernel allows no namespace, required refuses and auto falls
// back (with a reason). Simulated in a user namespace that forbids user
// namespaces, as an unprivileged uid.
func TestSandboxUnavailable(t *testing.T) {
	harness.RunWithoutNamespaces(t, "PROCGROUP_TEST_NO_NAMESPACES")
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"auto", "required", "off"} {
		if m, err := procgroup.ParseMode(s); err != nil || string(m) != s {
			t.Errorf("procgroup.ParseMode(%q) = %q, %v", s, m, err)
		}
	}
	if _, err := procgroup.ParseMode("on"); err == nil {
		t.Error(`procgroup.ParseMode("on") accepted`)
	}
	if _, err := procgroup.New(context.Background(), "yes", procgroup.Limits{}); err == nil {
		t.Error(`procgroup.New("yes") accepted`)
	}
}

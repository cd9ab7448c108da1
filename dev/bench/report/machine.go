package report

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes the host the benchmarks ran on.
type Machine struct {
	// Cores is what `nproc` prints (CPUs usable by this process).
	Cores int
	// CPU is the model name from /proc/cpuinfo.
	CPU string
	// MemTotalKiB is MemTotal from /proc/meminfo.
	MemTotalKiB int64
	// Kernel is /proc/sys/kernel/osrelease.
	Kernel string
	// GoVersion is `go version` (the toolchain that built the services).
	GoVersion string
	// LoadBefore and LoadAfter are /proc/loadavg at the start and the end.
	LoadBefore, LoadAfter string
	// FFmpeg is the first line of `ffmpeg -version`.
	FFmpeg string
}

// ReadMachine reads what it can; missing pieces stay empty.
func ReadMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version()}
	if out, err := exec.Command("nproc").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil {
			m.Cores = n
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemTotalKiB = MemTotalKiB(b)
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = cpuModel(b)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("ffmpeg", "-hide_banner", "-version").Output(); err == nil {
		m.FFmpeg, _, _ = strings.Cut(string(out), "\n")
		m.FFmpeg = strings.TrimSpace(m.FFmpeg)
	}
	m.LoadBefore = LoadAvg()
	return m
}

// LoadAvg returns the first three fields of /proc/loadavg, or "".
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// MemTotalKiB parses MemTotal out of /proc/meminfo content, 0 if absent.
func MemTotalKiB(meminfo []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != "MemTotal" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		return n
	}
	return 0
}

func cpuModel(cpuinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// Fields are the machine's name/value pairs in print order.
func (m Machine) Fields() [][2]string {
	f := [][2]string{
		{"Machine", fmt.Sprintf("%d cores (`nproc`), %s RAM (MemTotal), %s", m.Cores, gib(m.MemTotalKiB), orUnknown(m.CPU))},
		{"Kernel", orUnknown(m.Kernel)},
		{"Go", orUnknown(m.GoVersion)},
		{"ffmpeg", orUnknown(m.FFmpeg)},
	}
	if m.LoadBefore != "" || m.LoadAfter != "" {
		f = append(f, [2]string{"Load average (1/5/15 min)", fmt.Sprintf("%s at the start, %s at the end", orUnknown(m.LoadBefore), orUnknown(m.LoadAfter))})
	}
	return f
}

// Short is a one-line description.
func (m Machine) Short() string {
	return fmt.Sprintf("%d cores, %s RAM, %s, load %s", m.Cores, gib(m.MemTotalKiB), m.GoVersion, m.LoadBefore)
}

func gib(kib int64) string {
	if kib <= 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f GiB", float64(kib)/(1<<20))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

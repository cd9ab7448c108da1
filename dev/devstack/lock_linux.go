//go:build linux

package devstack

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// childProcAttr runs a service in its own process group, and has the
// kernel send it SIGTERM (a graceful stop) if vidpipectl dies.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// killGroup kills the process group led by pid (the service and what it
// started, e.g. ffmpeg).
func killGroup(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// lockDir takes an exclusive lock on path (created if needed), held until
// the returned file is closed or the process ends. It fails at once if
// another process holds it.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

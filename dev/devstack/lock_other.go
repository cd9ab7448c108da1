//go:build !linux

package devstack

import (
	"fmt"
	"os"
	"syscall"
)

// childProcAttr is the portable fallback: no process group and no
// parent-death signal.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{}
}

// killGroup kills pid (there is no process group).
func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

// lockDir creates path; there is no lock outside Linux.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	return f, nil
}

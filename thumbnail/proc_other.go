//go:build unix && !linux

package thumbnail

import "syscall"

// processGroupAttr puts the tool in its own process group, so it can be
// killed with its children.
func processGroupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

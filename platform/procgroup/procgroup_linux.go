package procgroup

import "syscall"

// sysProcAttr puts the child in its own process group and has the kernel
// SIGKILL it when the worker dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

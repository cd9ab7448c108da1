//go:build linux

package servers

import "syscall"

// sysProcAttr runs a server in its own process group (a terminal's Ctrl-C
// reaches only the parent), as cred when not nil, and has the kernel send
// it deathSig when the parent dies, so no server outlives a crashed or
// killed parent. The death signal is set after the credential change, so
// it survives it.
func sysProcAttr(deathSig syscall.Signal, cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSig, Credential: cred}
}

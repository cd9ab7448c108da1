//go:build !linux

package procgroup

import "syscall"

// sysProcAttr puts the child in its own process group. There is no
// parent-death signal outside Linux (a child can outlive a crashed
// parent), and no credential change (only Linux runs children as another
// user).
func sysProcAttr(deathSig syscall.Signal, cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

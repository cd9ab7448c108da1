//go:build !linux

package servers

import "syscall"

// sysProcAttr is the portable fallback: no parent-death signal and no
// credential change (only Linux runs servers as another user; see
// postgresCredential).
func sysProcAttr(deathSig syscall.Signal, cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{}
}

package procgroup

import "syscall"

// sysProcAttr puts the child in its own process group, runs it as cred
// when not nil, and has the kernel send it deathSig when the parent dies
// (Pdeathsig; set after the credential change, so it survives it).
func sysProcAttr(deathSig syscall.Signal, cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSig, Credential: cred}
}

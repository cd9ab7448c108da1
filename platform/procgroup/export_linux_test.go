package procgroup

import (
	"context"
	"os"
	"syscall"
)

// Alive is alive for the external tests.
var Alive = alive

// UserNamespaceSandbox returns a ModeRequired sandbox with default limits
// forced to the unprivileged user+network namespace isolation (as root the
// plain network namespace would win), or the error of probing it.
func UserNamespaceSandbox(ctx context.Context) (*Sandbox, error) {
	own, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return nil, err
	}
	iso := isolation{flags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET, userns: true}
	if err := probe(ctx, iso, own); err != nil {
		return nil, err
	}
	return &Sandbox{status: Status{Mode: ModeRequired, Active: true, Isolation: "user+network namespace", Limits: DefaultLimits()}, iso: iso}, nil
}

package thumbnail

import "syscall"

// processGroupAttr puts the tool in its own process group (so it can be
// killed with its children) and kills it if the worker dies first, so a
// crashed worker leaves no ffmpeg running.
func processGroupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

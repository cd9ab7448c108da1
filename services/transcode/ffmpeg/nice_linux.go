package ffmpeg

import "syscall"

// setNice sets the nice value of every thread of the process group pgid
// (ffmpeg leads its own group, see procgroup).
func setNice(pgid, nice int) error { return syscall.Setpriority(syscall.PRIO_PGRP, pgid, nice) }

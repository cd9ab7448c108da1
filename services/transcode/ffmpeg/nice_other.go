//go:build !linux

package ffmpeg

// setNice is a no-op where setpriority on a process group is not available.
func setNice(pgid, nice int) error { return nil }

// Package e2e holds end-to-end tests of vidpipe: they build the real
// service binaries, start them as processes against real servers from
// dev/harness (kfake broker, MinIO, PostgreSQL) and real ffmpeg, and
// drive the pipeline the way a user would.
package e2e

// Package probe runs ffprobe on untrusted media and decides whether vidpipe
// accepts it.
//
// ffprobe is run as
//
//	ffprobe -v error -protocol_whitelist file -format_whitelist <FormatWhitelist>
//	        -probesize 5000000 -analyzeduration 5000000
//	        -max_pixels <N> -print_format json -show_format -show_streams file:<path>
//
// so it can only read the local file it is given (no network, no other
// files through playlists), only with a media-container demuxer, and only
// a bounded prefix of it to find the streams; each run has a timeout of its
// own (Prober.Timeout) and a run that exceeds it is a rejection. The
// demuxer's name is then checked against AllowedFormats ([Result.Check]):
// that check, not the file name or the declared content type, is the gate.
//
// Errors matching [ErrRejected] are about the input and permanent; any other
// error (ffprobe missing, killed, context cancelled) may succeed on retry.
package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// MaxOutput bounds ffprobe's JSON output (a file with absurdly many streams
// is rejected rather than buffered).
const MaxOutput = 4 << 20

// Prober runs ffprobe. The zero value is usable.
type Prober struct {
	// Path of the ffprobe binary. Default: "ffprobe" (looked up in PATH).
	Path string
	// MaxPixels is passed as -max_pixels, so the decoders ffprobe opens
	// refuse larger frames instead of allocating them. Default (0): no -max_pixels.
	MaxPixels int64
	// Timeout bounds one ffprobe run (its own deadline, inside the
	// caller's); exceeding it rejects the file. Default (0): DefaultTimeout.
	Timeout time.Duration
}

// Args returns ffprobe's arguments for the file at path.
func (p Prober) Args(path string) []string {
	args := []string{"-hide_banner", "-v", "error",
		"-protocol_whitelist", "file",
		"-format_whitelist", FormatWhitelist,
		"-probesize", ProbeSize, "-analyzeduration", AnalyzeDuration}
	if p.MaxPixels > 0 {
		args = append(args, "-max_pixels", strconv.FormatInt(p.MaxPixels, 10))
	}
	return append(args, "-print_format", "json", "-show_format", "-show_streams", "file:"+path)
}

// Probe runs ffprobe on the local file at path. It does not apply any
// limits: call [Result.Check]. A file ffprobe cannot read is an error
// matching ErrRejected.
func (p Prober) Probe(ctx context.Context, path string) (*Result, error) {
	bin := p.Path
	if bin == "" {
		bin = "ffprobe"
	}
	var stdout limitedBuffer
	stdout.max = MaxOutput
	stderr := &procgroup.Tail{Max: 4 << 10}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	pctx, cancel := context.WithTimeoutCause(ctx, timeout, errProbeTimeout)
	defer cancel()
	cmd := procgroup.Command(pctx, bin, p.Args(path)...)
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	err := cmd.Run()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("ffprobe: %w", context.Cause(ctx))
	case errors.Is(context.Cause(pctx), errProbeTimeout):
		return nil, reject(corrupt, "ffprobe did not finish reading the headers within %s", timeout)
	case stdout.overflow:
		return nil, reject(corrupt, "ffprobe output exceeds %d bytes", MaxOutput)
	case procgroup.Exited(err):
		// The reason ends up in DLQ headers: name the input, not the
		// worker's temp path.
		msg := strings.ReplaceAll(stderr.LastLines(3), "file:"+path, "input")
		if msg == "" {
			msg = err.Error()
		}
		if p.MaxPixels > 0 && strings.Contains(stderr.String(), "exceeds specified max pixel count") {
			return nil, reject(tooLarge, "video frame exceeds the limit of %d pixels (%s)", p.MaxPixels, msg)
		}
		return nil, reject(unreadable(stderr.String()), "not a readable media file: %s", msg)
	case err != nil:
		return nil, fmt.Errorf("ffprobe: %w (stderr: %s)", err, stderr.LastLines(3))
	}
	r, err := Parse(stdout.Bytes())
	if err != nil {
		return nil, reject(corrupt, "%v", err)
	}
	return r, nil
}

var errProbeTimeout = errors.New("ffprobe timed out")

// unreadable is the code of a file ffprobe could not read, from its
// stderr: a demuxer outside FormatWhitelist is an unsupported format,
// anything else corrupt media.
func unreadable(stderr string) string {
	if strings.Contains(stderr, "not on whitelist") {
		return unsupported
	}
	return corrupt
}

// limitedBuffer is a bytes.Buffer that refuses to grow past max.
type limitedBuffer struct {
	bytes.Buffer
	max      int
	overflow bool
}

var errOverflow = errors.New("output limit exceeded")

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		b.overflow = true
		return 0, errOverflow
	}
	return b.Buffer.Write(p)
}

package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vidpipe/vidpipe/platform/procgroup"
)

// Bounded demuxer probing, passed to every ffprobe and ffmpeg that opens
// untrusted input: at most ProbeSize bytes and AnalyzeDuration of media are
// read to find the streams' parameters (ffmpeg's defaults, made explicit so
// that no format raises them).
const (
	ProbeSize       = "5000000" // bytes
	AnalyzeDuration = "5000000" // microseconds
)

// DefaultTimeout bounds one ffprobe run when Prober.Timeout is 0.
const DefaultTimeout = 30 * time.Second

// The header's duration is trusted only within this tolerance of the real
// timeline (whichever is larger): durations computed by muxers from
// frame counts, audio priming and edit lists differ by a frame or two, not more.
const (
	ToleranceSeconds  = 1.0
	ToleranceFraction = 0.05
)

// Tolerance is how far the real timeline may be from the declared duration
// (seconds): ToleranceSeconds or ToleranceFraction of declared, whichever is larger.
func Tolerance(declared float64) float64 {
	return math.Max(ToleranceSeconds, ToleranceFraction*declared)
}

// Timeline is what a demux-only pass over the mapped streams found: the
// packets' real presentation times, not the header's claims.
type Timeline struct {
	// Start and End are the earliest presentation time and the latest
	// presentation end (pts + duration) over the scanned streams, in seconds.
	Start, End float64
	// VideoPackets counts the video stream's packets.
	VideoPackets int
	// Packets counts every scanned packet.
	Packets int
	// Keyframes are the video's keyframe times, in seconds from Start, in
	// file order (at most MaxKeyframes: a chunk of a source whose demuxer
	// cannot seek to keyframes starts decoding before the one it needs).
	Keyframes []float64
}

// MaxKeyframes bounds Timeline.Keyframes (a 2 h source with a keyframe
// every 0.1 s).
const MaxKeyframes = 72_000

// Span is End - Start: how long ffmpeg's output timeline will be.
func (t Timeline) Span() float64 { return t.End - t.Start }

// ScanLimits bound a demux-only pass.
type ScanLimits struct {
	// Declared is the declared duration in seconds (Result.Declared).
	Declared float64
	// MaxFrameRate bounds the video packets per second of the declared
	// duration (0: no limit).
	MaxFrameRate float64
	// Timeout bounds the whole pass (0: no limit other than ctx).
	Timeout time.Duration
}

// Declared is the duration the file claims: the longer of the container's
// and the video stream's (of an audio file: the audio stream's).
func (r *Result) Declared() float64 {
	switch {
	case r.Video != nil:
		return math.Max(r.Duration, r.Video.Duration)
	case r.Audio != nil:
		return math.Max(r.Duration, r.Audio.Duration)
	}
	return r.Duration
}

// errStop ends a scan early: the answer is known.
var errStop = errors.New("scan stopped")

// ScanArgs returns ffprobe's arguments for a demux-only pass over the
// streams with the given indexes of the file at path: one CSV line per
// packet, nothing decoded.
func (p Prober) ScanArgs(path, format string) []string {
	args := []string{"-hide_banner", "-v", "error",
		"-protocol_whitelist", "file",
		"-format_whitelist", FormatWhitelist,
		"-probesize", ProbeSize, "-analyzeduration", AnalyzeDuration}
	if format != "" {
		args = append(args, "-f", format)
	}
	return append(args, "-show_entries", "packet=stream_index,pts_time,duration_time,flags",
		"-of", "csv=p=0", "file:"+path)
}

// Scan reads every packet of the probed video stream (and audio stream,
// if any) of the file at path without decoding it, and checks the real
// timeline against the declared duration: a timeline longer or shorter
// than declared (beyond [Tolerance]), or more video packets per second
// than l.MaxFrameRate, is an error matching ErrRejected. The pass stops as
// soon as the answer is known, so a file claiming 2 s whose packets span
// ten hours is refused after reading a few packets. A pass that does not
// finish within l.Timeout is refused too (the file is the reason).
func (p Prober) Scan(ctx context.Context, path string, r *Result, l ScanLimits) (Timeline, error) {
	var tl Timeline
	if r.Video == nil && r.Audio == nil {
		return tl, reject(unsupported, "no video or audio stream")
	}
	declared := l.Declared
	if !(declared > 0) {
		return tl, reject(corrupt, "zero or unknown duration")
	}
	bin := p.Path
	if bin == "" {
		bin = "ffprobe"
	}
	want := map[int]bool{}
	videoIndex := -1 // an audio file has no video packets
	if r.Video != nil {
		videoIndex = r.Video.Index
		want[videoIndex] = true
	}
	if r.Audio != nil {
		want[r.Audio.Index] = true
	}
	maxEnd := declared + Tolerance(declared)
	maxVideo := math.MaxInt
	if l.MaxFrameRate > 0 {
		maxVideo = int(math.Ceil(l.MaxFrameRate*math.Max(declared, 1))) + 10
	}
	sctx := ctx
	if l.Timeout > 0 {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeoutCause(ctx, l.Timeout, errScanTimeout)
		defer cancel()
	}
	sctx, stop := context.WithCancelCause(sctx)
	defer stop(nil)

	format, _, _ := strings.Cut(r.FormatName, ",")
	stderr := &procgroup.Tail{Max: 4 << 10}
	cmd := procgroup.Command(sctx, bin, p.ScanArgs(path, format)...)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return tl, fmt.Errorf("ffprobe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return tl, fmt.Errorf("ffprobe: start: %w", err)
	}
	var verdict error
	first := true
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 4096), 4096)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) < 4 {
			continue
		}
		idx, err := strconv.Atoi(f[0])
		if err != nil || !want[idx] {
			continue
		}
		if strings.Contains(f[3], "D") {
			continue // discarded by the demuxer (edit list): never presented
		}
		pts, err := strconv.ParseFloat(f[1], 64)
		if err != nil || math.IsNaN(pts) || math.IsInf(pts, 0) {
			continue // N/A: no timestamp, ffmpeg derives it from its neighbours
		}
		dur, _ := strconv.ParseFloat(f[2], 64)
		if !(dur >= 0 && dur < 3600) {
			dur = 0
		}
		if first {
			tl.Start, tl.End, first = pts, pts+dur, false
		}
		tl.Start = math.Min(tl.Start, pts)
		tl.End = math.Max(tl.End, pts+dur)
		tl.Packets++
		if idx == videoIndex {
			tl.VideoPackets++
			if strings.Contains(f[3], "K") && len(tl.Keyframes) < MaxKeyframes {
				tl.Keyframes = append(tl.Keyframes, pts)
			}
		}
		if tl.Span() > maxEnd {
			verdict = reject(mismatch, "the header declares %s but the packets' timestamps span at least %s: the real timeline is longer than declared (timestamp gaps or a lying header)",
				secs(declared), secs(tl.Span()))
			break
		}
		if tl.VideoPackets > maxVideo {
			verdict = reject(tooLarge, "more than %d video frames in a declared %s: over the limit of %g frames per second",
				maxVideo-10, secs(declared), l.MaxFrameRate)
			break
		}
	}
	if verdict != nil {
		stop(errStop)
	}
	_, _ = io.Copy(io.Discard, stdout)
	werr := cmd.Wait()
	switch {
	case verdict != nil:
		return tl, verdict
	case ctx.Err() != nil:
		return tl, fmt.Errorf("ffprobe packet scan: %w", context.Cause(ctx))
	case errors.Is(context.Cause(sctx), errScanTimeout):
		return tl, reject(corrupt, "reading the packets took longer than %s (%d packets read, timestamps up to %s): the file is not what it claims to be",
			l.Timeout, tl.Packets, secs(tl.End))
	case procgroup.Exited(werr):
		msg := strings.ReplaceAll(stderr.LastLines(3), "file:"+path, "input")
		return tl, reject(unreadable(stderr.String()), "not a readable media file: %s", msg)
	case werr != nil:
		return tl, fmt.Errorf("ffprobe packet scan: %w (stderr: %s)", werr, stderr.LastLines(3))
	}
	for i := range tl.Keyframes {
		tl.Keyframes[i] -= tl.Start
	}
	switch {
	case r.Video != nil && tl.VideoPackets == 0:
		return tl, reject(corrupt, "the video stream has no packets")
	case tl.Packets == 0:
		return tl, reject(corrupt, "the audio stream has no packets")
	case declared-tl.Span() > Tolerance(declared):
		return tl, reject(mismatch, "source declares %.1f s but its packets span only %.1f s: truncated or corrupt", declared, tl.Span())
	}
	return tl, nil
}

var errScanTimeout = errors.New("packet scan timed out")

// secs formats seconds for a person: "2s", "10h0m0s".
func secs(s float64) string {
	if s < 60 {
		return strconv.FormatFloat(math.Round(s*10)/10, 'f', -1, 64) + " s"
	}
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}

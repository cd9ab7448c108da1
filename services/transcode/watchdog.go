package transcode

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/services/transcode/cmaf"
	"github.com/vidpipe/vidpipe/services/transcode/ffmpeg"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
)

// WatchInterval is how often the watchdog measures the working directory
// while ffmpeg runs.
const WatchInterval = 250 * time.Millisecond

// Output budget of a rung: RungBudgetFactor times its bitrate over the
// capped timeline, plus RungBudgetSlack bytes (headers, a first GOP over
// target on a short clip). The MP4 and the HLS segments each get one.
const (
	RungBudgetFactor = 3
	RungBudgetSlack  = 4 << 20
)

// limitError is why the watchdog stopped ffmpeg: an output outgrew what
// the declared duration allows. code is the user-safe error code
// (contract.ErrorCodes).
type limitError struct{ code, msg string }

func (e *limitError) Error() string { return e.msg }

// refusal is the error Handle returns when the watchdog stopped ffmpeg:
// permanent, with the limit's code.
func (e *limitError) refusal() error {
	return stage.Coded(e.code, stage.Permanent(fmt.Errorf("transcode stopped: %w", e)))
}

// watchdog bounds what one ffmpeg run may leave in the working
// directory: per rung, the MP4's size, the HLS segments' total size and
// count; and the whole directory's size (Settings.MaxWorkDirSize). It also
// measures progress for [classifyTimeout]: the seconds of HLS segments
// written by the rung that wrote the fewest.
type watchdog struct {
	dir, src    string
	rends       []ladder.Rendition
	gop         float64
	maxSegments int
	budget      []int64
	maxDir      int64
	segments    atomic.Int64 // fewest segments over the rungs, last measured
}

func (w *Worker) newWatchdog(dir, src string, rends []ladder.Rendition, maxSeconds float64) *watchdog {
	gop := float64(max(1, w.settings.GOPSeconds))
	wd := &watchdog{dir: dir, src: src, rends: rends, gop: gop, maxDir: w.settings.MaxWorkDirSize,
		maxSegments: int(math.Ceil(maxSeconds/gop)) + 2}
	for _, r := range rends {
		bps := float64(r.VideoBitrate + r.AudioBitrate)
		wd.budget = append(wd.budget, int64(RungBudgetFactor*bps/8*maxSeconds)+RungBudgetSlack)
	}
	return wd
}

// watch measures every WatchInterval until ctx ends, and cancels ctx with
// a *limitError when a limit is passed.
func (wd *watchdog) watch(ctx context.Context, stop context.CancelCauseFunc) {
	t := time.NewTicker(WatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := wd.check(); err != nil {
			stop(err)
			return
		}
	}
}

// check measures the directory once.
func (wd *watchdog) check() error {
	var total int64
	if fi, err := os.Stat(wd.src); err == nil {
		total = fi.Size()
	}
	fewest := int64(math.MaxInt64)
	for i, r := range wd.rends {
		var mp4 int64
		if fi, err := os.Stat(filepath.Join(wd.dir, filepath.FromSlash(ffmpeg.MP4Path(r.Name)))); err == nil {
			mp4 = fi.Size()
		}
		var segBytes int64
		_ = filepath.WalkDir(filepath.Join(wd.dir, filepath.FromSlash(ffmpeg.RungDir(r.Name))), func(_ string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if fi, err := d.Info(); err == nil {
				segBytes += fi.Size()
			}
			return nil
		})
		// Segments to be: the fragments of the rung's fragmented MP4 (one a GOP).
		segs, _ := cmaf.CountFragments(filepath.Join(wd.dir, filepath.FromSlash(ffmpeg.FragPath(r.Name))))
		total += mp4 + segBytes
		fewest = min(fewest, int64(segs))
		switch {
		case mp4 > wd.budget[i]:
			return &limitError{contract.ErrorCodeTooLarge, fmt.Sprintf("rendition %s's MP4 grew past %d bytes (%d× its bitrate over the declared duration): the source is not what its header says",
				r.Name, wd.budget[i], RungBudgetFactor)}
		case segBytes > wd.budget[i]:
			return &limitError{contract.ErrorCodeTooLarge, fmt.Sprintf("rendition %s's HLS segments grew past %d bytes (%d× its bitrate over the declared duration): the source is not what its header says",
				r.Name, wd.budget[i], RungBudgetFactor)}
		case segs > wd.maxSegments:
			return &limitError{contract.ErrorCodeDurationMismatch, fmt.Sprintf("rendition %s has more than %d HLS segments, more than the declared duration needs: the real timeline is longer than declared",
				r.Name, wd.maxSegments)}
		}
	}
	if total > wd.maxDir {
		return &limitError{contract.ErrorCodeTooLarge, fmt.Sprintf("the working directory grew past transcode.max_work_dir_size (%d bytes)", wd.maxDir)}
	}
	if fewest != math.MaxInt64 {
		wd.segments.Store(fewest)
	}
	return nil
}

// written is how many seconds of video every rung had written at the last
// measurement (complete HLS segments; the one being written is not
// counted, so it errs low by up to a segment).
func (wd *watchdog) written() float64 {
	return float64(wd.segments.Load()) * wd.gop
}

// MinTimeoutProgress is the part of the video an attempt must have
// written when it times out for the timeout to be retried: with less, a
// retry on the same hardware would need more than twice the attempt
// timeout, so it is dead-lettered at once instead of timing out
// stage.max_attempts times.
const MinTimeoutProgress = 0.5

// classifyTimeout decides whether a transcode interrupted by the end of
// the attempt's context is worth retrying. A cancellation that is not the
// attempt's deadline (shutdown, rebalance) is returned as is. A deadline
// hit with written seconds of declared done (after elapsed) is permanent
// when less than MinTimeoutProgress was done: the input is too slow to
// transcode within stage.attempt_timeout, and five more attempts would
// block a worker for five more timeouts.
func classifyTimeout(ctx context.Context, err error, written, declared float64, elapsed time.Duration) error {
	if !errors.Is(context.Cause(ctx), context.DeadlineExceeded) || !(declared > 0) {
		return err
	}
	done := written / declared
	if done >= MinTimeoutProgress {
		return err
	}
	need := "more than ten times the attempt"
	if written > 0 {
		need = fmt.Sprintf("about %s", (time.Duration(float64(elapsed) / done)).Round(time.Minute))
	}
	return stage.Coded(contract.ErrorCodeCorruptMedia, stage.Permanent(fmt.Errorf("transcoding this source is too slow for stage.attempt_timeout: %.0f s of %.0f s (%.0f%%) written in %s, a whole run would take %s; not retried: %w",
		written, declared, 100*done, elapsed.Round(time.Second), need, err)))
}

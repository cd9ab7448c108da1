package scenario

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// clipSpec is a generated test source: testsrc2 and a 440 Hz sine tone,
// 30 fps, H.264 (yuv420p, x264's default keyframe interval of 250 frames)
// + AAC in an MP4 with +faststart.
type clipSpec struct {
	Width, Height int
	Seconds       int
	// Preset is the x264 preset. Default: veryfast (what makeClip uses).
	Preset string
	// Bitrate caps the video bitrate (-b:v, -maxrate, 2× -bufsize), e.g.
	// "2M": long sources stay modest in size. Default: x264's CRF 23.
	Bitrate string
}

func (c clipSpec) preset() string {
	if c.Preset == "" {
		return "veryfast"
	}
	return c.Preset
}

// name is the clip's file name in the cache: every setting that changes
// the bytes is in it, so a changed spec never reuses a stale file.
func (c clipSpec) name() string {
	n := fmt.Sprintf("testsrc2-%dx%d-30fps-%ds-%s", c.Width, c.Height, c.Seconds, c.preset())
	if c.Bitrate != "" {
		n += "-" + c.Bitrate
	}
	return n + ".mp4"
}

// describe is the clip for the report, e.g. "60 s 1920×1080 30 fps
// H.264 (x264 veryfast) + AAC".
func (c clipSpec) describe() string {
	d := fmt.Sprintf("%s %d×%d 30 fps H.264 (x264 %s", duration(c.Seconds), c.Width, c.Height, c.preset())
	if c.Bitrate != "" {
		d += ", " + c.Bitrate + "bit/s"
	}
	return d + ") + AAC (testsrc2 + sine)"
}

// duration prints seconds as "60 s", "3 min" or "10 min".
func duration(secs int) string {
	if secs >= 120 && secs%60 == 0 {
		return strconv.Itoa(secs/60) + " min"
	}
	return strconv.Itoa(secs) + " s"
}

// cachedClip returns the path of the clip c in env.Cache (default: the
// run's scratch directory), generating it with ffmpeg first when it is not
// there. The file appears under its final name only once complete, so an
// interrupted generation is redone.
func cachedClip(ctx context.Context, env Env, c clipSpec) (string, error) {
	dir := env.Cache
	if dir == "" {
		dir = filepath.Join(env.Dir, "clips")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, c.name())
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		return path, nil
	}
	env.Log.Info("generating a test source (cached for later runs)", "file", path)
	tmp := path + ".part.mp4"
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=30:duration=%d", c.Width, c.Height, c.Seconds),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:duration=%d", c.Seconds),
		"-c:v", "libx264", "-preset", c.preset(), "-pix_fmt", "yuv420p"}
	if c.Bitrate != "" {
		args = append(args, "-b:v", c.Bitrate, "-maxrate", c.Bitrate, "-bufsize", doubled(c.Bitrate))
	}
	args = append(args, "-c:a", "aac", "-shortest", "-movflags", "+faststart", tmp)
	if out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("ffmpeg (install it with `make deps`): make %s: %w\n%s", c.name(), err, out)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	return path, nil
}

// doubled doubles a bitrate such as "2M" or "800k" (for -bufsize); a value
// it cannot read is returned as it is.
func doubled(rate string) string {
	num := strings.TrimRight(rate, "kKmMgG")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return rate
	}
	return strconv.FormatFloat(2*n, 'f', -1, 64) + rate[len(num):]
}

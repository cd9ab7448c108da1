package scenario

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/vidpipe/vidpipe/dev/bench/report"
	"github.com/vidpipe/vidpipe/services/transcode/ffmpeg"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
)

// The codec comparison's source and reference rung.
const (
	codecSourceSeconds = 10
	codecSourceFPS     = 30
	codecWidth         = 1280
	codecHeight        = 720
	// codecRefBitrate is the H.264 720p rung's bitrate (ladder.DefaultSpec).
	codecRefBitrate = 2_800_000
)

// CodecsOptions configure the codec comparison.
type CodecsOptions struct {
	// MaxEncodes bounds the encodes per codec while searching for the
	// bitrate at which its SSIM equals H.264's. Default: 4.
	MaxEncodes int
	// SSIMTolerance ends the search once an encode's SSIM is this close
	// to H.264's. Default: 0.0005.
	SSIMTolerance float64
}

// codecSource is the codec comparison's source clip: testsrc2 with light
// temporal noise (so that there is detail no encoder can predict, as in a
// camera's picture), 1280×720 30 fps, stored nearly losslessly (x264 CRF 4)
// so the encodes are compared against what they were given.
func codecSource(ctx context.Context, env Env) (string, error) {
	dir := env.Cache
	if dir == "" {
		dir = filepath.Join(env.Dir, "clips")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("testsrc2-noise4-%dx%d-%dfps-%ds-crf4.mp4", codecWidth, codecHeight, codecSourceFPS, codecSourceSeconds))
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		return path, nil
	}
	env.Log.Info("generating the codec comparison's source (cached for later runs)", "file", path)
	tmp := path + ".part.mp4"
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d:duration=%d,noise=alls=4:allf=t", codecWidth, codecHeight, codecSourceFPS, codecSourceSeconds),
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "4", "-pix_fmt", "yuv420p", "-movflags", "+faststart", tmp).CombinedOutput()
	if err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("ffmpeg (install it with `make deps`): make the codec source: %w\n%s", err, out)
	}
	return path, os.Rename(tmp, path)
}

// codecEncode is one encode of the source and what it measured.
type codecEncode struct {
	Bitrate    int64   // target, bit/s
	Bytes      int64   // video stream bytes (the MP4 less its index and header)
	Wall, CPU  float64 // seconds; CPU = user+sys of the ffmpeg process
	SSIM, PSNR float64 // against the source: SSIM All, PSNR average (dB)
}

var (
	codecSSIMRE = regexp.MustCompile(`SSIM .* All:([0-9.]+)`)
	codecPSNRRE = regexp.MustCompile(`PSNR .* average:([0-9.]+|inf)`)
)

// encodeCodec encodes the source's video (no audio) at bitrate with the
// ladder's encoder settings for codec (ffmpeg.EncoderArgs: presets, GOP,
// closed GOPs, average bitrate) into an MP4, then measures it.
func encodeCodec(ctx context.Context, env Env, source string, codec ladder.Codec, bitrate int64, n int) (codecEncode, error) {
	r := ladder.Rendition{Name: string(codec), Width: codecWidth, Height: codecHeight, VideoBitrate: bitrate, Codec: codec}
	enc, err := ffmpeg.EncoderArgs(r, ffmpeg.Encoding{}, codecSourceFPS)
	if err != nil {
		return codecEncode{}, err
	}
	out := filepath.Join(env.Dir, fmt.Sprintf("codec-%s-%d.mp4", codec, n))
	args := append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", source, "-an", "-map", "0:v:0"}, enc...)
	args = append(args, "-map_metadata", "-1", "-f", "mp4", out)
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	cmd.Env = append(os.Environ(), "SVT_LOG=1")
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		return codecEncode{}, fmt.Errorf("encode %s at %d bit/s: %w\n%s", codec, bitrate, err, tail(string(b), 10))
	}
	e := codecEncode{Bitrate: bitrate, Wall: time.Since(start).Seconds(),
		CPU: (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()}
	sz, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=size", "-of", "csv=p=0", out).Output()
	if err != nil {
		return codecEncode{}, fmt.Errorf("ffprobe %s: %w", out, err)
	}
	for _, f := range regexp.MustCompile(`[0-9]+`).FindAllString(string(sz), -1) {
		v, _ := strconv.ParseInt(f, 10, 64)
		e.Bytes += v
	}
	q, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-i", out, "-i", source,
		"-lavfi", "[0:v]split[d0][d1];[1:v]split[r0][r1];[d0][r0]ssim;[d1][r1]psnr", "-f", "null", "-").CombinedOutput()
	if err != nil {
		return codecEncode{}, fmt.Errorf("ssim/psnr of %s: %w\n%s", out, err, tail(string(q), 10))
	}
	s, p := codecSSIMRE.FindSubmatch(q), codecPSNRRE.FindSubmatch(q)
	if s == nil || p == nil {
		return codecEncode{}, fmt.Errorf("no SSIM/PSNR for %s in:\n%s", out, tail(string(q), 10))
	}
	e.SSIM, _ = strconv.ParseFloat(string(s[1]), 64)
	e.PSNR, _ = strconv.ParseFloat(string(p[1]), 64)
	_ = os.Remove(out)
	env.Log.Info("codec encode", "codec", codec, "bitrate", bitrate, "bytes", e.Bytes, "wall_s", e.Wall, "cpu_s", e.CPU, "ssim", e.SSIM, "psnr", e.PSNR)
	return e, nil
}

// matchSSIM searches the bitrate at which codec's SSIM equals target: a
// secant search on log(bitrate) from 50 % and 80 % of H.264's, each step
// interpolating between the two encodes closest to target, at most max
// encodes. It returns the encodes in order and the interpolated bitrate
// (the best estimate of the bitrate at exactly target's SSIM).
func matchSSIM(ctx context.Context, env Env, source string, codec ladder.Codec, target float64, o CodecsOptions) ([]codecEncode, float64, error) {
	var encs []codecEncode
	try := func(b float64) error {
		b = math.Round(math.Min(math.Max(b, 50_000), 3*codecRefBitrate)/1000) * 1000
		for _, e := range encs {
			if float64(e.Bitrate) == b {
				return nil // already measured: interpolation cannot improve
			}
		}
		e, err := encodeCodec(ctx, env, source, codec, int64(b), len(encs))
		if err == nil {
			encs = append(encs, e)
		}
		return err
	}
	for _, f := range []float64{0.5, 0.8} {
		if err := try(f * codecRefBitrate); err != nil {
			return encs, 0, err
		}
	}
	estimate := func() float64 { return atSSIM(encs, target, func(e codecEncode) float64 { return float64(e.Bitrate) }) }
	for len(encs) < o.MaxEncodes {
		closest := math.Inf(1)
		for _, e := range encs {
			closest = math.Min(closest, math.Abs(e.SSIM-target))
		}
		if closest <= o.SSIMTolerance {
			break
		}
		n := len(encs)
		if err := try(estimate()); err != nil {
			return encs, 0, err
		}
		if len(encs) == n {
			break // the estimate was an encode already made
		}
	}
	return encs, estimate(), nil
}

// atSSIM interpolates value (a bitrate, a size) at SSIM target between
// the two encodes closest to it in SSIM, linearly in log(value); encs
// holds at least two encodes.
func atSSIM(encs []codecEncode, target float64, value func(codecEncode) float64) float64 {
	a, b := encs[0], encs[1]
	if math.Abs(b.SSIM-target) < math.Abs(a.SSIM-target) {
		a, b = b, a
	}
	for _, e := range encs[2:] {
		switch {
		case math.Abs(e.SSIM-target) < math.Abs(a.SSIM-target):
			a, b = e, a
		case math.Abs(e.SSIM-target) < math.Abs(b.SSIM-target):
			b = e
		}
	}
	if a.SSIM == b.SSIM {
		return value(a)
	}
	la, lb := math.Log(value(a)), math.Log(value(b))
	return math.Exp(la + (target-a.SSIM)*(lb-la)/(b.SSIM-a.SSIM))
}

// Codecs compares H.264, HEVC and AV1 as the ladder encodes them: the
// H.264 720p rung at its bitrate, then per other codec the bitrate at
// which its SSIM matches H.264's, and what that costs in encode time.
func Codecs(ctx context.Context, env Env, o CodecsOptions) *report.Section {
	if o.MaxEncodes < 2 {
		o.MaxEncodes = 4
	}
	if o.SSIMTolerance <= 0 {
		o.SSIMTolerance = 0.0005
	}
	s := &report.Section{
		Title: "13. Codecs: H.264, HEVC, AV1 at the same quality",
		Intro: fmt.Sprintf("One %d s %d×%d %d fps source (testsrc2 with light temporal noise, `noise=alls=4:allf=t`, stored near-losslessly as x264 CRF 4), "+
			"encoded video-only into an MP4 with each codec's ladder settings (`ffmpeg.EncoderArgs`, what a single-pass rung gets: x264 veryfast, "+
			"x265 veryfast with one frame thread, SVT-AV1 preset 10 with one logical processor; 2 s closed GOPs, average bitrate, no VBV). "+
			"H.264 at the 720p rung's %s bit/s is the reference; for HEVC and AV1 a secant search on log(bitrate), from 50 %% and 80 %% of that, "+
			"looks for the bitrate whose SSIM (ffmpeg `ssim`, All, against the source) equals H.264's: at most %d encodes per codec, stopping within %.4f. "+
			"**video bytes at equal SSIM** (the video stream's packet sizes; encoders over- or undershoot their target differently, so bytes, not "+
			"targets, are compared) and **target bitrate at equal SSIM** interpolate, in log scale, between the two encodes closest to H.264's SSIM; "+
			"the times are those of the encode closest to it. CPU = user+sys of the ffmpeg process (the source's decode included, the same for every codec). One encode per point: "+
			"the wall and CPU times are single samples on a shared machine.",
			codecSourceSeconds, codecWidth, codecHeight, codecSourceFPS, ladder.FormatBitrate(codecRefBitrate), o.MaxEncodes, o.SSIMTolerance),
	}
	return run(s, func() error {
		source, err := codecSource(ctx, env)
		if err != nil {
			return err
		}
		ref, err := encodeCodec(ctx, env, source, ladder.H264, codecRefBitrate, 0)
		if err != nil {
			return err
		}
		all := report.Table{
			Caption: "Every encode",
			Header:  []string{"codec", "target bitrate", "video bytes", "SSIM", "PSNR", "encode wall", "encode CPU"},
		}
		addAll := func(c ladder.Codec, e codecEncode) {
			all.AddRow(string(c), ladder.FormatBitrate(e.Bitrate), strconv.FormatInt(e.Bytes, 10), fmt.Sprintf("%.5f", e.SSIM),
				fmt.Sprintf("%.2f dB", e.PSNR), fmt.Sprintf("%.2f s", e.Wall), fmt.Sprintf("%.2f s", e.CPU))
		}
		addAll(ladder.H264, ref)
		tbl := report.Table{
			Caption: "Per codec, at H.264's SSIM",
			Header: []string{"codec", "video bytes at equal SSIM", "bytes ÷ H.264", "target bitrate at equal SSIM", "encode closest in SSIM: target",
				"its bytes", "SSIM", "PSNR", "encode wall", "wall ÷ H.264", "encode CPU", "CPU ÷ H.264"},
		}
		tbl.AddRow("h264", strconv.FormatInt(ref.Bytes, 10), "1.00", ladder.FormatBitrate(codecRefBitrate), ladder.FormatBitrate(ref.Bitrate),
			strconv.FormatInt(ref.Bytes, 10), fmt.Sprintf("%.5f", ref.SSIM), fmt.Sprintf("%.2f dB", ref.PSNR), fmt.Sprintf("%.2f s", ref.Wall), "1.00",
			fmt.Sprintf("%.2f s", ref.CPU), "1.00")
		for _, c := range []ladder.Codec{ladder.HEVC, ladder.AV1} {
			encs, at, err := matchSSIM(ctx, env, source, c, ref.SSIM, o)
			for _, e := range encs {
				addAll(c, e)
			}
			if err != nil {
				s.Tables = append(s.Tables, tbl, all)
				return err
			}
			best := encs[0]
			for _, e := range encs[1:] {
				if math.Abs(e.SSIM-ref.SSIM) < math.Abs(best.SSIM-ref.SSIM) {
					best = e
				}
			}
			bytes := atSSIM(encs, ref.SSIM, func(e codecEncode) float64 { return float64(e.Bytes) })
			tbl.AddRow(string(c), f0(bytes), f2(bytes/float64(ref.Bytes)), ladder.FormatBitrate(int64(math.Round(at/1000)*1000)), ladder.FormatBitrate(best.Bitrate),
				strconv.FormatInt(best.Bytes, 10), fmt.Sprintf("%.5f", best.SSIM), fmt.Sprintf("%.2f dB", best.PSNR), fmt.Sprintf("%.2f s", best.Wall), f2(best.Wall/ref.Wall),
				fmt.Sprintf("%.2f s", best.CPU), f2(best.CPU/ref.CPU))
			s.Checks = append(s.Checks, report.Check{
				Name: string(c) + " video bytes at H.264's SSIM ÷ H.264's", Value: bytes / float64(ref.Bytes), Info: true,
				Detail: fmt.Sprintf("%.0f vs %d bytes at SSIM %.5f; encode CPU %.2f s vs %.2f s", bytes, ref.Bytes, ref.SSIM, best.CPU, ref.CPU),
			})
		}
		s.Tables = append(s.Tables, tbl, all)
		s.Notes = append(s.Notes, "SSIM is the measure matched (this ffmpeg 5.1 has no VMAF); PSNR is reported beside it and need not agree: "+
			"encoders tuned differently trade one for the other. A synthetic pattern is not a film: the savings on camera footage differ, "+
			"and the ratios here are for these presets (the ladder's defaults, chosen for speed), not for each codec's best.")
		return nil
	})
}

package procgroup

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkSandbox measures what the sandbox costs ffmpeg (bench/scenario
// runs it for `make bench`): "start" is one `ffmpeg -version` (the fixed
// cost per process: the helper's exec, the rlimits, a new network
// namespace), "encode" a 3-rung single-pass libx264 ladder of a 4 s 720p
// clip; each "plain" (exec.Command, the worker's environment) or "sandbox"
// (ModeRequired with the default limits).
func BenchmarkSandbox(b *testing.B) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		b.Fatal(err)
	}
	sb, err := New(context.Background(), ModeRequired, DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	src := filepath.Join(dir, "src.mp4")
	if out, err := exec.Command(ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=4",
		"-f", "lavfi", "-i", "sine=duration=4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", src).CombinedOutput(); err != nil {
		b.Fatalf("source: %v %s", err, out)
	}
	encode := []string{"-nostdin", "-v", "error", "-y", "-i", src,
		"-filter_complex", "[0:v]split=3[a][b][c];[a]scale=-2:360[v360];[b]scale=-2:480[v480];[c]scale=-2:720[v720]"}
	for _, r := range []string{"360", "480", "720"} {
		encode = append(encode, "-map", "[v"+r+"]", "-map", "0:a", "-c:v", "libx264", "-preset", "veryfast", "-g", "60",
			"-c:a", "aac", "-b:a", "96k", filepath.Join(dir, r+".mp4"))
	}
	run := func(b *testing.B, sandboxed bool, args []string) {
		for b.Loop() {
			var cmd *exec.Cmd
			if sandboxed {
				cmd = sb.Command(context.Background(), ffmpeg, args...)
			} else {
				cmd = exec.Command(ffmpeg, args...)
			}
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v %s", err, out)
			}
		}
	}
	for _, w := range []struct {
		name string
		args []string
	}{{"start", []string{"-version"}}, {"encode", encode}} {
		b.Run(w.name+"/plain", func(b *testing.B) { run(b, false, w.args) })
		b.Run(w.name+"/sandbox", func(b *testing.B) { run(b, true, w.args) })
	}
	_ = os.Remove(src)
}

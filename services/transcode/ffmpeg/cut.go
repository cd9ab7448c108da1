package ffmpeg

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/vidpipe/vidpipe/services/transcode/cmaf"
	"github.com/vidpipe/vidpipe/services/transcode/hls"
)

// FragName is the fragmented MP4 ffmpeg writes for one track (a rung's
// video, an audio rendition) inside the track's directory ([RungDir],
// [AudioDir]); a [TrackCutter] cuts it into the track's CMAF files next to
// it. It is a working file: never uploaded.
const FragName = "fragmented.mp4"

// FragPath is the rung's fragmented MP4 (video only), relative to the
// working directory.
func FragPath(name string) string { return RungDir(name) + "/" + FragName }

// AudioFragPath is the audio rendition's fragmented MP4, relative to the
// working directory.
func AudioFragPath(bitrate int64) string { return AudioDir(bitrate) + "/" + FragName }

// fragMovflags make the mp4 muxer write a fragmented MP4 that a
// [cmaf.Splitter] reads: the moov first without samples, one fragment per
// keyframe (video, a keyframe every GOP) or per frag_duration (audio),
// offsets from each moof.
const (
	videoFragMovflags = "+frag_keyframe+empty_moov+default_base_moof"
	audioFragMovflags = "+empty_moov+default_base_moof"
)

// frameTiming is the video track timescale and the ticks of one frame at
// the output frame rate (see [cmaf.VideoTimescale]).
func frameTiming(rate string) (timescale, frameTicks uint32, err error) {
	num, den, err := ParseRate(rate)
	if err != nil {
		return 0, 0, err
	}
	return cmaf.VideoTimescale(num, den)
}

// videoFragOutput is an output writing one rung's video as a fragmented
// MP4 at path, with the track timescale.
func videoFragOutput(path string, timescale uint32) []string {
	return []string{"-fflags", "+bitexact", "-video_track_timescale", strconv.FormatUint(uint64(timescale), 10),
		"-movflags", videoFragMovflags, "-f", "mp4", path}
}

// audioFragOutput is an output writing one audio rendition as a
// fragmented MP4 at path, a fragment every gop seconds (whole AAC frames:
// the first one past gop).
func audioFragOutput(path string, gop int) []string {
	return []string{"-fflags", "+bitexact", "-frag_duration", strconv.Itoa(gop * 1_000_000),
		"-movflags", audioFragMovflags, "-f", "mp4", path}
}

// SegmentInfo is one CMAF segment a [TrackCutter] wrote.
type SegmentInfo struct {
	// URI is the file name, relative to the track's directory.
	URI string
	// Start and Duration are in the track's timescale (see [cmaf.Segment]).
	Start, Duration uint64
	// Seconds is Duration in seconds.
	Seconds float64
	// Size in bytes.
	Size int64
}

// TrackCutter cuts the fragmented MP4 ffmpeg writes (or is writing) for
// one track into the track's CMAF files in Dir: init.mp4 and
// seg_%05d.m4s numbered from First ([cmaf.SegmentPattern]), each segment
// written whole (renamed into place) before it is listed. [TrackCutter.Finish] also writes the
// local media playlist Dir/index.m3u8 (ended), which
// hls.ReadMediaPlaylist reads.
type TrackCutter struct {
	// Frag is the fragmented MP4's path and Dir the output directory
	// (created if missing).
	Frag, Dir string
	// First is the number of the first segment.
	First int
	// Splitter places the segments (Kind, Start, Sequence, FrameTicks);
	// Sequence is set to First.
	Splitter cmaf.Splitter

	f        *os.File
	initDone bool
	segs     []SegmentInfo
}

// Segments are the segments written so far.
func (c *TrackCutter) Segments() []SegmentInfo { return c.segs }

// Init is the init segment's bytes (nil before the first segment).
func (c *TrackCutter) Init() []byte { return c.Splitter.Init() }

// Timescale is the track's timescale.
func (c *TrackCutter) Timescale() uint32 { return c.Splitter.Timescale() }

// Poll reads what ffmpeg has appended to Frag since the last call and
// writes the segments it completes; n is their number. A missing Frag is
// not an error (ffmpeg has not created it yet).
func (c *TrackCutter) Poll() (n int, err error) {
	if c.f == nil {
		f, err := os.Open(c.Frag)
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		} else if err != nil {
			return 0, fmt.Errorf("cut %s: %w", c.Frag, err)
		}
		if err := os.MkdirAll(c.Dir, 0o755); err != nil {
			f.Close()
			return 0, fmt.Errorf("cut %s: %w", c.Frag, err)
		}
		c.f = f
		c.Splitter.Sequence = uint32(c.First)
	}
	if _, err := io.Copy(&c.Splitter, c.f); err != nil {
		return 0, fmt.Errorf("cut %s: %w", c.Frag, err)
	}
	segs, err := c.Splitter.Segments()
	if err != nil {
		return 0, fmt.Errorf("cut %s: %w", c.Frag, err)
	}
	if len(segs) > 0 && !c.initDone {
		if err := writeAtomic(filepath.Join(c.Dir, cmaf.InitName), c.Splitter.Init()); err != nil {
			return 0, err
		}
		c.initDone = true
	}
	ts := float64(c.Splitter.Timescale())
	for _, s := range segs {
		name := fmt.Sprintf(cmaf.SegmentPattern, c.First+len(c.segs))
		if err := writeAtomic(filepath.Join(c.Dir, name), s.Data); err != nil {
			return 0, err
		}
		c.segs = append(c.segs, SegmentInfo{URI: name, Start: s.Start, Duration: s.Duration,
			Seconds: float64(s.Duration) / ts, Size: int64(len(s.Data))})
	}
	return len(segs), nil
}

// Finish cuts the rest of Frag (ffmpeg has exited), checks that it ended
// cleanly, writes the local playlist (when there are segments: a source
// that ends before a chunk leaves none, which [Span.CheckSegments]
// refuses), and closes and removes Frag (its bytes are in the segments
// now: the working directory does not hold them twice).
func (c *TrackCutter) Finish() error {
	if _, err := c.Poll(); err != nil {
		return err
	}
	if c.f == nil {
		return fmt.Errorf("cut %s: ffmpeg wrote no file", c.Frag)
	}
	defer c.f.Close()
	if err := c.Splitter.Close(); err != nil {
		return fmt.Errorf("cut %s: %w", c.Frag, err)
	}
	if err := os.Remove(c.Frag); err != nil {
		return fmt.Errorf("cut %s: %w", c.Frag, err)
	}
	if len(c.segs) == 0 {
		return nil // the source ended before the track began: the caller checks
	}
	return writeAtomic(filepath.Join(c.Dir, PlaylistName), hls.MediaPlaylist(c.Playlist(), true))
}

// Playlist is the segments written so far as playlist entries.
func (c *TrackCutter) Playlist() []hls.Segment {
	segs := make([]hls.Segment, len(c.segs))
	for i, s := range c.segs {
		segs[i] = hls.Segment{URI: s.URI, Duration: s.Seconds}
	}
	return segs
}

// Close closes Frag (after an error).
func (c *TrackCutter) Close() {
	if c.f != nil {
		c.f.Close()
	}
}

// writeAtomic writes a file under a temporary name and renames it into
// place, so that a reader sees it whole or not at all.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Cut cuts every rung's fragmented MP4 of the finished chunk into its
// CMAF track under [RungDir] (segments numbered from Span.FirstSegment,
// starting at Span.StartFrame on the video's timeline) and writes each
// rung's local playlist [PlaylistPath]. dir is the working directory
// ffmpeg ran in.
func (j ChunkJob) Cut(dir string) (map[string]*TrackCutter, error) {
	rate, _ := j.job().FrameRate()
	_, ft, err := frameTiming(rate)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*TrackCutter, len(j.Renditions))
	for _, r := range j.Renditions {
		c := &TrackCutter{Frag: filepath.Join(dir, filepath.FromSlash(FragPath(r.Name))),
			Dir: filepath.Join(dir, filepath.FromSlash(RungDir(r.Name))), First: j.Span.FirstSegment,
			Splitter: cmaf.Splitter{Kind: cmaf.Video, Start: uint64(j.Span.StartFrame) * uint64(ft), FrameTicks: ft}}
		if err := c.Finish(); err != nil {
			c.Close()
			return nil, fmt.Errorf("rung %s: %w", r.Name, err)
		}
		out[r.Name] = c
	}
	return out, nil
}

// Cut cuts the finished single pass's fragmented MP4s into every rung's
// CMAF track under [RungDir] and every audio rendition's under
// [AudioDir], with their local playlists. Keys of the result: rung names,
// and [AudioGroup] names prefixed with "audio/".
func (j Job) Cut(dir string) (map[string]*TrackCutter, error) {
	rate, _ := j.FrameRate()
	_, ft, err := frameTiming(rate)
	if err != nil {
		return nil, err
	}
	out := map[string]*TrackCutter{}
	for _, r := range j.Renditions {
		c := &TrackCutter{Frag: filepath.Join(dir, filepath.FromSlash(FragPath(r.Name))),
			Dir:      filepath.Join(dir, filepath.FromSlash(RungDir(r.Name))),
			Splitter: cmaf.Splitter{Kind: cmaf.Video, FrameTicks: ft}}
		if err := c.Finish(); err != nil {
			c.Close()
			return nil, fmt.Errorf("rung %s: %w", r.Name, err)
		}
		out[r.Name] = c
	}
	for _, b := range j.AudioBitrates() {
		c := &TrackCutter{Frag: filepath.Join(dir, filepath.FromSlash(AudioFragPath(b))),
			Dir: filepath.Join(dir, filepath.FromSlash(AudioDir(b))), Splitter: cmaf.Splitter{Kind: cmaf.Audio}}
		if err := c.Finish(); err != nil {
			c.Close()
			return nil, fmt.Errorf("audio %s: %w", AudioGroup(b), err)
		}
		out[AudioDirName+"/"+AudioGroup(b)] = c
	}
	return out, nil
}

// Cut cuts the finished audio encodes into their CMAF tracks under
// [AudioDir] with their local playlists; keys are [AudioGroup] names.
func (j AudioJob) Cut(dir string) (map[string]*TrackCutter, error) {
	out := map[string]*TrackCutter{}
	for _, b := range j.Bitrates {
		c := j.Cutter(dir, b)
		if err := c.Finish(); err != nil {
			c.Close()
			return nil, fmt.Errorf("audio %s: %w", AudioGroup(b), err)
		}
		out[AudioGroup(b)] = c
	}
	return out, nil
}

// Cutter is the [TrackCutter] of the audio rendition of bitrate b (dir is
// the working directory), to poll while ffmpeg runs.
func (j AudioJob) Cutter(dir string, b int64) *TrackCutter {
	return &TrackCutter{Frag: filepath.Join(dir, filepath.FromSlash(AudioFragPath(b))),
		Dir: filepath.Join(dir, filepath.FromSlash(AudioDir(b))), Splitter: cmaf.Splitter{Kind: cmaf.Audio}}
}

// AudioBitrates are the distinct audio bitrates of the job's rungs in
// rung order (one AAC encode each); none when the source has no audio.
func (j Job) AudioBitrates() []int64 {
	if j.Source == nil || j.Source.Audio == nil {
		return nil
	}
	var out []int64
	seen := map[int64]bool{}
	for _, r := range j.Renditions {
		if !seen[r.AudioBitrate] {
			seen[r.AudioBitrate] = true
			out = append(out, r.AudioBitrate)
		}
	}
	return out
}

// OutputDirs are the directories the single pass writes into, relative
// to the working directory: [MP4Dir], every [RungDir] and every
// [AudioDir]. They must exist before ffmpeg runs.
func (j Job) OutputDirs() []string {
	dirs := []string{MP4Dir}
	for _, r := range j.Renditions {
		dirs = append(dirs, RungDir(r.Name))
	}
	for _, b := range j.AudioBitrates() {
		dirs = append(dirs, AudioDir(b))
	}
	return dirs
}

// MakeDirs creates dirs (relative, slash-separated) under dir.
func MakeDirs(dir string, dirs []string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(d)), 0o755); err != nil {
			return fmt.Errorf("output directory: %w", err)
		}
	}
	return nil
}

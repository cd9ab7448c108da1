package probe

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vidpipe/vidpipe/contract"
)

// ErrRejected matches every error for input that can never be processed
// (not a video, a container that is not allowed, over a limit, unreadable).
// Retrying cannot fix such input: callers treat it as permanent. Every
// such error is a *[Rejection], which names the kind of refusal.
var ErrRejected = errors.New("input rejected")

// Rejection is the error for input that can never be processed: its
// Code is the user-safe error code (one of contract.ErrorCodes, e.g.
// contract.ErrorCodeDurationMismatch) and Reason says, for a person, what
// is wrong. It matches ErrRejected.
type Rejection struct {
	Code   string
	Reason string
}

func (e *Rejection) Error() string { return ErrRejected.Error() + ": " + e.Reason }

// Is reports whether target is ErrRejected.
func (e *Rejection) Is(target error) bool { return target == ErrRejected }

// reject returns a *Rejection with code and the formatted reason.
func reject(code, format string, args ...any) error {
	return &Rejection{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// Shorthands for the codes of rejections.
const (
	unsupported = contract.ErrorCodeUnsupportedFormat
	tooLarge    = contract.ErrorCodeTooLarge
	corrupt     = contract.ErrorCodeCorruptMedia
	mismatch    = contract.ErrorCodeDurationMismatch
)

// AllowedFormats are the ffprobe format_name values accepted: the
// demuxers of ordinary media containers, and of the audio files an audio
// asset is made from (M4A is "mov,…", Ogg Opus/Vorbis "ogg"; MP3, WAV,
// FLAC and raw ADTS AAC have demuxers of their own). Everything else —
// playlists (hls, concat), image sequences (image2), raw video streams,
// subtitles — is rejected, whatever its file name or content type says.
var AllowedFormats = []string{
	"mov,mp4,m4a,3gp,3g2,mj2", // MP4 / QuickTime / M4A
	"matroska,webm",
	"avi",
	"mpegts",
	"mpeg", // MPEG program stream
	"ogg",
	"flv",
	"mp3",
	"wav",
	"flac",
	"aac", // ADTS
}

// FormatWhitelist is the value of ffmpeg's and ffprobe's -format_whitelist
// option matching AllowedFormats: the demuxers they may open at all.
const FormatWhitelist = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,mpeg,ogg,flv,mp3,wav,flac,aac"

// Limits bound what is accepted. A zero field means no limit.
type Limits struct {
	// MaxDuration bounds the declared duration (container or any stream).
	MaxDuration time.Duration
	// MaxPixels bounds width×height of the video.
	MaxPixels int64
	// MaxFileSize bounds the file size in bytes.
	MaxFileSize int64
	// MaxDimension bounds the width and the height each (the events carry
	// dimensions up to contract.MaxDimension).
	MaxDimension int
}

// IsAudio reports whether r is an audio asset: an audio stream and no
// video stream (a cover picture does not count as video).
func (r *Result) IsAudio() bool { return r.Video == nil && r.Audio != nil }

// Check returns an error matching ErrRejected, with a reason a person can
// act on, if r is not a video or an audio file ([Result.IsAudio]) vidpipe
// accepts under l. A file with neither a video nor an audio stream is
// refused (unsupported_format); an audio file passes the same format,
// size and duration limits as a video.
func (r *Result) Check(l Limits) error {
	if !slices.Contains(AllowedFormats, r.FormatName) {
		if r.FormatName == "" {
			return reject(unsupported, "not a media file: no container format recognised")
		}
		return reject(unsupported, "container format %q is not allowed (allowed: MP4/QuickTime/M4A, Matroska/WebM, AVI, MPEG-TS, MPEG-PS, Ogg, FLV, MP3, WAV, FLAC, AAC)", r.FormatName)
	}
	if r.Video == nil && r.Audio == nil {
		return reject(unsupported, "no video or audio stream (the file has %d streams)", r.Streams)
	}
	if l.MaxFileSize > 0 && r.Size > l.MaxFileSize {
		return reject(tooLarge, "file size %d bytes exceeds the limit of %d bytes", r.Size, l.MaxFileSize)
	}
	declared := r.Declared()
	if !(declared > 0) {
		return reject(corrupt, "zero or unknown duration")
	}
	if l.MaxDuration > 0 && declared > l.MaxDuration.Seconds() {
		return reject(tooLarge, "duration %s exceeds the limit of %s",
			time.Duration(declared*float64(time.Second)).Round(time.Second), l.MaxDuration)
	}
	if r.Video == nil {
		return nil // an audio file: no picture limits
	}
	v := r.Video
	if v.Width <= 0 || v.Height <= 0 || v.DisplayWidth <= 0 || v.DisplayHeight <= 0 {
		return reject(corrupt, "video stream %d (%s) has unknown dimensions: undecodable, or larger than the pixel limit", v.Index, v.Codec)
	}
	if l.MaxPixels > 0 && int64(v.Width)*int64(v.Height) > l.MaxPixels {
		return reject(tooLarge, "video %dx%d (%d pixels) exceeds the limit of %d pixels",
			v.Width, v.Height, int64(v.Width)*int64(v.Height), l.MaxPixels)
	}
	if l.MaxDimension > 0 && max(v.Width, v.Height, v.DisplayWidth, v.DisplayHeight) > l.MaxDimension {
		return reject(tooLarge, "video %dx%d (displayed %dx%d) exceeds the limit of %d pixels per side",
			v.Width, v.Height, v.DisplayWidth, v.DisplayHeight, l.MaxDimension)
	}
	return nil
}

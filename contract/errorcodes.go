package contract

// Error codes: the stable, user-safe reason a video failed, carried by a
// dead letter in [HeaderDLQErrorCode] and shown in the status document
// (with a fixed message per code; the raw dlq.error stays for operators).
// A consumer must treat an unknown code as [ErrorCodeInternal].
const (
	// ErrorCodeInvalidEvent: the record could not be decoded or broke the
	// contract (missing fields, a key outside its video, no record key).
	ErrorCodeInvalidEvent = "invalid_event"
	// ErrorCodeUnsupportedFormat: the source is not a video vidpipe can
	// process (container or codec not allowed, no video stream, ...).
	ErrorCodeUnsupportedFormat = "unsupported_format"
	// ErrorCodeDurationMismatch: the source declares a duration its
	// streams do not have (truncated, or crafted to mislead).
	ErrorCodeDurationMismatch = "duration_mismatch"
	// ErrorCodeTooLarge: the source, its dimensions, its duration or a
	// result exceeds a limit.
	ErrorCodeTooLarge = "too_large"
	// ErrorCodeCorruptMedia: the media could not be decoded.
	ErrorCodeCorruptMedia = "corrupt_media"
	// ErrorCodeSourceMissing: the uploaded object is gone (the upload was
	// withdrawn or never completed).
	ErrorCodeSourceMissing = "source_missing"
	// ErrorCodeCrashLoop: the worker stopped during every attempt (a
	// crash, an OOM kill): the input may be what kills it.
	ErrorCodeCrashLoop = "crash_loop"
	// ErrorCodeInternal: anything else (retries exhausted on a transient
	// error, a bug); the default.
	ErrorCodeInternal = "internal"
)

// ErrorCodes lists every error code, in documentation order.
var ErrorCodes = []string{
	ErrorCodeInvalidEvent, ErrorCodeUnsupportedFormat, ErrorCodeDurationMismatch, ErrorCodeTooLarge,
	ErrorCodeCorruptMedia, ErrorCodeSourceMissing, ErrorCodeCrashLoop, ErrorCodeInternal,
}

// KnownErrorCode returns code when it is one of [ErrorCodes], else
// [ErrorCodeInternal] (an empty or unknown code from an older or foreign
// producer).
func KnownErrorCode(code string) string {
	for _, c := range ErrorCodes {
		if c == code {
			return code
		}
	}
	return ErrorCodeInternal
}

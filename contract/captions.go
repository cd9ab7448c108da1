package contract

// Caption tracks. upload-api stores each caption track of a video, one per
// language, as a WebVTT under CaptionsPrefix(id): it belongs to the video
// (VideoOwnsKey), not to an output generation (it lies in no "g{N}/"
// folder and in none of the stages' folders, so the generation GC of
// transcode and thumbnail never removes it), and upload-api removes it
// when the video is deleted.

// CaptionsPrefix is the prefix of a video's caption tracks:
// "videos/{id}/captions/".
func CaptionsPrefix(videoID string) string { return OutputPrefix(videoID) + "captions/" }

// CaptionKey is the object key of the caption track of video videoID in
// language (a canonical BCP 47 tag): "videos/{id}/captions/{language}.vtt".
func CaptionKey(videoID, language string) string {
	return CaptionsPrefix(videoID) + language + ".vtt"
}

package contract

import "strconv"

// Object keys. Every key is built from the video id alone (never from a
// client-supplied name), so re-processing overwrites and a hostile file name
// cannot escape its prefix.

// SourceKey is the object key of the uploaded original.
func SourceKey(videoID string) string { return "uploads/" + videoID + "/source" }

// OutputPrefix is the prefix under which the stages write a video's outputs.
func OutputPrefix(videoID string) string { return "videos/" + videoID + "/" }

// RenditionKey is the object key of the MP4 rendition named rung.
func RenditionKey(videoID, rung string) string { return OutputPrefix(videoID) + "mp4/" + rung + ".mp4" }

// HLSPrefix is the prefix of a video's HLS package.
func HLSPrefix(videoID string) string { return OutputPrefix(videoID) + "hls/" }

// HLSMasterKey is the object key of the HLS master playlist.
func HLSMasterKey(videoID string) string { return HLSPrefix(videoID) + "master.m3u8" }

// ThumbnailPrefix is the prefix of a video's still images.
func ThumbnailPrefix(videoID string) string { return OutputPrefix(videoID) + "thumbs/" }

// DeadLetterValueKey is the object key where a stage stores the original
// value of a record it dead-letters when that value is too large to travel
// through Kafka again (see HeaderDLQValueRef). It is named by the record's
// coordinates, not by its content, so a retried dead letter overwrites.
func DeadLetterValueKey(stage Stage, topic string, partition int, offset int64) string {
	return "deadletters/" + string(stage) + "/" + topic + "/" + strconv.Itoa(partition) + "/" + strconv.FormatInt(offset, 10)
}

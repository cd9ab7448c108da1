package thumbnail

import "github.com/vidpipe/vidpipe/contract"

// OwnedPrefixes are the object prefixes the thumbnail stage writes for a
// video: contract.ThumbnailPrefix (videos/{id}/thumbs/). Its fence
// (stage.ObjectFence) and its video.deleted consumer remove them.
func OwnedPrefixes(videoID string) []string {
	return []string{contract.ThumbnailPrefix(videoID)}
}

package transcode

import "github.com/vidpipe/vidpipe/contract"

// OwnedPrefixes are the object prefixes the transcode stage writes for a
// video: the MP4 renditions (videos/{id}/mp4/), the HLS package
// (videos/{id}/hls/) and the work state of its runs (videos/{id}/work/).
// Its fence (stage.ObjectFence, on every consumer: plan, chunks, audio,
// assemble) and its video.deleted consumer remove them. A new kind of
// output goes here too.
func OwnedPrefixes(videoID string) []string {
	p := contract.OutputPrefix(videoID)
	return []string{p + "mp4/", contract.HLSPrefix(videoID), p + "work/"}
}

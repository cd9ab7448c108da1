package contract

import (
	"strconv"
	"strings"
)

// Output generations. A video's outputs are written in generations: the
// first run of the pipeline (the upload) is generation 0, and each
// reprocess (POST /v1/videos/{id}/reprocess) publishes a new
// video.uploaded for the same video with the next generation number
// (Video.Generation). Generation 0 writes under OutputPrefix(id) exactly as
// before generations existed ("videos/{id}/mp4/…", "hls/…", "thumbs/…");
// generation N > 0 writes under GenerationPrefix(id, N) =
// "videos/{id}/g{N}/" ("videos/{id}/g1/hls/master.m3u8"), so a re-run never
// overwrites what is being served. Every key a stage builds comes from the
// event's generation ([Video.Outputs]), and Validate refuses an event whose
// output keys lie in another generation's folder.
//
// Once generation N is ready, the status projection serves it, and each
// stage removes its own outputs of the generations before N (transcode:
// mp4/ and hls/, thumbnail: thumbs/; see [GCGroup]).

// MaxGeneration bounds Video.Generation.
const MaxGeneration = 1_000_000

// GCGroup is the consumer group in which service removes its outputs of
// superseded generations, on video.ready of a newer one: "<service>-gc".
func GCGroup(service string) string { return service + "-gc" }

// GenerationPrefix is the prefix of the outputs of generation gen of a
// video: OutputPrefix(videoID) for generation 0, "videos/{id}/g{gen}/"
// for gen > 0.
func GenerationPrefix(videoID string, gen int) string {
	if gen <= 0 {
		return OutputPrefix(videoID)
	}
	return OutputPrefix(videoID) + "g" + strconv.Itoa(gen) + "/"
}

// Outputs names the output objects of one generation of a video.
type Outputs struct {
	VideoID    string
	Generation int
}

// Outputs returns the names of the outputs of v's generation: every key a
// stage writes for an event carrying v comes from it.
func (v Video) Outputs() Outputs { return Outputs{VideoID: v.VideoID, Generation: v.Generation} }

// Prefix is GenerationPrefix of o.
func (o Outputs) Prefix() string { return GenerationPrefix(o.VideoID, o.Generation) }

// RenditionKey is the object key of the MP4 rendition named rung.
func (o Outputs) RenditionKey(rung string) string { return o.Prefix() + "mp4/" + rung + ".mp4" }

// AudioDownloadKey is the object key of an audio asset's M4A download
// (AAC in MP4, moov first), next to the MP4 renditions so that the same
// clean-up covers it: "mp4/audio.m4a" (".m4a": the type players and
// browsers expect of audio-only MP4).
func (o Outputs) AudioDownloadKey() string { return o.RenditionPrefix() + AudioRenditionName + ".m4a" }

// RenditionPrefix is the prefix of the MP4 renditions.
func (o Outputs) RenditionPrefix() string { return o.Prefix() + "mp4/" }

// HLSPrefix is the prefix of the HLS package.
func (o Outputs) HLSPrefix() string { return o.Prefix() + "hls/" }

// HLSMasterKey is the object key of the HLS master playlist.
func (o Outputs) HLSMasterKey() string { return o.HLSPrefix() + "master.m3u8" }

// DASHManifestKey is the object key of the DASH MPD, in the same package
// (prefix) as the HLS playlists whose segments it references.
func (o Outputs) DASHManifestKey() string { return o.HLSPrefix() + "manifest.mpd" }

// ThumbnailPrefix is the prefix of the still images.
func (o Outputs) ThumbnailPrefix() string { return o.Prefix() + "thumbs/" }

// KeyGeneration returns the generation whose folder holds output key of
// video id: N for a key under "videos/{id}/g{N}/" (N > 0, written without
// leading zeros), 0 for any other key under OutputPrefix(id). ok is false
// for a key outside OutputPrefix(id).
func KeyGeneration(videoID, key string) (gen int, ok bool) {
	rest, ok := strings.CutPrefix(key, OutputPrefix(videoID))
	if !ok {
		return 0, false
	}
	dir, _, found := strings.Cut(rest, "/")
	if !found {
		return 0, true
	}
	n, isGen := parseGenerationDir(dir)
	if !isGen {
		return 0, true
	}
	return n, true
}

// parseGenerationDir parses a generation folder name "g{N}" (N > 0, no
// leading zeros, at most MaxGeneration).
func parseGenerationDir(dir string) (int, bool) {
	digits, ok := strings.CutPrefix(dir, "g")
	if !ok || digits == "" || digits[0] == '0' || len(digits) > 7 {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n <= 0 || n > MaxGeneration || strconv.Itoa(n) != digits {
		return 0, false
	}
	return n, true
}

// GenerationDirs returns the generations named by the folder names dirs
// (the common prefixes of a listing of OutputPrefix(id) with delimiter
// "/", with or without the prefix and the trailing "/"): "g3" gives 3.
// Other names are skipped.
func GenerationDirs(videoID string, dirs []string) []int {
	var out []int
	for _, d := range dirs {
		d = strings.TrimSuffix(strings.TrimPrefix(d, OutputPrefix(videoID)), "/")
		if n, ok := parseGenerationDir(d); ok {
			out = append(out, n)
		}
	}
	return out
}

// GenerationEventID is the ce_id of the video.uploaded of generation gen
// of videoID: UploadedEventID(videoID) for generation 0 (the upload), and
// for a reprocess an id derived from the video id and the generation, so
// that publishing the same reprocess again is recognisably the same event.
func GenerationEventID(videoID string, gen int) string {
	if gen <= 0 {
		return UploadedEventID(videoID)
	}
	return DeriveID(TopicUploaded, videoID, "generation", strconv.Itoa(gen))
}

package ffmpeg

// AudioDownloadName is an audio asset's M4A download inside MP4Dir.
const AudioDownloadName = "audio.m4a"

// AssembleAudioListArgs builds an audio asset's M4A download at out from
// one audio rendition's CMAF track (a list written by [WriteConcatList]:
// its init segment, then its media segments in order), the way
// [AssembleListArgs] builds a rung's MP4: read as one fragmented MP4
// (concatf:; the init's edit list cuts the encoder's priming), the AAC
// copied without re-encoding, timestamps kept, metadata and chapters
// stripped, moov first (+faststart), written by the ipod muxer (MP4 with
// the "M4A " brand).
func AssembleAudioListArgs(audioList, out string) []string {
	return []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y",
		"-progress", "pipe:1", "-copyts",
		"-protocol_whitelist", "file,concatf", "-format_whitelist", "mov", "-f", "mov", "-i", "concatf:" + audioList,
		"-map", "0:a:0", "-c", "copy",
		"-map_metadata", "-1", "-map_chapters", "-1",
		"-movflags", "+faststart", "-f", "ipod", out}
}

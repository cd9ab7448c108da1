package ffmpeg

// AudioDownloadName is an audio asset's M4A download inside MP4Dir.
const AudioDownloadName = "audio.m4a"

// AssembleAudioListArgs builds an audio asset's M4A download at out from
// one audio rendition's MPEG-TS segments (a list written by
// [WriteConcatList]), the way [AssembleListArgs] builds a rung's MP4:
// read as one MPEG-TS stream (concatf:), the AAC copied without
// re-encoding (ADTS converted with aac_adtstoasc), timestamps kept and
// shifted back by [TimelineOffset] + [TSMuxDelay] (the encoder's priming
// before 0, cut by the edit list), metadata and chapters stripped, moov
// first (+faststart), written by the ipod muxer (MP4 with the "M4A "
// brand).
func AssembleAudioListArgs(audioList, out string) []string {
	return []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y",
		"-progress", "pipe:1", "-copyts",
		"-protocol_whitelist", "file,concatf", "-format_whitelist", "mpegts", "-f", "mpegts", "-i", "concatf:" + audioList,
		"-map", "0:a:0", "-bsf:a", "aac_adtstoasc", "-c", "copy",
		"-map_metadata", "-1", "-map_chapters", "-1",
		"-output_ts_offset", formatSeconds(assembleShift),
		"-movflags", "+faststart", "-f", "ipod", out}
}

// Package captions reads caption files (WebVTT or SubRip) uploaded for a
// video, validates them and writes them back as normalized WebVTT.
//
// Parse accepts a WebVTT or an SRT document (UTF-8, a byte order mark
// allowed) of at most MaxBytes and returns its cues, in order; Track.WebVTT
// writes them as WebVTT ("WEBVTT", then each cue: its identifier if any,
// the timing line with its settings, the text). NOTE, STYLE and REGION
// blocks of a WebVTT are dropped. Every error is a *ParseError whose
// message can be shown to the uploader (it names the line).
//
// Language checks a BCP 47 language tag's syntax (RFC 5646 "langtag",
// private-use and the grandfathered tags aside) and returns it in its
// canonical case ("en-us" gives "en-US", "zh-hant-tw" gives "zh-Hant-TW").
package captions

// Package sniff recognises video containers and audio files from the first
// bytes of a file.
//
// It is a gate, not a parser: it tells a video container (MP4/MOV/3GP,
// Matroska/WebM, AVI, MPEG-TS, MPEG-PS, Ogg with a video stream, FLV) or
// an audio file (M4A, MP3, WAV, FLAC, Ogg Opus/Vorbis/FLAC, ADTS AAC: an
// audio asset) from anything else (an image, an archive, an executable)
// so that the upload API can refuse obvious non-media before storing a
// byte. The final word on whether a file decodes belongs to the
// transcoder's ffprobe.
//
// [http.DetectContentType] is not enough for this: it does not know
// QuickTime files that start with a moov/mdat/wide/free atom and it calls
// every Matroska file WebM.
package sniff

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// HeadSize is how many leading bytes callers should pass to [Detect]. A
// shorter head (a tiny file) is fine; extra bytes are ignored.
const HeadSize = 4096

// Container is a recognised container format.
type Container struct {
	// Name is a short format name, e.g. "mp4", "quicktime", "webm".
	Name string
	// MIME is the media type to store the object with, e.g. "video/mp4".
	MIME string
}

// ErrNotVideo matches every error Detect returns: the head is not a video
// container this package knows.
var ErrNotVideo = errors.New("not a video container")

type notVideoError struct{ reason string }

func (e *notVideoError) Error() string        { return "not a video container: " + e.reason }
func (e *notVideoError) Is(target error) bool { return target == ErrNotVideo }

func reject(format string, args ...any) error {
	return &notVideoError{reason: fmt.Sprintf(format, args...)}
}

// Detect looks at head (the first bytes of a file, up to [HeadSize]) and
// returns the container it starts with, or an error matching [ErrNotVideo]
// that says what the bytes look like instead. Detect never panics, whatever
// the input.
func Detect(head []byte) (Container, error) {
	if len(head) > HeadSize {
		head = head[:HeadSize]
	}
	if len(head) == 0 {
		return Container{}, reject("empty file")
	}
	for _, d := range detectors {
		if c, err, ok := d(head); ok {
			return c, err
		}
	}
	return Container{}, reject("looks like %s", http.DetectContentType(head))
}

// A detector reports ok when head is in its family (matched or refused
// with a reason); ok false passes to the next detector.
type detector func(head []byte) (c Container, err error, ok bool)

var detectors = []detector{isoBMFF, quickTime, ebml, riff, mpegTS, mpegPS, ogg, flv, flac, id3, mpegAudio}

// ---- ISO base media (MP4, MOV with ftyp, 3GP) ----

// imageBrands are ISO-BMFF major brands of still images (HEIF, AVIF,
// JPEG 2000, camera raw), not videos.
var imageBrands = map[string]bool{
	"heic": true, "heix": true, "heim": true, "heis": true, "mif1": true, "mif2": true,
	"msf1": true, "avif": true, "avio": true, "jp2 ": true, "jpx ": true, "jpm ": true,
	"crx ": true,
}

// audioBrands are ISO-BMFF major brands that declare an audio-only file.
var audioBrands = map[string]bool{"M4A ": true, "M4B ": true, "M4P ": true, "F4A ": true, "F4B ": true}

func isoBMFF(h []byte) (Container, error, bool) {
	if len(h) < 12 || string(h[4:8]) != "ftyp" {
		return Container{}, nil, false
	}
	size := binary.BigEndian.Uint32(h[0:4])
	if size < 12 && size != 0 && size != 1 {
		return Container{}, reject("ftyp box of %d bytes is too small", size), true
	}
	brand := string(h[8:12])
	switch {
	case imageBrands[brand]:
		return Container{}, reject("ISO media with image brand %q", brand), true
	case audioBrands[brand]:
		return Container{Name: "m4a", MIME: "audio/mp4"}, nil, true
	case brand == "qt  ":
		return Container{Name: "quicktime", MIME: "video/quicktime"}, nil, true
	case strings.HasPrefix(brand, "3gp") || strings.HasPrefix(brand, "3ge") || strings.HasPrefix(brand, "3gg"):
		return Container{Name: "3gp", MIME: "video/3gpp"}, nil, true
	case strings.HasPrefix(brand, "3g2"):
		return Container{Name: "3g2", MIME: "video/3gpp2"}, nil, true
	}
	if !printableASCII(h[8:12]) {
		return Container{}, reject("ftyp box with a non-text brand"), true
	}
	return Container{Name: "mp4", MIME: "video/mp4"}, nil, true
}

// ---- QuickTime without ftyp (classic .mov) ----

// qtLeadAtoms may precede the movie data at the top level of a QuickTime file.
var qtLeadAtoms = map[string]bool{"wide": true, "free": true, "skip": true, "pnot": true, "junk": true, "PICT": true, "uuid": true}

func quickTime(h []byte) (Container, error, bool) {
	var off uint64
	for i := 0; i < 8; i++ { // a handful of leading atoms at most
		if off+8 > uint64(len(h)) {
			return Container{}, nil, false
		}
		size := uint64(binary.BigEndian.Uint32(h[off : off+4]))
		typ := string(h[off+4 : off+8])
		switch {
		case typ == "moov" || typ == "mdat":
			if size != 0 && size != 1 && size < 8 {
				return Container{}, nil, false
			}
			if typ == "moov" && size == 0 {
				return Container{}, nil, false
			}
			if i == 0 && typ == "mdat" && size == 0 {
				// A bare "....mdat" prefix is too weak a signal on its own.
				return Container{}, nil, false
			}
			return Container{Name: "quicktime", MIME: "video/quicktime"}, nil, true
		case qtLeadAtoms[typ]:
			if size == 1 {
				if off+16 > uint64(len(h)) {
					return Container{}, nil, false
				}
				size = binary.BigEndian.Uint64(h[off+8 : off+16])
				if size < 16 {
					return Container{}, nil, false
				}
			} else if size < 8 {
				return Container{}, nil, false
			}
			if size > uint64(len(h)) || off+size > uint64(len(h)) {
				// The next atom lies beyond the head: not enough evidence.
				return Container{}, nil, false
			}
			off += size
		default:
			return Container{}, nil, false
		}
	}
	return Container{}, nil, false
}

// ---- Matroska / WebM (EBML) ----

const (
	ebmlMagic   = 0x1A45DFA3
	ebmlDocType = 0x4282
)

func ebml(h []byte) (Container, error, bool) {
	if len(h) < 4 || binary.BigEndian.Uint32(h) != ebmlMagic {
		return Container{}, nil, false
	}
	size, n := readVint(h[4:], true)
	if n == 0 {
		return Container{}, reject("EBML header with a bad size"), true
	}
	body := h[4+n:]
	if size >= 0 && uint64(size) < uint64(len(body)) {
		body = body[:size]
	}
	for len(body) > 0 {
		id, in := readVint(body, false)
		if in == 0 {
			break
		}
		sz, sn := readVint(body[in:], true)
		if sn == 0 || sz < 0 {
			break
		}
		start := in + sn
		if uint64(sz) > uint64(len(body)-start) {
			break
		}
		if id == ebmlDocType {
			doc := strings.TrimRight(string(body[start:start+int(sz)]), "\x00")
			switch doc {
			case "matroska":
				return Container{Name: "matroska", MIME: "video/x-matroska"}, nil, true
			case "webm":
				return Container{Name: "webm", MIME: "video/webm"}, nil, true
			}
			return Container{}, reject("EBML document type %q", truncate(doc, 32)), true
		}
		body = body[start+int(sz):]
	}
	return Container{}, reject("EBML header without a document type"), true
}

// readVint reads an EBML variable-length integer. With data true the length
// marker is stripped (element sizes; all ones means unknown, -1); with data
// false it is kept (element ids). n is 0 when b does not hold a valid vint.
func readVint(b []byte, data bool) (v int64, n int) {
	if len(b) == 0 || b[0] == 0 {
		return 0, 0
	}
	l := 1
	for mask := byte(0x80); b[0]&mask == 0; mask >>= 1 {
		l++
	}
	if l > 8 || len(b) < l {
		return 0, 0
	}
	first := b[0]
	if data {
		first &^= 0x80 >> (l - 1)
	}
	u := uint64(first)
	allOnes := first == (0xFF >> l)
	for i := 1; i < l; i++ {
		u = u<<8 | uint64(b[i])
		if b[i] != 0xFF {
			allOnes = false
		}
	}
	if data && allOnes {
		return -1, l
	}
	if u > 1<<62 {
		return 0, 0
	}
	return int64(u), l
}

// ---- AVI (RIFF) ----

func riff(h []byte) (Container, error, bool) {
	if len(h) < 12 || string(h[0:4]) != "RIFF" {
		return Container{}, nil, false
	}
	switch form := string(h[8:12]); form {
	case "AVI ", "AVIX":
		return Container{Name: "avi", MIME: "video/x-msvideo"}, nil, true
	case "WAVE":
		return Container{Name: "wav", MIME: "audio/wav"}, nil, true
	default:
		return Container{}, reject("RIFF form %q", sanitize(form)), true
	}
}

// ---- MPEG transport stream ----

const (
	tsPacket     = 188
	tsSync       = 0x47
	tsMinPackets = 3
)

func mpegTS(h []byte) (Container, error, bool) {
	// Plain TS: sync byte every 188 bytes. M2TS (Blu-ray, AVCHD): a 4-byte
	// timecode before each packet, so every 192 bytes from offset 4.
	for _, layout := range []struct{ start, stride int }{{0, tsPacket}, {4, tsPacket + 4}} {
		n := 0
		for off := layout.start; off < len(h); off += layout.stride {
			if h[off] != tsSync {
				n = -1
				break
			}
			n++
		}
		if n >= tsMinPackets {
			return Container{Name: "mpegts", MIME: "video/mp2t"}, nil, true
		}
	}
	return Container{}, nil, false
}

// ---- MPEG program stream ----

func mpegPS(h []byte) (Container, error, bool) {
	if len(h) < 14 || !bytes.Equal(h[0:4], []byte{0, 0, 1, 0xBA}) {
		return Container{}, nil, false
	}
	switch {
	case h[4]&0xC4 == 0x44: // MPEG-2 pack header: '01' then marker bits
		return Container{Name: "mpegps", MIME: "video/mpeg"}, nil, true
	case h[4]&0xF1 == 0x21: // MPEG-1 pack header: '0010' then a marker bit
		return Container{Name: "mpegps", MIME: "video/mpeg"}, nil, true
	}
	return Container{}, reject("MPEG pack header with bad marker bits"), true
}

// ---- Ogg ----

// oggVideoCodecs are the first bytes of the identification packet of video
// codecs that live in Ogg.
var oggVideoCodecs = [][]byte{
	[]byte("\x80theora"), []byte("BBCD\x00"), []byte("OVP80"), []byte("\x01video\x00\x00\x00"), []byte("fishead\x00"),
}

// oggAudioCodecs are the first bytes of the identification packet of the
// audio codecs an audio asset may be in Ogg: Opus, Vorbis, FLAC, Speex.
var oggAudioCodecs = [][]byte{
	[]byte("OpusHead"), []byte("\x01vorbis"), []byte("\x7fFLAC"), []byte("Speex   "),
}

func ogg(h []byte) (Container, error, bool) {
	if len(h) < 4 || string(h[0:4]) != "OggS" {
		return Container{}, nil, false
	}
	// Every stream starts with a beginning-of-stream page, and all of them
	// come first; look at each in the head for a video codec.
	off := 0
	sawSkeleton, sawAudio := false, false
	for pages := 0; pages < 16; pages++ {
		if off+27 > len(h) || string(h[off:off+4]) != "OggS" {
			break
		}
		if h[off+4] != 0 {
			return Container{}, reject("Ogg version %d", h[off+4]), true
		}
		bos := h[off+5]&0x02 != 0
		nseg := int(h[off+26])
		if off+27+nseg > len(h) {
			break
		}
		payload := 0
		for _, s := range h[off+27 : off+27+nseg] {
			payload += int(s)
		}
		data := off + 27 + nseg
		if !bos {
			break
		}
		end := data + payload
		if end > len(h) {
			end = len(h)
		}
		for _, sig := range oggVideoCodecs {
			if bytes.HasPrefix(h[data:end], sig) {
				if string(sig) == "fishead\x00" {
					sawSkeleton = true
					continue
				}
				return Container{Name: "ogg", MIME: "video/ogg"}, nil, true
			}
		}
		for _, sig := range oggAudioCodecs {
			sawAudio = sawAudio || bytes.HasPrefix(h[data:end], sig)
		}
		off = data + payload
	}
	if sawAudio { // no video stream among the first streams: an audio asset
		return Container{Name: "ogg-audio", MIME: "audio/ogg"}, nil, true
	}
	if sawSkeleton {
		return Container{}, reject("Ogg file without a video stream in its first pages"), true
	}
	return Container{}, reject("Ogg file without a video or audio stream"), true
}

// ---- FLV ----

func flv(h []byte) (Container, error, bool) {
	if len(h) < 9 || string(h[0:3]) != "FLV" {
		return Container{}, nil, false
	}
	if h[3] != 1 {
		return Container{}, reject("FLV version %d", h[3]), true
	}
	if off := binary.BigEndian.Uint32(h[5:9]); off < 9 {
		return Container{}, reject("FLV header size %d", off), true
	}
	return Container{Name: "flv", MIME: "video/x-flv"}, nil, true
}

func printableASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

func truncate(s string, n int) string {
	s = sanitize(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// ---- Audio-only files (audio assets) ----

// flac is a native FLAC stream: "fLaC" then the STREAMINFO block.
func flac(h []byte) (Container, error, bool) {
	if len(h) < 8 || string(h[0:4]) != "fLaC" {
		return Container{}, nil, false
	}
	if h[4]&0x7f != 0 { // the first metadata block is STREAMINFO (type 0)
		return Container{}, reject("FLAC stream without STREAMINFO"), true
	}
	return Container{Name: "flac", MIME: "audio/flac"}, nil, true
}

// id3 is an MP3 (or ADTS AAC) file that starts with an ID3v2 tag: "ID3",
// a version, flags and a 28-bit synchsafe size. The audio frames after it
// may lie beyond the head; ffprobe decides.
func id3(h []byte) (Container, error, bool) {
	if len(h) < 10 || string(h[0:3]) != "ID3" {
		return Container{}, nil, false
	}
	if h[3] < 2 || h[3] > 4 || h[6]|h[7]|h[8]|h[9] >= 0x80 {
		return Container{}, reject("malformed ID3v2 tag"), true
	}
	return Container{Name: "mp3", MIME: "audio/mpeg"}, nil, true
}

// mpegAudio is an MPEG audio (MP3) or ADTS AAC stream without a tag: two
// consecutive frame headers at the head (one if the head ends first).
func mpegAudio(h []byte) (Container, error, bool) {
	n, adts := mpegFrame(h)
	if n == 0 {
		return Container{}, nil, false
	}
	if n < len(h) {
		if m, adts2 := mpegFrame(h[n:]); m == 0 || adts2 != adts {
			return Container{}, nil, false
		}
	}
	if adts {
		return Container{Name: "aac", MIME: "audio/aac"}, nil, true
	}
	return Container{Name: "mp3", MIME: "audio/mpeg"}, nil, true
}

// mpegFrame returns the length of the MPEG-1/2/2.5 Layer III or ADTS AAC
// frame whose header starts h, or 0 when h does not start with one.
func mpegFrame(h []byte) (n int, adts bool) {
	if len(h) < 7 || h[0] != 0xff || h[1]&0xe0 != 0xe0 {
		return 0, false
	}
	if h[1]&0xf6 == 0xf0 { // ADTS: sync 0xFFF, layer 00
		n := int(h[3]&0x03)<<11 | int(h[4])<<3 | int(h[5]>>5)
		if n < 7 || h[2]>>2&0x0f > 12 {
			return 0, false
		}
		return n, true
	}
	version, layer := h[1]>>3&0x03, h[1]>>1&0x03
	bitrateIdx, rateIdx, pad := int(h[2]>>4), int(h[2]>>2&0x03), int(h[2]>>1&0x01)
	if version == 1 || layer != 1 || bitrateIdx == 0 || bitrateIdx == 15 || rateIdx == 3 { // Layer III only
		return 0, false
	}
	v1 := [15]int{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}
	v2 := [15]int{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}
	rates := map[byte][3]int{3: {44100, 48000, 32000}, 2: {22050, 24000, 16000}, 0: {11025, 12000, 8000}}
	rate := rates[version][rateIdx]
	if version == 3 {
		return 144*v1[bitrateIdx]*1000/rate + pad, false
	}
	return 72*v2[bitrateIdx]*1000/rate + pad, false
}

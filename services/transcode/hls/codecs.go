package hls

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strings"

	"github.com/Eyevinn/mp4ff/av1"
	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/hevc"
	"github.com/Eyevinn/mp4ff/mp4"
)

// VideoCodec is the RFC 6381 string of the first video stream in file,
// read from the encoded stream itself:
//
//   - an MP4, progressive or a CMAF/fMP4 init segment: the sample entry
//     (avc1/avc3, hvc1/hev1, av01) and its decoder configuration box (avcC,
//     hvcC, av1C);
//   - an MPEG-TS segment (H.264 or HEVC): the first sequence parameter set
//     of the video elementary stream; an HEVC one is named "hvc1", the
//     sample entry of the MP4 renditions.
//
// Examples: "avc1.64001f", "hvc1.1.6.L93.B0", "av01.0.05M.08". Only the
// beginning of the file is read: top-level MP4 boxes up to the moov (an
// mdat is skipped, not read), the first tsReadLimit bytes of MPEG-TS.
func VideoCodec(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("codec: %w", err)
	}
	defer f.Close()
	var head [1]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return "", fmt.Errorf("codec of %s: %w", file, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("codec of %s: %w", file, err)
	}
	var c string
	if head[0] == 0x47 {
		var data []byte
		if data, err = io.ReadAll(io.LimitReader(f, tsReadLimit)); err == nil {
			c, err = codecFromTS(data)
		}
	} else {
		c, err = codecFromMP4(f)
	}
	if err != nil {
		return "", fmt.Errorf("codec of %s: %w", file, err)
	}
	return c, nil
}

// tsReadLimit bounds what VideoCodec reads of an MPEG-TS segment: the
// parameter sets come with the first keyframe, at the segment's start.
const tsReadLimit = 4 << 20

// codecFromMP4 reads the first video track's sample entry from the moov
// box, decoding the top-level boxes before it lazily (an mdat's payload is
// skipped).
func codecFromMP4(r io.ReadSeeker) (string, error) {
	var moov *mp4.MoovBox
	for pos := uint64(0); moov == nil; {
		box, err := mp4.DecodeBoxLazyMdat(pos, r)
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("mp4: %w", err)
		}
		if m, ok := box.(*mp4.MoovBox); ok {
			moov = m
		}
		pos += box.Size()
	}
	if moov == nil {
		return "", errors.New("mp4: no moov box")
	}
	for _, trak := range moov.Traks {
		if trak.Mdia == nil || trak.Mdia.Minf == nil || trak.Mdia.Minf.Stbl == nil || trak.Mdia.Minf.Stbl.Stsd == nil {
			continue
		}
		if c, ok := StsdVideoCodec(trak.Mdia.Minf.Stbl.Stsd); ok {
			return c, nil
		}
	}
	return "", errors.New("mp4: no H.264, HEVC or AV1 video track with its decoder configuration")
}

// StsdVideoCodec is the RFC 6381 string of the video sample entry of an
// stsd box (avc1/avc3 with avcC, hvc1/hev1 with hvcC, av01 with av1C);
// false when it has none of them.
func StsdVideoCodec(stsd *mp4.StsdBox) (string, bool) {
	switch {
	case stsd == nil:
	case stsd.AvcX != nil && stsd.AvcX.AvcC != nil:
		return AVCCodecOf(stsd.AvcX.Type(), stsd.AvcX.AvcC.DecConfRec), true
	case stsd.HvcX != nil && stsd.HvcX.HvcC != nil:
		return HEVCCodec(stsd.HvcX.Type(), stsd.HvcX.HvcC.DecConfRec), true
	case stsd.Av01 != nil && stsd.Av01.Av1C != nil:
		return AV1Codec(stsd.Av01.Av1C.CodecConfRec), true
	}
	return "", false
}

// AVCCodecOf is the RFC 6381 string of an H.264 stream from its avcC
// record: "<entry>.PPCCLL" (profile_idc, constraint flags, level_idc in
// hex), entry the sample entry ("avc1" or "avc3").
func AVCCodecOf(entry string, rec avc.DecConfRec) string {
	return fmt.Sprintf("%s.%02x%02x%02x", entry, rec.AVCProfileIndication, rec.ProfileCompatibility, rec.AVCLevelIndication)
}

// HEVCCodec is the RFC 6381 string of an HEVC stream from its hvcC
// record (ISO/IEC 14496-15 Annex E): "<entry>.<profile space letter and
// profile_idc>.<compatibility flags, bit-reversed, hex>.<L or H for the
// tier><level_idc>.<constraint bytes, hex, trailing zero bytes left out>",
// e.g. "hvc1.1.6.L93.B0" (Main, level 3.1).
func HEVCCodec(entry string, rec hevc.DecConfRec) string {
	var b strings.Builder
	b.WriteString(entry)
	b.WriteString(".")
	if rec.GeneralProfileSpace > 0 && rec.GeneralProfileSpace <= 3 {
		b.WriteByte("ABC"[rec.GeneralProfileSpace-1])
	}
	fmt.Fprintf(&b, "%d.%X.", rec.GeneralProfileIDC, bits.Reverse32(rec.GeneralProfileCompatibilityFlags))
	if rec.GeneralTierFlag {
		b.WriteString("H")
	} else {
		b.WriteString("L")
	}
	fmt.Fprintf(&b, "%d", rec.GeneralLevelIDC)
	cif := rec.GeneralConstraintIndicatorFlags // 48 bits
	n := 6
	for n > 0 && (cif>>(8*(6-n)))&0xff == 0 {
		n-- // trailing zero bytes are left out
	}
	for i := range n {
		fmt.Fprintf(&b, ".%X", (cif>>(8*(5-i)))&0xff)
	}
	return b.String()
}

// AV1Codec is the RFC 6381 string of an AV1 stream from its av1C record
// (AV1 ISOBMFF binding, "Codecs Parameter String"):
// "av01.<profile>.<level, two digits><M or H for the tier>.<bit depth, two
// digits>", e.g. "av01.0.08M.08"; the optional fields after the bit depth
// are left out (their defaults: 4:2:0, BT.709, limited range).
func AV1Codec(rec av1.CodecConfRec) string {
	depth := 8
	switch {
	case rec.TwelveBit == 1:
		depth = 12
	case rec.HighBitdepth == 1:
		depth = 10
	}
	tier := "M"
	if rec.SeqTier0 == 1 {
		tier = "H"
	}
	return fmt.Sprintf("av01.%d.%02d%s.%02d", rec.SeqProfile, rec.SeqLevelIdx0, tier, depth)
}

// tsPacket is the size of an MPEG-TS packet.
const tsPacket = 188

// codecFromTS reads the first SPS of the video elementary stream of an
// MPEG-TS segment (H.264 or HEVC, by the PMT's stream type).
func codecFromTS(data []byte) (string, error) {
	es, streamType, err := videoES(data)
	if err != nil {
		return "", err
	}
	switch streamType {
	case 0x1b: // H.264
		spss, _ := avc.GetParameterSetsFromByteStream(es)
		if len(spss) == 0 {
			return "", errors.New("mpeg-ts: no H.264 SPS")
		}
		sps, err := avc.ParseSPSNALUnit(spss[0], false)
		if err != nil {
			return "", fmt.Errorf("mpeg-ts: H.264 SPS: %w", err)
		}
		// Lower-case hex, as [AVCCodec] and [AVCCodecOf].
		return fmt.Sprintf("avc1.%02x%02x%02x", sps.Profile, sps.ProfileCompatibility, sps.Level), nil
	case 0x24: // HEVC
		_, spss, _ := hevc.GetParameterSetsFromByteStream(es)
		if len(spss) == 0 {
			return "", errors.New("mpeg-ts: no HEVC SPS")
		}
		sps, err := hevc.ParseSPSNALUnit(spss[0])
		if err != nil {
			return "", fmt.Errorf("mpeg-ts: HEVC SPS: %w", err)
		}
		return hevc.CodecString("hvc1", sps), nil
	}
	return "", fmt.Errorf("mpeg-ts: video stream type 0x%02x is neither H.264 nor HEVC", streamType)
}

// videoES returns the elementary stream (PES payloads, headers removed)
// of the first H.264 or HEVC stream in the PMT of an MPEG-TS file, and
// its stream type.
func videoES(data []byte) ([]byte, byte, error) {
	type packet struct {
		pid     int
		start   bool
		payload []byte
	}
	var pkts []packet
	for off := 0; off+tsPacket <= len(data); off += tsPacket {
		p := data[off : off+tsPacket]
		if p[0] != 0x47 {
			return nil, 0, fmt.Errorf("mpeg-ts: lost sync at byte %d", off)
		}
		pid := int(p[1]&0x1f)<<8 | int(p[2])
		afc := (p[3] >> 4) & 3
		body := p[4:]
		if afc&2 != 0 { // adaptation field
			if len(body) == 0 || int(body[0])+1 > len(body) {
				continue
			}
			body = body[int(body[0])+1:]
		}
		if afc&1 == 0 {
			continue // no payload
		}
		pkts = append(pkts, packet{pid, p[1]&0x40 != 0, body})
	}
	section := func(payload []byte) []byte { // a PSI section after its pointer field
		if len(payload) == 0 || int(payload[0])+1 > len(payload) {
			return nil
		}
		return payload[int(payload[0])+1:]
	}
	pmtPID := -1
	for _, p := range pkts {
		if p.pid == 0 && p.start {
			s := section(p.payload)
			if len(s) >= 16 && s[0] == 0 { // program_association_section, first program
				pmtPID = int(s[10]&0x1f)<<8 | int(s[11])
				break
			}
		}
	}
	if pmtPID < 0 {
		return nil, 0, errors.New("mpeg-ts: no PAT")
	}
	videoPID, streamType := -1, byte(0)
	for _, p := range pkts {
		if p.pid != pmtPID || !p.start {
			continue
		}
		s := section(p.payload)
		if len(s) < 12 || s[0] != 2 {
			continue
		}
		end := min(len(s)-4, 3+(int(s[1]&0x0f)<<8|int(s[2]))-4) // before the CRC
		i := 12 + (int(s[10]&0x0f)<<8 | int(s[11]))
		for i+5 <= end {
			st, pid, n := s[i], int(s[i+1]&0x1f)<<8|int(s[i+2]), int(s[i+3]&0x0f)<<8|int(s[i+4])
			if st == 0x1b || st == 0x24 {
				videoPID, streamType = pid, st
				break
			}
			i += 5 + n
		}
		break
	}
	if videoPID < 0 {
		return nil, 0, errors.New("mpeg-ts: no H.264 or HEVC stream in the PMT")
	}
	var es []byte
	for _, p := range pkts {
		if p.pid != videoPID {
			continue
		}
		body := p.payload
		if p.start {
			if len(body) < 9 || body[0] != 0 || body[1] != 0 || body[2] != 1 || 9+int(body[8]) > len(body) {
				return nil, 0, errors.New("mpeg-ts: bad PES header")
			}
			body = body[9+int(body[8]):]
		} else if es == nil {
			continue // the stream's first PES starts later
		}
		es = append(es, body...)
		if len(es) > 1<<20 {
			break // the parameter sets come with the first keyframe
		}
	}
	if len(es) == 0 {
		return nil, 0, errors.New("mpeg-ts: empty video stream")
	}
	return es, streamType, nil
}

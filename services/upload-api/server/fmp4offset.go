package server

import (
	"encoding/binary"
	"fmt"
)

// fmp4FirstPTS returns the presentation time, in 90 kHz units, of the
// first sample of fMP4 media segment seg (its first moof's first traf:
// tfdt plus the first sample's composition offset), less the track's
// edit list shift (the first edit's media_time, if init has one), with
// the media timescale from the mdhd of initialization section init (its
// first trak). That is where the segment's presentation starts for an
// HLS client, the value X-TIMESTAMP-MAP's MPEGTS maps a WebVTT time to.
func fmp4FirstPTS(init, seg []byte) (int64, error) {
	moov, ok := child(init, "moov")
	if !ok {
		return 0, fmt.Errorf("initialization section: no moov")
	}
	trak, ok := child(moov, "trak")
	if !ok {
		return 0, fmt.Errorf("initialization section: no trak")
	}
	mdhd, ok := path4(trak, "mdia", "mdhd")
	if !ok || len(mdhd) < 4 {
		return 0, fmt.Errorf("initialization section: no mdhd")
	}
	var timescale uint32
	switch mdhd[0] {
	case 0:
		if len(mdhd) < 16 {
			return 0, fmt.Errorf("mdhd: short")
		}
		timescale = binary.BigEndian.Uint32(mdhd[12:])
	case 1:
		if len(mdhd) < 24 {
			return 0, fmt.Errorf("mdhd: short")
		}
		timescale = binary.BigEndian.Uint32(mdhd[20:])
	default:
		return 0, fmt.Errorf("mdhd: version %d", mdhd[0])
	}
	if timescale == 0 {
		return 0, fmt.Errorf("mdhd: timescale 0")
	}
	var shift int64
	if elst, ok := path4(trak, "edts", "elst"); ok && len(elst) >= 8 && binary.BigEndian.Uint32(elst[4:]) > 0 {
		switch {
		case elst[0] == 0 && len(elst) >= 16:
			shift = int64(int32(binary.BigEndian.Uint32(elst[12:])))
		case elst[0] == 1 && len(elst) >= 24:
			shift = int64(binary.BigEndian.Uint64(elst[16:]))
		}
		shift = max(shift, 0) // -1: an empty edit
	}
	moof, ok := child(seg, "moof")
	if !ok {
		return 0, fmt.Errorf("media segment: no moof in the first %d bytes", len(seg))
	}
	traf, ok := child(moof, "traf")
	if !ok {
		return 0, fmt.Errorf("media segment: no traf")
	}
	tfdt, ok := child(traf, "tfdt")
	if !ok || len(tfdt) < 8 {
		return 0, fmt.Errorf("media segment: no tfdt")
	}
	var t int64
	if tfdt[0] == 1 {
		if len(tfdt) < 12 {
			return 0, fmt.Errorf("tfdt: short")
		}
		t = int64(binary.BigEndian.Uint64(tfdt[4:]))
	} else {
		t = int64(binary.BigEndian.Uint32(tfdt[4:]))
	}
	if trun, ok := child(traf, "trun"); ok {
		t += firstCompositionOffset(trun)
	}
	pts := t - shift
	return pts * 90000 / int64(timescale), nil
}

// firstCompositionOffset is the first sample's composition time offset in
// trun body b (0 when the box has none).
func firstCompositionOffset(b []byte) int64 {
	if len(b) < 8 {
		return 0
	}
	version, flags := b[0], uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3])
	if binary.BigEndian.Uint32(b[4:]) == 0 || flags&0x800 == 0 {
		return 0
	}
	off := 8
	if flags&0x001 != 0 { // data_offset
		off += 4
	}
	if flags&0x004 != 0 { // first_sample_flags
		off += 4
	}
	for _, bit := range []uint32{0x100, 0x200, 0x400} { // duration, size, flags
		if flags&bit != 0 {
			off += 4
		}
	}
	if len(b) < off+4 {
		return 0
	}
	v := binary.BigEndian.Uint32(b[off:])
	if version == 0 {
		return int64(v)
	}
	return int64(int32(v))
}

// path4 walks nested boxes by type from b (a box body).
func path4(b []byte, types ...string) ([]byte, bool) {
	for _, t := range types {
		var ok bool
		if b, ok = child(b, t); !ok {
			return nil, false
		}
	}
	return b, true
}

// child returns the body of the first box of type typ in b (a sequence of
// ISO BMFF boxes; a full box's body starts with its version and flags),
// ok false when there is none or the bytes end before it does.
func child(b []byte, typ string) ([]byte, bool) {
	for len(b) >= 8 {
		size := uint64(binary.BigEndian.Uint32(b))
		hdr := uint64(8)
		switch size {
		case 1:
			if len(b) < 16 {
				return nil, false
			}
			size, hdr = binary.BigEndian.Uint64(b[8:]), 16
		case 0:
			size = uint64(len(b))
		}
		if size < hdr || size > uint64(len(b)) {
			// A box cut by the read limit: its header is whole, so a
			// container's first children are still readable.
			if string(b[4:8]) == typ && size >= hdr {
				return b[hdr:], true
			}
			return nil, false
		}
		if string(b[4:8]) == typ {
			return b[hdr:size], true
		}
		b = b[size:]
	}
	return nil, false
}

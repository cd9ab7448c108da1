package server

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/Eyevinn/mp4ff/mp4"
)

// fmp4FirstPTS returns the presentation time, in 90 kHz units, of the
// first sample of fMP4 media segment seg (its first moof's first traf:
// tfdt plus the first sample's composition offset), less the track's
// edit list shift (the first edit's media_time, if init has one), with
// the media timescale from the mdhd of initialization section init (its
// first trak). That is where the segment's presentation starts for an
// HLS client, the value X-TIMESTAMP-MAP's MPEGTS maps a WebVTT time to.
// seg may be cut short (only its first bytes are read): its moof, which
// comes before the media data, is enough.
func fmp4FirstPTS(init, seg []byte) (int64, error) {
	f, err := mp4.DecodeFile(bytes.NewReader(init))
	if err != nil {
		return 0, fmt.Errorf("initialization section: %w", err)
	}
	if f.Init == nil || f.Init.Moov == nil || f.Init.Moov.Trak == nil || f.Init.Moov.Trak.Mdia == nil || f.Init.Moov.Trak.Mdia.Mdhd == nil {
		return 0, errors.New("initialization section: no trak with an mdhd")
	}
	trak := f.Init.Moov.Trak
	timescale := int64(trak.Mdia.Mdhd.Timescale)
	if timescale == 0 {
		return 0, errors.New("mdhd: timescale 0")
	}
	var shift int64
	if trak.Edts != nil && len(trak.Edts.Elst) > 0 && len(trak.Edts.Elst[0].Entries) > 0 {
		shift = max(trak.Edts.Elst[0].Entries[0].MediaTime, 0) // -1: an empty edit
	}
	moof, err := firstMoof(seg)
	if err != nil {
		return 0, err
	}
	if moof.Traf == nil || moof.Traf.Tfdt == nil {
		return 0, errors.New("media segment: no traf with a tfdt")
	}
	t := int64(moof.Traf.Tfdt.BaseMediaDecodeTime())
	if trun := moof.Traf.Trun; trun != nil && trun.HasSampleCompositionTimeOffset() && len(trun.Samples) > 0 {
		t += int64(trun.Samples[0].CompositionTimeOffset)
	}
	return (t - shift) * 90000 / timescale, nil
}

// firstMoof decodes the top-level boxes of seg up to its first moof (a
// styp may come first).
func firstMoof(seg []byte) (*mp4.MoofBox, error) {
	r := bytes.NewReader(seg)
	for pos := uint64(0); r.Len() > 0; {
		box, err := mp4.DecodeBox(pos, r)
		if err != nil {
			return nil, fmt.Errorf("media segment: no moof in the first %d bytes: %w", len(seg), err)
		}
		if m, ok := box.(*mp4.MoofBox); ok {
			return m, nil
		}
		pos += box.Size()
	}
	return nil, fmt.Errorf("media segment: no moof in the first %d bytes", len(seg))
}

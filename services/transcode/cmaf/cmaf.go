// Package cmaf cuts the fragmented MP4 that ffmpeg writes for one track
// (a rung's video of one chunk or of the whole video, or one audio
// rendition) into a CMAF track: an init segment (init.mp4) and one media
// segment (moof + mdat, no styp) per fragment, placed on the video's
// global timeline.
//
// # Why not ffmpeg's HLS muxer
//
// ffmpeg 5.1's hls muxer in fmp4 mode rebases every output to decode time
// 0 (a chunk starting at 4 s restarts at tfdt 0, with an edit list of its
// own in its init) and writes #EXTINF:0 for such a chunk. So ffmpeg writes
// plain fragmented MP4 (-movflags +frag_keyframe+empty_moov+default_base_moof,
// a keyframe forced every GOP: one fragment per segment) and this package
// sets the timestamps itself, from frame indexes: nothing depends on how
// ffmpeg shifted them.
//
// # Timeline
//
// Each fragment becomes a segment whose baseMediaDecodeTime (tfdt) is
// [Splitter.Start] plus the durations of the segments before it; sample
// durations and composition offsets are kept as ffmpeg wrote them (with
// FrameTicks set, every sample lasts exactly that long: a constant frame
// rate). mfhd sequence numbers are the segments' global numbers plus one.
//
// Presentation: the init segment gets one edit list entry (media_time D,
// segment_duration 0: the whole fragmented track) and nothing else of
// ffmpeg's edit lists. For video, D is the composition offset of each
// segment's first sample (a keyframe, the earliest presented sample of
// its closed GOP: the encoder's B-frame delay, the same in every
// fragment of every chunk encoded with the same settings; a fragment with
// another offset is an error), so that each segment is presented from
// its tfdt and the video from 0. For audio, D is [AACPriming]: source
// sample 0 is presented at 0, in sync with the first frame (the priming
// packet before it, as in ffmpeg's own MP4s). So a segment's tfdt is its
// presentation time, a segment starts where the previous one ends, and
// two chunks encoded with the same settings have byte-identical init
// segments. (Negative composition offsets (trun version 1) without an
// edit list would express the same, but ffmpeg's mov demuxer then shifts
// every presentation time by the largest negative offset.)
package cmaf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/vidpipe/vidpipe/services/transcode/hls"
)

// File names of a track inside its directory (hls/<rung>/ or
// hls/audio/<group>/).
const (
	// InitName is the init segment (ftyp + moov).
	InitName = "init.mp4"
	// SegmentPattern names media segment n (global numbering, from 0).
	SegmentPattern = "seg_%05d.m4s"
)

// AACPriming is the number of priming samples ffmpeg's native AAC encoder
// puts before the first source sample (its initial_padding): the audio
// init's edit list skips them.
const AACPriming = 1024

// Kind is a track's media type.
type Kind int

const (
	// Video: fragments must start with a sync sample.
	Video Kind = iota
	// Audio: the init gets the priming edit list.
	Audio
)

// VideoTimescale is the video track timescale for an output frame rate
// num/den: a multiple of num of at least 90000, so that a frame lasts a
// whole number of ticks (frameTicks = den * (timescale / num)).
func VideoTimescale(num, den int64) (timescale, frameTicks uint32, err error) {
	if num <= 0 || den <= 0 {
		return 0, 0, fmt.Errorf("cmaf: frame rate %d/%d", num, den)
	}
	m := (90000 + num - 1) / num
	ts, ft := num*m, den*m
	if ts > 1<<31 || ft > 1<<31 {
		return 0, 0, fmt.Errorf("cmaf: frame rate %d/%d: timescale out of range", num, den)
	}
	return uint32(ts), uint32(ft), nil
}

// Segment is one media segment cut from a fragment.
type Segment struct {
	// Data is the segment file: moof + mdat.
	Data []byte
	// Start is its baseMediaDecodeTime, which is also the presentation
	// time of its earliest sample, and Duration the sum of its sample
	// durations, in the track's timescale.
	Start, Duration uint64
	// Samples is its number of samples.
	Samples int
}

// Splitter cuts a fragmented MP4 into an init and segments as its bytes
// arrive (a file ffmpeg is still writing may be fed as it grows): only
// complete boxes are used, anything after them is kept for the next call.
// Top-level boxes other than ftyp, moov, moof and mdat (mfra, free, sidx)
// are skipped.
type Splitter struct {
	// Kind of the track.
	Kind Kind
	// Start is the decode (and presentation) time of the first segment,
	// in the track's timescale. Default: 0.
	Start uint64
	// Sequence is the global number of the first segment (its file is
	// seg_%05d of it); each segment's mfhd sequence number is its global
	// number plus one. Default: 0.
	Sequence uint32
	// FrameTicks, if > 0, is every sample's duration: the durations ffmpeg
	// wrote are replaced (video at a constant frame rate).
	FrameTicks uint32

	buf       []byte
	head      []byte // ftyp (+ moov) bytes seen so far
	init      *mp4.InitSegment
	initBytes []byte // set once the first fragment gives the delay
	delay     int64  // D (see the package doc); -1 until known
	timescale uint32
	trex      *mp4.TrexBox
	moof      []byte // a moof waiting for its mdat
	next      uint64 // decode time of the next segment
	n         int    // segments cut
}

// Init is the normalized init segment ([NormalizeInit]), nil until the
// first segment has been cut.
func (s *Splitter) Init() []byte { return s.initBytes }

// Timescale is the track's media timescale (0 until the moov has arrived).
func (s *Splitter) Timescale() uint32 { return s.timescale }

// Write appends bytes of the file.
func (s *Splitter) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	return len(p), nil
}

// Segments returns the segments completed by the bytes written since the
// last call, in order.
func (s *Splitter) Segments() ([]Segment, error) {
	var out []Segment
	off := 0
	defer func() { s.buf = append(s.buf[:0], s.buf[off:]...) }()
	for {
		size, typ, hdr, ok, err := boxHeader(s.buf[off:])
		if err != nil {
			return out, err
		}
		if !ok || uint64(len(s.buf)-off) < size {
			return out, nil
		}
		box := s.buf[off : off+int(size)]
		_ = hdr
		switch typ {
		case "ftyp":
			s.head = append([]byte(nil), box...)
		case "moov":
			if s.init != nil {
				return out, errors.New("cmaf: a second moov")
			}
			if err := s.readInit(append(append([]byte(nil), s.head...), box...)); err != nil {
				return out, err
			}
		case "moof":
			if s.init == nil {
				return out, errors.New("cmaf: moof before moov")
			}
			if s.moof != nil {
				return out, errors.New("cmaf: moof without mdat")
			}
			s.moof = append([]byte(nil), box...)
		case "mdat":
			if s.moof == nil {
				return out, errors.New("cmaf: mdat without moof")
			}
			seg, err := s.cut(s.moof, box)
			if err != nil {
				return out, fmt.Errorf("cmaf: segment %d: %w", s.n, err)
			}
			s.moof = nil
			out = append(out, seg)
		}
		off += int(size)
	}
}

// Close reports an error if the file ended inside a box or a moof had no
// mdat, or no init arrived.
func (s *Splitter) Close() error {
	switch {
	case s.init == nil:
		return errors.New("cmaf: no init segment (ftyp + moov)")
	case s.moof != nil:
		return errors.New("cmaf: the file ends after a moof")
	case len(s.buf) > 0:
		return fmt.Errorf("cmaf: the file ends inside a box (%d bytes left)", len(s.buf))
	}
	return nil
}

// boxHeader reads a top-level box header: ok is false when it is not all
// there yet.
func boxHeader(b []byte) (size uint64, typ string, hdr int, ok bool, err error) {
	if len(b) < 8 {
		return 0, "", 0, false, nil
	}
	size, typ, hdr = uint64(binary.BigEndian.Uint32(b)), string(b[4:8]), 8
	switch size {
	case 0:
		return 0, typ, hdr, false, nil // to the end of the file: not known yet
	case 1:
		if len(b) < 16 {
			return 0, typ, hdr, false, nil
		}
		size, hdr = binary.BigEndian.Uint64(b[8:]), 16
	}
	if size < uint64(hdr) || size > 1<<32 {
		return 0, typ, hdr, false, fmt.Errorf("cmaf: box %q of size %d", typ, size)
	}
	return size, typ, hdr, true, nil
}

func (s *Splitter) readInit(b []byte) error {
	f, err := mp4.DecodeFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("cmaf: decode init: %w", err)
	}
	if f.Init == nil || f.Init.Moov == nil || len(f.Init.Moov.Traks) != 1 {
		return errors.New("cmaf: init: want one track")
	}
	s.init, s.delay = f.Init, -1
	s.timescale = f.Init.Moov.Trak.Mdia.Mdhd.Timescale
	if mv := f.Init.Moov.Mvex; mv != nil {
		s.trex = mv.Trex
	}
	if s.trex == nil {
		return errors.New("cmaf: init: no trex (not a fragmented MP4)")
	}
	s.next = s.Start
	return nil
}

// NormalizeInit rewrites a one-track init segment in place and returns its
// bytes: edit lists removed, then, if delay > 0, one edit list entry that
// starts presentation delay ticks into the media (segment_duration 0: the
// whole fragmented track).
func NormalizeInit(init *mp4.InitSegment, delay int64) ([]byte, error) {
	trak := init.Moov.Trak
	if trak == nil || trak.Mdia == nil || trak.Mdia.Mdhd == nil {
		return nil, errors.New("cmaf: init: no track")
	}
	kids := trak.Children[:0]
	for _, c := range trak.Children {
		if c.Type() != "edts" {
			kids = append(kids, c)
		}
	}
	trak.Children, trak.Edts = kids, nil
	if delay > 0 {
		edts := &mp4.EdtsBox{}
		edts.AddChild(&mp4.ElstBox{Entries: []mp4.ElstEntry{{SegmentDuration: 0, MediaTime: delay, MediaRateInteger: 1}}})
		kids := make([]mp4.Box, 0, len(trak.Children)+1)
		for _, c := range trak.Children {
			kids = append(kids, c)
			if c.Type() == "tkhd" {
				kids = append(kids, edts)
			}
		}
		trak.Children, trak.Edts = kids, edts
	}
	var b bytes.Buffer
	if err := init.Encode(&b); err != nil {
		return nil, fmt.Errorf("cmaf: encode init: %w", err)
	}
	return b.Bytes(), nil
}

// cut rewrites one fragment onto the timeline.
func (s *Splitter) cut(moofBytes, mdat []byte) (Segment, error) {
	box, err := mp4.DecodeBox(0, bytes.NewReader(moofBytes))
	if err != nil {
		return Segment{}, fmt.Errorf("decode moof: %w", err)
	}
	moof, ok := box.(*mp4.MoofBox)
	if !ok || len(moof.Trafs) != 1 || moof.Traf.Tfhd == nil || moof.Traf.Tfdt == nil || len(moof.Traf.Truns) != 1 {
		return Segment{}, errors.New("want a moof with one traf, tfhd, tfdt and trun")
	}
	traf := moof.Traf
	trun := traf.Trun
	if !traf.Tfhd.DefaultBaseIfMoof() || !trun.HasDataOffset() {
		return Segment{}, errors.New("want default-base-is-moof and a trun data offset")
	}
	n := int(trun.SampleCount())
	if n == 0 {
		return Segment{}, errors.New("no samples")
	}
	if s.Kind == Video {
		flags, ok := trun.FirstSampleFlags()
		switch {
		case ok:
		case trun.HasSampleFlags():
			flags = trun.Samples[0].Flags
		case traf.Tfhd.HasDefaultSampleFlags():
			flags = traf.Tfhd.DefaultSampleFlags
		default:
			flags = s.trex.DefaultSampleFlags
		}
		if mp4.DecodeSampleFlags(flags).SampleIsNonSync {
			return Segment{}, errors.New("does not start with a keyframe")
		}
	}
	trun.AddSampleDefaultValues(traf.Tfhd, s.trex) // explicit durations and sizes to compute with
	if s.FrameTicks > 0 {
		for i := range trun.Samples {
			trun.Samples[i].Dur = s.FrameTicks
		}
		if !trun.HasSampleDuration() {
			if !traf.Tfhd.HasDefaultSampleDuration() {
				return Segment{}, errors.New("no sample durations to set")
			}
			traf.Tfhd.DefaultSampleDuration = s.FrameTicks
		}
	}
	var dur uint64
	minPTS := int64(0)
	for i, smp := range trun.Samples {
		pts := int64(dur) + int64(smp.CompositionTimeOffset)
		if i == 0 || pts < minPTS {
			minPTS = pts
		}
		dur += uint64(smp.Dur)
	}
	if dur == 0 {
		return Segment{}, errors.New("zero duration")
	}
	if !trun.HasSampleCompositionTimeOffset() {
		minPTS = 0
	}
	first := int64(0)
	if len(trun.Samples) > 0 && trun.HasSampleCompositionTimeOffset() {
		first = int64(trun.Samples[0].CompositionTimeOffset)
	}
	delay := int64(AACPriming)
	if s.Kind == Video {
		if first != minPTS {
			return Segment{}, errors.New("its first sample is not its first presented (an open GOP)")
		}
		delay = minPTS
	} else if minPTS != 0 {
		return Segment{}, errors.New("audio with composition offsets")
	}
	switch {
	case s.delay < 0:
		b, err := NormalizeInit(s.init, delay)
		if err != nil {
			return Segment{}, err
		}
		s.delay, s.initBytes = delay, b
	case delay != s.delay:
		return Segment{}, fmt.Errorf("presentation delay %d, the first segment's was %d", delay, s.delay)
	}
	oldSize := moof.Size()
	traf.Tfdt.SetBaseMediaDecodeTime(s.next)
	traf.Tfdt.Version = 1 // 64 bits always: the same moof size at any time
	moof.Mfhd.SequenceNumber = s.Sequence + uint32(s.n) + 1
	trun.DataOffset += int32(moof.Size()) - int32(oldSize)
	var b bytes.Buffer
	b.Grow(int(moof.Size()) + len(mdat))
	if err := moof.Encode(&b); err != nil {
		return Segment{}, fmt.Errorf("encode moof: %w", err)
	}
	b.Write(mdat)
	seg := Segment{Data: b.Bytes(), Start: s.next, Duration: dur, Samples: n}
	s.next += dur
	s.n++
	return seg, nil
}

// Codec is the RFC 6381 codecs string of an init segment's track, as the
// HLS master playlist's CODECS and the MPD's codecs attribute name it:
// for video hls.StsdVideoCodec ("avc1.PPCCLL" from the avcC, "hvc1.…"
// from the hvcC, "av01.…" from the av1C), "mp4a.40.N" from the
// AudioSpecificConfig's object type for AAC. Other sample entries are an
// error.
func Codec(init []byte) (string, error) {
	f, err := mp4.DecodeFile(bytes.NewReader(init))
	if err != nil {
		return "", fmt.Errorf("cmaf: decode init: %w", err)
	}
	if f.Init == nil || f.Init.Moov == nil || f.Init.Moov.Trak == nil {
		return "", errors.New("cmaf: init: no track")
	}
	stsd := f.Init.Moov.Trak.Mdia.Minf.Stbl.Stsd
	if s, ok := hls.StsdVideoCodec(stsd); ok { // avc1/avc3, hvc1/hev1, av01
		return s, nil
	}
	switch {
	case stsd.Mp4a != nil && stsd.Mp4a.Esds != nil:
		dc := stsd.Mp4a.Esds.DecConfigDescriptor
		var asc []byte
		if dc.DecSpecificInfo != nil {
			asc = dc.DecSpecificInfo.DecConfig
		}
		if dc.ObjectType != 0x40 || len(asc) == 0 {
			return "", fmt.Errorf("cmaf: mp4a object type %#x: not AAC", dc.ObjectType)
		}
		return fmt.Sprintf("mp4a.40.%d", asc[0]>>3), nil
	}
	return "", errors.New("cmaf: init: no avc1/avc3, hvc1/hev1, av01 or mp4a sample entry")
}

// CountFragments counts the complete moof boxes of a fragmented MP4 file
// that may still be growing, reading box headers only.
func CountFragments(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	n := 0
	var hdr [16]byte
	for off := int64(0); off+8 <= fi.Size(); {
		if _, err := f.ReadAt(hdr[:], off); err != nil && !errors.Is(err, io.EOF) {
			return n, err
		}
		size, typ, _, ok, err := boxHeader(hdr[:])
		if err != nil || !ok || off+int64(size) > fi.Size() {
			return n, err
		}
		if typ == "moof" {
			n++
		}
		off += int64(size)
	}
	return n, nil
}

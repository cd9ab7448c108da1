// Package dash writes the DASH MPD of a video's CMAF package: the same
// init and media segments the HLS media playlists list, so the package is
// stored once and served both ways.
//
// The MPD is static (video on demand) with the ISO BMFF main profile
// (urn:mpeg:dash:profile:isoff-main:2011, which allows SegmentList) and
// one Period from 0: one video AdaptationSet (segmentAlignment, every
// segment starting with a keyframe: startWithSAP 1) whose Representations
// are the rungs, and one audio AdaptationSet per audio rendition. Each
// Representation addresses its segments with a SegmentList: the track's
// timescale, a SegmentTimeline of the segments' exact start times and
// durations (repeats folded into r), Initialization sourceURL
// "<dir>/init.mp4" and one SegmentURL media "<dir>/seg_00000.m4s" per
// segment, all paths relative to the MPD, which the API rewrites into
// presigned storage URLs as it does the HLS playlists' lines.
//
// It is built and marshalled with github.com/Eyevinn/dash-mpd.
package dash

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	m "github.com/Eyevinn/dash-mpd/mpd"
)

// Profile is the MPD's profile.
const Profile = "urn:mpeg:dash:profile:isoff-main:2011"

// MinBufferSeconds is the MPD's minBufferTime: one segment's worth at the
// default GOP.
const MinBufferSeconds = 2

// Segment is one media segment of a track.
type Segment struct {
	// URI is the file name inside the track's directory.
	URI string
	// Start and Duration in the track's timescale (Start is the
	// presentation time of its first sample: package cmaf).
	Start, Duration uint64
}

// Track is one Representation.
type Track struct {
	// ID is the Representation id (a rung name, or "audio-128k").
	ID string
	// Dir is the track's directory relative to the MPD ("360p", "audio/128k").
	Dir string
	// Bandwidth in bits per second (the peak segment bitrate).
	Bandwidth int64
	// Codecs is the RFC 6381 string ("avc1.64001f", "mp4a.40.2").
	Codecs string
	// Video: Width, Height and FrameRate ("30000/1001").
	Width, Height int
	FrameRate     string
	// Audio: SampleRate (Hz) and Channels.
	SampleRate, Channels int
	// Timescale of the segments' times.
	Timescale uint32
	// InitURI is the init segment's file name inside Dir ("init.mp4").
	InitURI  string
	Segments []Segment
}

// Presentation is what the MPD describes.
type Presentation struct {
	// Seconds is the mediaPresentationDuration.
	Seconds float64
	// Video are the rungs (an AdaptationSet per codec, in the order of
	// their first rung: H.264 first), Audio the audio renditions (an
	// AdaptationSet each).
	Video, Audio []Track
}

// MPD returns the MPD document (XML with its header).
func MPD(p Presentation) ([]byte, error) {
	if len(p.Video) == 0 && len(p.Audio) == 0 {
		return nil, errors.New("dash: no tracks")
	}
	if !(p.Seconds > 0) {
		return nil, fmt.Errorf("dash: duration %v", p.Seconds)
	}
	doc := m.NewMPD(m.STATIC_TYPE)
	doc.Profiles = Profile
	doc.MediaPresentationDuration = m.Seconds2DurPtrFloat64(p.Seconds)
	doc.MinBufferTime = m.Seconds2DurPtr(MinBufferSeconds)
	period := m.NewPeriod()
	period.Id = "0"
	period.Start = m.Seconds2DurPtr(0)
	doc.AppendPeriod(period)
	id := uint32(0)
	// One video AdaptationSet per codec (the codecs string's sample entry:
	// avc1, hvc1, av01), in the order of p.Video: a player switches
	// between the Representations of one set, which must share a codec.
	var families []string
	sets := map[string]*m.AdaptationSetType{}
	for _, t := range p.Video {
		fam, _, _ := strings.Cut(t.Codecs, ".")
		as, ok := sets[fam]
		if !ok {
			as = m.NewAdaptationSetWithParams("video", "video/mp4", true, 1)
			as.Id = m.Ptr(id)
			id++
			sets[fam] = as
			families = append(families, fam)
		}
		r, err := representation(t)
		if err != nil {
			return nil, err
		}
		r.Width, r.Height, r.FrameRate = uint32(t.Width), uint32(t.Height), m.FrameRateType(t.FrameRate)
		as.AppendRepresentation(r)
	}
	for _, fam := range families {
		period.AppendAdaptationSet(sets[fam])
	}
	for _, t := range p.Audio {
		as := m.NewAdaptationSetWithParams("audio", "audio/mp4", true, 1)
		as.Id = m.Ptr(id)
		id++
		r, err := representation(t)
		if err != nil {
			return nil, err
		}
		r.AudioSamplingRate = m.Ptr(m.UIntVectorType(strconv.Itoa(t.SampleRate)))
		r.AudioChannelConfigurations = []*m.DescriptorType{{
			SchemeIdUri: "urn:mpeg:dash:23003:3:audio_channel_configuration:2011", Value: strconv.Itoa(t.Channels)}}
		as.AppendRepresentation(r)
		period.AppendAdaptationSet(as)
	}
	s, err := doc.WriteToString("  ", true)
	if err != nil {
		return nil, fmt.Errorf("dash: write MPD: %w", err)
	}
	return []byte(schemaOrder(s)), nil
}

// segmentList, and its children as dash-mpd writes them.
var (
	segmentList    = regexp.MustCompile(`(?s)(<SegmentList[^>]*>)(.*?)(\s*</SegmentList>)`)
	segmentURL     = regexp.MustCompile(`\s*<SegmentURL [^>]*></SegmentURL>`)
	segTimeline    = regexp.MustCompile(`(?s)\s*<SegmentTimeline>.*?</SegmentTimeline>`)
	initialization = regexp.MustCompile(`\s*<Initialization [^>]*></Initialization>`)
)

// schemaOrder puts each SegmentList's children in the order of the MPD
// schema (ISO/IEC 23009-1 SegmentListType: Initialization, then
// SegmentTimeline, then the SegmentURLs); dash-mpd writes them in its
// struct's order (SegmentURLs first), which parsers accept but the schema
// does not.
func schemaOrder(doc string) string {
	return segmentList.ReplaceAllStringFunc(doc, func(block string) string {
		m := segmentList.FindStringSubmatch(block)
		inner := m[2]
		return m[1] + strings.Join(initialization.FindAllString(inner, -1), "") +
			strings.Join(segTimeline.FindAllString(inner, -1), "") +
			strings.Join(segmentURL.FindAllString(inner, -1), "") + m[3]
	})
}

// representation is a track's Representation with its SegmentList.
func representation(t Track) (*m.RepresentationType, error) {
	switch {
	case t.ID == "" || t.Codecs == "" || t.Timescale == 0 || t.InitURI == "":
		return nil, fmt.Errorf("dash: track %q: id, codecs, timescale and init are required", t.ID)
	case len(t.Segments) == 0:
		return nil, fmt.Errorf("dash: track %s: no segments", t.ID)
	case t.Bandwidth <= 0 || t.Bandwidth > 1<<32-1:
		return nil, fmt.Errorf("dash: track %s: bandwidth %d", t.ID, t.Bandwidth)
	}
	r := &m.RepresentationType{Id: t.ID, Bandwidth: uint32(t.Bandwidth)}
	r.Codecs = t.Codecs
	sl := &m.SegmentListType{}
	sl.SetTimescale(t.Timescale)
	sl.Initialization = &m.URLType{SourceURL: m.AnyURI(path.Join(t.Dir, t.InitURI))}
	tl := &m.SegmentTimelineType{}
	var next uint64
	for i, s := range t.Segments {
		if s.Duration == 0 {
			return nil, fmt.Errorf("dash: track %s: segment %s lasts 0", t.ID, s.URI)
		}
		sl.SegmentURL = append(sl.SegmentURL, &m.SegmentURLType{Media: m.AnyURI(path.Join(t.Dir, s.URI))})
		if last := len(tl.S) - 1; i > 0 && s.Start == next && tl.S[last].D == s.Duration {
			tl.S[last].R++
		} else {
			tl.S = append(tl.S, &m.S{T: m.Ptr(s.Start), D: s.Duration})
		}
		next = s.Start + s.Duration
	}
	sl.SegmentTimeline = tl
	r.SegmentList = sl
	return r, nil
}

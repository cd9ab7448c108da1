package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/Eyevinn/dash-mpd/mpd"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// The DASH manifest (MPD) of a video is served like its HLS playlists, and
// for the same reason: transcode writes it next to the HLS master
// (contract.Outputs.DASHManifestKey) with segment references relative to
// it, which a player would resolve to unsigned storage URLs. The API
// serves it at /v1/videos/{id}/dash/manifest.mpd, signed with the same
// query as the HLS master (exp, sig and the generation g), and rewrites
// every segment and initialization reference (SegmentList: SegmentURL
// media and index, Initialization, RepresentationIndex) into a presigned
// storage URL. The MPD transcode writes lists every segment (SegmentList):
// a SegmentTemplate cannot carry one signature per object, so an MPD with
// one is refused rather than served unplayable. BaseURL elements are
// removed (nothing outside the video's package is ever referred to), and
// the video's caption tracks are added as WebVTT text AdaptationSets (the
// stored track, whose time 0 is the presentation's: a CMAF package starts
// at 0).

// dashContentType is the media type of an MPD (ISO/IEC 23009-1 Annex C).
const dashContentType = "application/dash+xml"

// dashPath is the API path of video id's DASH manifest.
func dashPath(id string) string { return "/v1/videos/" + id + "/dash/manifest.mpd" }

// handleDASH serves GET /v1/videos/{id}/dash/manifest.mpd: the MPD of
// output generation g (the signed query's; generation 0 without one) with
// its references rewritten (see above). Authorised like the HLS playlists
// (authorizePackage); with a bearer token the video must be ready with a
// DASH manifest. An output without an MPD (transcoded before the package
// was CMAF) answers 404.
func handleDASH(log *slog.Logger, o Options, lim *Limits, auth *Auth, objects *storage.Store, status *projection.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id := r.PathValue("id")
		if !contract.IsUUID(id) {
			writeError(w, r, log, errNotFound)
			return
		}
		gen, expires, ok := authorizePackage(w, r, log, o, auth, status, id, func(st projection.State) bool {
			return st.Ready != nil && st.Ready.DASH != nil
		})
		if !ok {
			return
		}
		tracks, err := status.Captions(ctx, id)
		if err != nil {
			writeError(w, r, log, unavailable(codeDatabaseUnavailable, "the status store is unavailable", err))
			return
		}
		out := contract.Outputs{VideoID: id, Generation: gen}
		cacheKey := playlistKey(id, "g"+strconv.Itoa(gen)+"/dash"+captionsFingerprint(tracks), expires)
		if body, ok := lim.playlists.get(cacheKey, time.Now()); ok {
			writeManifest(w, body)
			return
		}
		maxBytes := lim.opts.MaxPlaylistBytes
		raw, err := readObject(ctx, objects, out.DASHManifestKey(), maxBytes)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		if int64(len(raw)) > maxBytes {
			writeError(w, r, log, fmt.Errorf("DASH manifest of %s is larger than %d bytes", id, maxBytes))
			return
		}
		ttl := time.Until(expires)
		prefix := out.HLSPrefix()
		body, err := rewriteManifest(raw, func(key string) (string, error) {
			return objects.PresignGet(ctx, prefix+key, ttl)
		}, func(t projection.Caption) (string, error) {
			return objects.PresignGet(ctx, contract.CaptionKey(id, t.Language), ttl)
		}, tracks)
		if err != nil {
			writeError(w, r, log, fmt.Errorf("DASH manifest of %s: %w", id, err))
			return
		}
		if int64(len(body)) > maxBytes {
			writeError(w, r, log, fmt.Errorf("rewritten DASH manifest of %s is larger than %d bytes", id, maxBytes))
			return
		}
		lim.playlists.put(cacheKey, body, expires, time.Now())
		writeManifest(w, body)
	})
}

// writeManifest answers with MPD body, cacheable by the client for 30 s
// (the MPD is written once, when the video is transcoded).
func writeManifest(w http.ResponseWriter, body []byte) {
	writePlayerDoc(w, dashContentType, "private, max-age=30", body)
}

// rewriteManifest parses MPD raw, presigns each segment reference (a path
// relative to the MPD, which lives at the package's root: presign gets
// the package-relative key), removes BaseURLs and adds the caption tracks
// (captionURL gives a track's WebVTT URL). A reference that is absolute
// or leaves the package, a SegmentTemplate, or an MPD that is not static
// fails: transcode writes none of them.
func rewriteManifest(raw []byte, presign func(key string) (string, error), captionURL func(projection.Caption) (string, error), tracks []projection.Caption) ([]byte, error) {
	m, err := mpd.MPDFromBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if m.GetType() != mpd.STATIC_TYPE {
		return nil, fmt.Errorf("not a static MPD")
	}
	ref := func(s mpd.AnyURI) (mpd.AnyURI, error) {
		if s == "" {
			return "", nil
		}
		key, err := packageKey(string(s))
		if err != nil {
			return "", err
		}
		u, err := presign(key)
		return mpd.AnyURI(u), err
	}
	list := func(l *mpd.SegmentListType) error {
		if l == nil {
			return nil
		}
		if l.XlinkHref != "" {
			return fmt.Errorf("SegmentList with xlink:href")
		}
		var err error
		for _, u := range []*mpd.URLType{l.Initialization, l.RepresentationIndex} {
			if u != nil {
				if u.SourceURL, err = ref(u.SourceURL); err != nil {
					return err
				}
			}
		}
		for _, s := range l.SegmentURL {
			if s.Media, err = ref(s.Media); err != nil {
				return err
			}
			if s.Index, err = ref(s.Index); err != nil {
				return err
			}
		}
		return nil
	}
	m.BaseURL, m.Location, m.PatchLocation = nil, nil, nil
	for _, p := range m.Periods {
		if p.XlinkHref != "" || p.SegmentTemplate != nil || p.SegmentBase != nil {
			return nil, fmt.Errorf("period %q: only SegmentList is served", p.Id)
		}
		p.BaseURLs = nil
		if err := list(p.SegmentList); err != nil {
			return nil, fmt.Errorf("period %q: %w", p.Id, err)
		}
		for _, a := range p.AdaptationSets {
			if a.XlinkHref != "" || a.SegmentTemplate != nil || a.SegmentBase != nil {
				return nil, fmt.Errorf("adaptation set: only SegmentList is served")
			}
			a.BaseURLs = nil
			if err := list(a.SegmentList); err != nil {
				return nil, err
			}
			for _, rep := range a.Representations {
				if rep.SegmentTemplate != nil || rep.SegmentBase != nil {
					return nil, fmt.Errorf("representation %q: only SegmentList is served", rep.Id)
				}
				rep.BaseURLs = nil
				if err := list(rep.SegmentList); err != nil {
					return nil, fmt.Errorf("representation %q: %w", rep.Id, err)
				}
			}
		}
	}
	if len(tracks) > 0 && len(m.Periods) > 0 {
		if err := addCaptionsToManifest(m.Periods[0], tracks, captionURL); err != nil {
			return nil, err
		}
	}
	s, err := m.WriteToString("  ", true)
	if err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	return []byte(s), nil
}

// packageKey resolves reference s of the MPD (at the package's root) to a
// key relative to the package (packageRef), refusing also a query: a
// segment reference names an object.
func packageKey(s string) (string, error) {
	u, key, ok := packageRef("", s)
	if !ok || u.RawQuery != "" || key == "." {
		return "", fmt.Errorf("reference %q is not a path inside the package", s)
	}
	return key, nil
}

// addCaptionsToManifest appends one text AdaptationSet per caption track
// to period p: WebVTT (mimeType text/vtt) with the track's language, its
// label, the subtitle role and one Representation whose BaseURL is the
// track's presigned URL.
func addCaptionsToManifest(p *mpd.Period, tracks []projection.Caption, captionURL func(projection.Caption) (string, error)) error {
	next := uint32(len(p.AdaptationSets))
	for _, a := range p.AdaptationSets {
		if a.Id != nil && *a.Id >= next {
			next = *a.Id + 1
		}
	}
	for i, t := range tracks {
		u, err := captionURL(t)
		if err != nil {
			return fmt.Errorf("caption track %s: %w", t.Language, err)
		}
		id := next + uint32(i)
		a := &mpd.AdaptationSetType{Id: &id, Lang: t.Language, ContentType: "text"}
		a.MimeType = mpd.MIME_TYPE_SUBTITLE_VTT
		a.Labels = []*mpd.LabelType{{Value: t.Label}}
		a.Roles = []*mpd.DescriptorType{mpd.NewRole("subtitle")}
		bw := uint32(256)
		if d := t.End.Seconds(); d > 0 && t.Bytes > 0 {
			bw = max(bw, uint32(float64(t.Bytes)*8/d))
		}
		a.Representations = []*mpd.RepresentationType{{Id: "captions-" + t.Language, Bandwidth: bw,
			BaseURLs: []*mpd.BaseURLType{mpd.NewBaseURL(u)}}}
		p.AdaptationSets = append(p.AdaptationSets, a)
	}
	return nil
}

package server

import (
	"context"
	"fmt"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/storage"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// videoView is a video as the API shows it (GET /v1/videos/{id}, search
// results, event streams).
type videoView struct {
	ID          string     `json:"id"`
	Status      string     `json:"status"`
	Title       string     `json:"title,omitempty"`
	Description string     `json:"description,omitempty"`
	Tags        []string   `json:"tags,omitempty"`
	Filename    string     `json:"filename,omitempty"`
	Size        int64      `json:"size,omitempty"`
	ContentType string     `json:"content_type,omitempty"`
	UploadedAt  *time.Time `json:"uploaded_at,omitempty"`
	UpdatedAt   *time.Time `json:"updated_at,omitempty"`
	ReadyAt     *time.Time `json:"ready_at,omitempty"`
	// Failure is set when Status is "failed".
	Failure *failureView `json:"failure,omitempty"`
	// Generation is the output generation served (0, omitted, until a
	// reprocess's generation replaced the upload's own).
	Generation int `json:"generation,omitempty"`
	// Reprocessing is set while a newer generation is being made (or
	// failed): the document above stays the served generation's.
	Reprocessing *reprocessingView `json:"reprocessing,omitempty"`
	// Progress is set while the video is being transcoded (status
	// uploaded or playable) once the first chunk finished.
	Progress *progressView `json:"progress,omitempty"`
	// HLS is set once the video is playable (video.playable: status
	// playable, or any later one) and has not failed since; the playlists
	// grow until the video is transcoded. Its URL is valid until
	// URLsExpireAt.
	HLS *hlsView `json:"hls,omitempty"`
	// DASH is set with the rest below (ready) when the output has an MPD
	// (outputs transcoded since the package is CMAF): the same segments
	// as the HLS playlists. Its URL is valid until URLsExpireAt.
	DASH *dashView `json:"dash,omitempty"`
	// The rest is set once the video reached video.ready (status ready,
	// or a later stage's status) and has not failed since. URLs are
	// presigned and valid until URLsExpireAt. Media.Kind is always set
	// ("video", or "audio" for an audio asset, whose only rendition is
	// its M4A download, named "audio", without dimensions, also linked
	// as links.download, and whose poster is its waveform).
	Media        *contract.Media   `json:"media,omitempty"`
	Renditions   []renditionView   `json:"renditions,omitempty"`
	Thumbnails   *thumbnailsView   `json:"thumbnails,omitempty"`
	URLsExpireAt *time.Time        `json:"urls_expire_at,omitempty"`
	Links        map[string]string `json:"links"`
	// CaptionHits, in search results only, are the video's caption cues
	// that match the query (captionsevent.go).
	CaptionHits []captionHitView `json:"caption_hits,omitempty"`
}

// failureView says why a video failed, in words safe for its user: a
// stable code (contract.ErrorCodes) and a fixed message per code. The raw
// error (dlq.error) is never shown: it stays in the dead letter for
// operators.
type failureView struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Stage   string `json:"stage"`
	// Reason is Message, kept for clients written before Code and Message
	// existed (it used to carry the raw error).
	Reason   string `json:"reason"`
	Class    string `json:"class,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
}

// failureMessages is the message shown for each error code.
var failureMessages = map[string]string{
	contract.ErrorCodeInvalidEvent:      "The upload could not be processed: its data was invalid.",
	contract.ErrorCodeUnsupportedFormat: "The file is not in a video or audio format that is supported.",
	contract.ErrorCodeDurationMismatch:  "The video's declared length does not match its content: the file may be truncated or damaged.",
	contract.ErrorCodeTooLarge:          "The video exceeds a size, resolution or length limit.",
	contract.ErrorCodeCorruptMedia:      "The video could not be decoded: the file may be damaged.",
	contract.ErrorCodeSourceMissing:     "The uploaded file is no longer available: please upload it again.",
	contract.ErrorCodeCrashLoop:         "Processing this video failed repeatedly.",
	contract.ErrorCodeInternal:          "Processing failed because of an internal error. Please try again later.",
}

// failure renders the failure of a failed state.
func failure(st projection.State) *failureView {
	return failureOf(st.ErrorCode, st.FailedStage, st.ErrorClass, st.Attempts)
}

func failureOf(errorCode string, stage contract.Stage, class string, attempts int) *failureView {
	code := contract.KnownErrorCode(errorCode)
	msg := failureMessages[code]
	return &failureView{Code: code, Message: msg, Stage: string(stage), Reason: msg, Class: class, Attempts: attempts}
}

// reprocessingView is a newer output generation being made: its
// generation, where it is (a status name, or "failed"), its failure and
// its transcode progress.
type reprocessingView struct {
	Generation int           `json:"generation"`
	State      string        `json:"state"`
	Failure    *failureView  `json:"failure,omitempty"`
	Progress   *progressView `json:"progress,omitempty"`
}

func reprocessing(r *projection.Reprocessing) *reprocessingView {
	if r == nil {
		return nil
	}
	out := &reprocessingView{Generation: r.Generation, State: string(r.Status)}
	if r.Status == projection.StatusFailed {
		out.Failure = failureOf(r.ErrorCode, r.FailedStage, r.ErrorClass, r.Attempts)
	} else if p := r.Progress; p != nil {
		out.Progress = &progressView{SegmentsDone: p.SegmentsDone, SegmentsTotal: p.SegmentsTotal,
			ChunksDone: p.ChunksDone, ChunksTotal: p.ChunksTotal}
	}
	return out
}

// progressView is how far the transcode of a video is: media segments
// (per rendition) and video chunks finished, out of the totals. A chunk
// counts once however often its completion is delivered.
type progressView struct {
	SegmentsDone  int `json:"segments_done"`
	SegmentsTotal int `json:"segments_total"`
	ChunksDone    int `json:"chunks_done"`
	ChunksTotal   int `json:"chunks_total"`
}

type renditionView struct {
	Name    string `json:"name"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Bitrate int64  `json:"bitrate"`
	Size    int64  `json:"size"`
	URL     string `json:"url"`
	// Codec is the rendition's video codec as transcode recorded it
	// ("h264", "hevc", "av1"); absent means H.264 (or an audio asset's M4A).
	Codec string `json:"codec,omitempty"`
}

type hlsView struct {
	// MasterURL is a signed API URL of the master playlist; the playlists
	// it leads to carry the same signature and their segments are
	// presigned storage URLs, so any HLS player can play it without a token.
	MasterURL string `json:"master_url"`
}

type dashView struct {
	// ManifestURL is a signed API URL of the MPD (signed like
	// hls.master_url); its segment references are presigned storage URLs.
	ManifestURL string `json:"manifest_url"`
}

type imageView struct {
	URL    string `json:"url"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

type thumbnailsView struct {
	Poster imageView  `json:"poster"`
	Small  imageView  `json:"small"`
	Sprite *imageView `json:"sprite,omitempty"`
	// SpriteVTT is a signed API URL of the sprite WebVTT whose cues name
	// presigned URLs of the sprite image (see sprite.go).
	SpriteVTT string `json:"sprite_vtt_url,omitempty"`
}

// viewer builds videoViews, presigning URLs for ready videos.
type viewer struct {
	objects *storage.Store
	opts    Options
}

func (v viewer) links(id string) map[string]string {
	return map[string]string{
		"self":   v.opts.link("/v1/videos/" + id),
		"events": v.opts.link("/v1/videos/" + id + "/events"),
	}
}

// state renders a projected state.
func (v viewer) state(ctx context.Context, st projection.State) (videoView, error) {
	out := videoView{ID: st.VideoID, Status: string(st.Status), Links: v.links(st.VideoID),
		Generation: st.Generation, Reprocessing: reprocessing(st.Reprocessing)}
	if !st.UpdatedAt.IsZero() {
		t := st.UpdatedAt.UTC()
		out.UpdatedAt = &t
	}
	if st.Uploaded != nil {
		v.video(&out, st.Uploaded.Video)
	}
	if st.Status == projection.StatusFailed {
		out.Failure = failure(st)
	}
	if st.Status == projection.StatusFailed {
		return out, nil
	}
	if p := st.Progress; p != nil {
		out.Progress = &progressView{SegmentsDone: p.SegmentsDone, SegmentsTotal: p.SegmentsTotal,
			ChunksDone: p.ChunksDone, ChunksTotal: p.ChunksTotal}
	}
	switch {
	case st.Ready != nil:
		if err := v.ready(ctx, &out, *st.Ready); err != nil {
			return out, err
		}
	case st.HLSMasterKey != "":
		// Playable: the HLS package is there (and growing), nothing else yet.
		expires := v.expiry()
		v.hls(&out, st.VideoID, st.Generation, expires)
		out.URLsExpireAt = &expires
	}
	return out, nil
}

// expiry is when the URLs of a view made now expire (api presign expiry,
// whole seconds).
func (v viewer) expiry() time.Time {
	return time.Now().Add(v.opts.PresignExpiry).UTC().Truncate(time.Second)
}

// hls sets out's hls.master_url (and links.hls): a signed API URL of the
// master playlist of output generation gen valid until expires.
func (v viewer) hls(out *videoView, id string, gen int, expires time.Time) {
	out.HLS = &hlsView{MasterURL: v.opts.link(hlsPath(id, "master.m3u8") + "?" + signHLSGeneration(v.opts.SigningKey, id, gen, expires))}
	out.Links["hls"] = out.HLS.MasterURL
}

// document renders a catalog document: a video.ready document, so its
// status is that step's (ready).
func (v viewer) document(ctx context.Context, doc contract.VideoReady) (videoView, error) {
	out := videoView{ID: doc.VideoID, Status: string(projection.StatusReady), Links: v.links(doc.VideoID), Generation: doc.Generation}
	v.video(&out, doc.Video)
	err := v.ready(ctx, &out, doc)
	return out, err
}

func (v viewer) video(out *videoView, vid contract.Video) {
	out.Title, out.Description, out.Tags = vid.Title, vid.Description, vid.Tags
	out.Filename, out.Size, out.ContentType = vid.Source.Filename, vid.Source.Size, vid.Source.ContentType
	if !vid.UploadedAt.IsZero() {
		t := vid.UploadedAt.UTC()
		out.UploadedAt = &t
	}
}

func (v viewer) ready(ctx context.Context, out *videoView, doc contract.VideoReady) error {
	exp := v.opts.PresignExpiry
	expires := v.expiry()
	presign := func(key string) (string, error) {
		// Only the video's own objects, whatever the document says: a
		// document that names another video's object signs nothing.
		if !contract.VideoOwnsKey(doc.VideoID, key) {
			return "", fmt.Errorf("view %s: refusing to presign %q: not an object of this video", doc.VideoID, key)
		}
		u, err := v.objects.PresignGet(ctx, key, exp)
		if err != nil {
			return "", fmt.Errorf("view %s: %w", doc.VideoID, err)
		}
		return u, nil
	}
	m := doc.Media
	if m.Kind == "" {
		m.Kind = contract.MediaKindVideo // omitted in events means a video
	}
	out.Media = &m
	for _, r := range doc.Renditions {
		u, err := presign(r.Key)
		if err != nil {
			return err
		}
		out.Renditions = append(out.Renditions, renditionView{Name: r.Name, Width: r.Width, Height: r.Height,
			Bitrate: r.Bitrate, Size: r.Size, URL: u, Codec: r.Codec})
		if m.IsAudio() && r.Name == contract.AudioRenditionName {
			out.Links["download"] = u // the M4A
		}
	}
	if doc.HLS.MasterKey != "" {
		v.hls(out, doc.VideoID, doc.Generation, expires)
	}
	if doc.DASH != nil && doc.DASH.ManifestKey != "" {
		out.DASH = &dashView{ManifestURL: v.opts.link(dashPath(doc.VideoID) + "?" + signHLSGeneration(v.opts.SigningKey, doc.VideoID, doc.Generation, expires))}
		out.Links["dash"] = out.DASH.ManifestURL
	}
	img := func(im contract.Image) (imageView, error) {
		u, err := presign(im.Key)
		return imageView{URL: u, Width: im.Width, Height: im.Height}, err
	}
	var th thumbnailsView
	var err error
	if th.Poster, err = img(doc.Thumbnails.Poster); err != nil {
		return err
	}
	if th.Small, err = img(doc.Thumbnails.Small); err != nil {
		return err
	}
	if doc.Thumbnails.Sprite != nil {
		s, err := img(*doc.Thumbnails.Sprite)
		if err != nil {
			return err
		}
		th.Sprite = &s
	}
	if k := doc.Thumbnails.SpriteVTTKey; k != "" {
		// Served by the API (sprite.go), which rewrites the cues' image
		// references: a presigned URL of the VTT would leave them
		// relative, resolving to unsigned storage URLs.
		if !contract.VideoOwnsKey(doc.VideoID, k) {
			return fmt.Errorf("view %s: refusing to link %q: not an object of this video", doc.VideoID, k)
		}
		th.SpriteVTT = v.opts.spriteVTTURL(doc.VideoID, doc.Generation, expires)
	}
	out.Thumbnails = &th
	if !doc.ReadyAt.IsZero() {
		t := doc.ReadyAt.UTC()
		out.ReadyAt = &t
	}
	out.URLsExpireAt = &expires
	return nil
}

package server

import (
	"context"
	"fmt"
	"time"

	"github.com/vidpipe/vidpipe/events"
	"github.com/vidpipe/vidpipe/events/storage"
	"github.com/vidpipe/vidpipe/upload-api/projection"
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
	// The rest is set when Status is "ready". URLs are presigned and
	// valid until URLsExpireAt.
	Media        *events.Media     `json:"media,omitempty"`
	Renditions   []renditionView   `json:"renditions,omitempty"`
	HLS          *hlsView          `json:"hls,omitempty"`
	Thumbnails   *thumbnailsView   `json:"thumbnails,omitempty"`
	URLsExpireAt *time.Time        `json:"urls_expire_at,omitempty"`
	Links        map[string]string `json:"links"`
}

type failureView struct {
	Stage    string `json:"stage"`
	Reason   string `json:"reason"`
	Class    string `json:"class,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
}

type renditionView struct {
	Name    string `json:"name"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Bitrate int64  `json:"bitrate"`
	Size    int64  `json:"size"`
	URL     string `json:"url"`
}

type hlsView struct {
	// MasterURL is a signed API URL of the master playlist; the playlists
	// it leads to carry the same signature and their segments are
	// presigned storage URLs, so any HLS player can play it without a token.
	MasterURL string `json:"master_url"`
}

type imageView struct {
	URL    string `json:"url"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

type thumbnailsView struct {
	Poster    imageView  `json:"poster"`
	Small     imageView  `json:"small"`
	Sprite    *imageView `json:"sprite,omitempty"`
	SpriteVTT string     `json:"sprite_vtt_url,omitempty"`
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
	out := videoView{ID: st.VideoID, Status: string(st.Status), Links: v.links(st.VideoID)}
	if !st.UpdatedAt.IsZero() {
		t := st.UpdatedAt.UTC()
		out.UpdatedAt = &t
	}
	if st.Uploaded != nil {
		v.video(&out, st.Uploaded.Video)
	}
	if st.Status == projection.StatusFailed {
		out.Failure = &failureView{Stage: string(st.FailedStage), Reason: st.Reason, Class: st.ErrorClass, Attempts: st.Attempts}
	}
	if st.Status == projection.StatusReady && st.Ready != nil {
		if err := v.ready(ctx, &out, *st.Ready); err != nil {
			return out, err
		}
	}
	return out, nil
}

// document renders a catalog document (always ready).
func (v viewer) document(ctx context.Context, doc events.VideoReady) (videoView, error) {
	out := videoView{ID: doc.VideoID, Status: string(projection.StatusReady), Links: v.links(doc.VideoID)}
	v.video(&out, doc.Video)
	err := v.ready(ctx, &out, doc)
	return out, err
}

func (v viewer) video(out *videoView, vid events.Video) {
	out.Title, out.Description, out.Tags = vid.Title, vid.Description, vid.Tags
	out.Filename, out.Size, out.ContentType = vid.Source.Filename, vid.Source.Size, vid.Source.ContentType
	if !vid.UploadedAt.IsZero() {
		t := vid.UploadedAt.UTC()
		out.UploadedAt = &t
	}
}

func (v viewer) ready(ctx context.Context, out *videoView, doc events.VideoReady) error {
	exp := v.opts.PresignExpiry
	expires := time.Now().Add(exp).UTC().Truncate(time.Second)
	presign := func(key string) (string, error) {
		u, err := v.objects.PresignGet(ctx, key, exp)
		if err != nil {
			return "", fmt.Errorf("view %s: %w", doc.VideoID, err)
		}
		return u, nil
	}
	m := doc.Media
	out.Media = &m
	for _, r := range doc.Renditions {
		u, err := presign(r.Key)
		if err != nil {
			return err
		}
		out.Renditions = append(out.Renditions, renditionView{Name: r.Name, Width: r.Width, Height: r.Height,
			Bitrate: r.Bitrate, Size: r.Size, URL: u})
	}
	if doc.HLS.MasterKey != "" {
		out.HLS = &hlsView{MasterURL: v.opts.link(hlsPath(doc.VideoID, "master.m3u8") + "?" + signHLS(v.opts.SigningKey, doc.VideoID, expires))}
	}
	img := func(im events.Image) (imageView, error) {
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
	if doc.Thumbnails.SpriteVTTKey != "" {
		if th.SpriteVTT, err = presign(doc.Thumbnails.SpriteVTTKey); err != nil {
			return err
		}
	}
	out.Thumbnails = &th
	if !doc.ReadyAt.IsZero() {
		t := doc.ReadyAt.UTC()
		out.ReadyAt = &t
	}
	out.URLsExpireAt = &expires
	if out.HLS != nil {
		out.Links["hls"] = out.HLS.MasterURL
	}
	return nil
}

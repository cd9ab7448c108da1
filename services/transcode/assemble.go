package transcode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/stage"
	"github.com/vidpipe/vidpipe/services/transcode/dash"
	"github.com/vidpipe/vidpipe/services/transcode/ffmpeg"
	"github.com/vidpipe/vidpipe/services/transcode/hls"
	"github.com/vidpipe/vidpipe/services/transcode/ladder"
)

// runState is what the fan-in remembers of a run between two records: the
// finished chunks' markers (immutable once written) and what it last wrote.
// It is a cache: everything is read back from storage when it is missing,
// so a restarted or rebalanced fan-in carries on where another stopped.
type runState struct {
	chunks       map[int]*chunkMarker
	prefix       int // contiguous finished chunks last written to the playlists
	audio        int // audio segments last written
	playable     bool
	audioMarker  *audioMarker
	lastActivity time.Time
}

// Assemble is the handler of video.transcode.chunks-done, the fan-in of a
// run. Records of one video arrive in order on one partition, so one
// member at a time assembles a video. On every record it reads the run's
// markers and (1) rewrites the media playlists to list every segment of
// the contiguous finished chunks from the start (HLS EVENT playlists) and
// the audio playlists; (2) once the first chunk and the first audio segment
// are in storage, writes the master playlist and publishes video.playable
// (once: work/{run}/playable.json); (3) once every chunk and the whole
// audio are in storage, builds each rung's MP4 from its segments, ends the
// playlists (#EXT-X-ENDLIST), removes stale objects, publishes
// video.transcoded and removes the video's work state (a later duplicate
// record of the run finds no plan and is dropped). It never publishes an
// output of its own (stage.ErrNoOutput). A crash between a publication and
// its marker publishes the same event again, with the same id.
func (w *Worker) Assemble(ctx context.Context, done contract.TranscodeChunkDone) (contract.VideoTranscoded, error) {
	var zero contract.VideoTranscoded
	if err := done.Validate(); err != nil {
		return zero, stage.Permanent(err)
	}
	id, run := done.VideoID, done.Run
	plan, err := w.loadPlan(ctx, planKey(id, run))
	if errors.Is(err, errPlanGone) {
		// A late duplicate of a finished (or replaced) run. Whatever of its
		// work state is left (a fan-in stopped between removing the plan
		// and the rest) goes now.
		w.log.Warn("completion of a finished or replaced run dropped", "video_id", id, "run", run, "item", done.Kind, "index", done.Index)
		if err := w.store.RemovePrefix(ctx, contract.ChunkWorkPrefix(id, run)); err != nil {
			return zero, fmt.Errorf("remove work state: %w", err)
		}
		return zero, stage.ErrNoOutput
	} else if err != nil {
		return zero, err
	}
	st := w.runState(run)
	if err := w.readMarkers(ctx, plan, st); err != nil {
		return zero, err
	}
	prefix := 0
	for prefix < len(plan.Spans) && st.chunks[prefix] != nil {
		prefix++
	}
	hasAudio := len(plan.AudioBitrates) > 0
	audioN, audioComplete := 0, !hasAudio
	if hasAudio && st.audioMarker != nil {
		audioN = audioSegments(plan, st.audioMarker)
		audioComplete = st.audioMarker.Complete
	}
	complete := prefix == len(plan.Spans) && audioComplete
	if complete {
		if err := w.finish(ctx, plan, st); err != nil {
			return zero, err
		}
		w.forgetRun(run, id)
		w.log.Info("transcode done", "video_id", id, "run", run, "chunks", len(plan.Spans),
			"since_plan", w.now().Sub(plan.CreatedAt).Round(time.Millisecond))
		return zero, stage.ErrNoOutput
	}
	if prefix != st.prefix || audioN != st.audio {
		if err := w.writePlaylists(ctx, plan, st, prefix, false); err != nil {
			return zero, err
		}
		st.prefix, st.audio = prefix, audioN
	}
	if !st.playable && (prefix > 0 || len(plan.Spans) == 0) && (!hasAudio || audioN > 0) {
		if err := w.publishPlayable(ctx, plan, st); err != nil {
			return zero, err
		}
	}
	return zero, stage.ErrNoOutput
}

// runState returns the cached state of run.
func (w *Worker) runState(run string) *runState {
	w.runsMu.Lock()
	defer w.runsMu.Unlock()
	st, ok := w.runs[run]
	if !ok {
		if len(w.runs) > 4096 {
			for k, v := range w.runs {
				if time.Since(v.lastActivity) > time.Hour {
					delete(w.runs, k)
				}
			}
		}
		st = &runState{chunks: map[int]*chunkMarker{}, prefix: -1, audio: -1}
		w.runs[run] = st
	}
	st.lastActivity = time.Now()
	return st
}

func (w *Worker) forgetRun(run, videoID string) {
	w.runsMu.Lock()
	delete(w.runs, run)
	w.runsMu.Unlock()
	w.plansMu.Lock()
	delete(w.plans, planKey(videoID, run))
	w.plansMu.Unlock()
	if w.cache != nil {
		w.cache.forget(videoID)
	}
}

// readMarkers loads the markers of chunks not cached yet, the audio
// marker, and whether video.playable is out.
func (w *Worker) readMarkers(ctx context.Context, plan *Plan, st *runState) error {
	id, run := plan.Upload.VideoID, plan.Run
	objs, err := w.store.List(ctx, contract.ChunkWorkPrefix(id, run))
	if err != nil {
		return fmt.Errorf("list work markers: %w", err)
	}
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, contract.ChunkWorkPrefix(id, run))
		var idx int
		switch {
		case name == playableMarker:
			st.playable = true
		case name == audioMarkerName:
			m := new(audioMarker)
			if found, err := w.getJSON(ctx, o.Key, m); err != nil {
				return err
			} else if found {
				st.audioMarker = m
			}
		case strings.HasPrefix(name, doneDir+"v"):
			if _, err := fmt.Sscanf(name, doneDir+"v%05d.json", &idx); err != nil || idx < 0 || idx >= len(plan.Spans) || st.chunks[idx] != nil {
				continue
			}
			m := new(chunkMarker)
			if found, err := w.getJSON(ctx, o.Key, m); err != nil {
				return err
			} else if found {
				st.chunks[idx] = m
			}
		}
	}
	return nil
}

// audioSegments is the number of audio segments every group has in storage.
func audioSegments(plan *Plan, m *audioMarker) int {
	n := -1
	for _, b := range plan.AudioBitrates {
		c := len(m.Groups[ffmpeg.AudioGroup(b)])
		if n < 0 || c < n {
			n = c
		}
	}
	return max(n, 0)
}

// writePlaylists writes every rung's media playlist with the segments of
// the first prefix chunks, and the audio playlists; ended adds
// #EXT-X-ENDLIST.
func (w *Worker) writePlaylists(ctx context.Context, plan *Plan, st *runState, prefix int, ended bool) error {
	type doc struct {
		key  string
		body []byte
	}
	var docs []doc
	for _, r := range plan.Renditions {
		var segs []hls.Segment
		for i := 0; i < prefix; i++ {
			for _, s := range st.chunks[i].Rungs[r.Name] {
				segs = append(segs, hls.Segment{URI: s.URI, Duration: s.Duration})
			}
		}
		if len(segs) == 0 {
			continue
		}
		docs = append(docs, doc{plan.Upload.Outputs().HLSPrefix() + r.Name + "/" + ffmpeg.PlaylistName, hls.MediaPlaylist(segs, ended)})
	}
	if st.audioMarker != nil {
		for _, b := range plan.AudioBitrates {
			g := ffmpeg.AudioGroup(b)
			var segs []hls.Segment
			for _, s := range st.audioMarker.Groups[g] {
				segs = append(segs, hls.Segment{URI: s.URI, Duration: s.Duration})
			}
			if len(segs) == 0 {
				continue
			}
			docs = append(docs, doc{plan.Upload.Outputs().HLSPrefix() + "audio/" + g + "/" + ffmpeg.PlaylistName, hls.MediaPlaylist(segs, ended && st.audioMarker.Complete)})
		}
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for _, d := range docs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.store.Put(ctx, d.key, strings.NewReader(string(d.body)), int64(len(d.body)), "application/vnd.apple.mpegurl"); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("write playlist %s: %w", d.key, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// master builds the master playlist: one audio group per audio bitrate,
// one variant per rung. BANDWIDTH is measured on the segments in storage
// (the peak segment bitrate, short segments left out unless all are
// short) plus the audio's bitrate; AVERAGE-BANDWIDTH likewise.
func (w *Worker) master(plan *Plan, st *runState, chunks int) ([]byte, error) {
	if plan.Media.IsAudio() {
		return w.audioMaster(plan, st), nil // audioasset.go
	}
	codecs := map[string]string{}
	if m := st.chunks[0]; m != nil {
		codecs = m.Codecs
	}
	var audio []hls.AudioRendition
	audioRate := map[string]int64{}
	for _, b := range plan.AudioBitrates {
		g := ffmpeg.AudioGroup(b)
		audioRate[g] = b
		audio = append(audio, hls.AudioRendition{GroupID: "aud-" + g, Name: "audio " + g, URI: "audio/" + g + "/" + ffmpeg.PlaylistName,
			Default: true, Channels: 2})
	}
	var vs []hls.Variant
	for _, r := range plan.Renditions {
		var segs []segInfo
		for i := 0; i < chunks; i++ {
			if m := st.chunks[i]; m != nil {
				segs = append(segs, m.Rungs[r.Name]...)
			}
		}
		peak, avg := bandwidth(segs, float64(plan.Encoding.GOPSeconds))
		if peak == 0 {
			peak, avg = r.VideoBitrate, r.VideoBitrate
		}
		cs := []string{codecs[r.Name]}
		if cs[0] == "" {
			return nil, fmt.Errorf("rung %s: no codec string recorded by chunk 0", r.Name)
		}
		v := hls.Variant{URI: r.Name + "/" + ffmpeg.PlaylistName, Width: r.Width, Height: r.Height, FrameRate: plan.FPS}
		if len(plan.AudioBitrates) > 0 {
			g := ffmpeg.AudioGroup(r.AudioBitrate)
			v.Audio = "aud-" + g
			peak += audioRate[g]
			avg += audioRate[g]
			cs = append(cs, "mp4a.40.2")
		}
		v.Bandwidth, v.AverageBandwidth, v.Codecs = peak, avg, cs
		vs = append(vs, v)
	}
	if len(audio) == 0 {
		return hls.Master(vs), nil
	}
	return hls.MasterWithAudio(audio, vs), nil
}

// bandwidth is hls.Rates on recorded segment sizes.
func bandwidth(segs []segInfo, target float64) (peak, average int64) {
	sizes, durs := make([]int64, len(segs)), make([]float64, len(segs))
	for i, s := range segs {
		sizes[i], durs[i] = s.Size, s.Duration
	}
	return hls.Rates(sizes, durs, target)
}

// publishPlayable writes the master playlist and publishes video.playable.
func (w *Worker) publishPlayable(ctx context.Context, plan *Plan, st *runState) error {
	id := plan.Upload.VideoID
	body, err := w.master(plan, st, st.prefix)
	if err != nil {
		return err
	}
	if _, err := w.store.Put(ctx, plan.Upload.Outputs().HLSMasterKey(), strings.NewReader(string(body)), int64(len(body)), "application/vnd.apple.mpegurl"); err != nil {
		return fmt.Errorf("write master playlist: %w", err)
	}
	ev := plan.Upload.Playable(plan.Media, contract.HLS{MasterKey: plan.Upload.Outputs().HLSMasterKey()}, len(plan.Spans), plan.Segments, w.now())
	if err := stage.Publish(ctx, ev, contract.MilestoneEventID(contract.StageTranscode, contract.TopicPlayable, plan.Run)); err != nil {
		return err
	}
	if err := w.putJSON(ctx, markerKey(id, plan.Run, playableMarker), map[string]any{"at": ev.PlayableAt}); err != nil {
		return err
	}
	st.playable = true
	w.log.Info("video playable", "video_id", id, "run", plan.Run, "chunks_done", st.prefix, "chunks", len(plan.Spans),
		"since_plan", w.now().Sub(plan.CreatedAt).Round(time.Millisecond))
	return nil
}

// finish builds the MP4s, ends the playlists, writes the final master,
// removes stale objects and publishes video.transcoded.
func (w *Worker) finish(ctx context.Context, plan *Plan, st *runState) error {
	id := plan.Upload.VideoID
	start := w.now()
	dir, err := os.MkdirTemp(w.settings.TempDir, WorkDirPrefix+id+"-")
	if err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	defer os.RemoveAll(dir)
	// Download the audio segments once per group, then each rung's video
	// segments, and remux each rung's MP4.
	if err := checkInits(plan, st); err != nil {
		return err
	}
	audioFiles := map[string][]string{}
	if st.audioMarker != nil {
		for _, b := range plan.AudioBitrates {
			if plan.Media.IsAudio() && b != topAudio(plan.AudioBitrates) {
				continue // an audio asset's M4A is made of the top rendition only
			}
			g := ffmpeg.AudioGroup(b)
			p := filepath.Join(dir, "audio-"+g+"-"+ffmpeg.InitName)
			if _, err := w.store.GetToFile(ctx, plan.Upload.Outputs().HLSPrefix()+"audio/"+g+"/"+ffmpeg.InitName, p); err != nil {
				return err
			}
			audioFiles[g] = append(audioFiles[g], p)
			for _, s := range st.audioMarker.Groups[g] {
				p := filepath.Join(dir, "audio-"+g+"-"+s.URI)
				if _, err := w.store.GetToFile(ctx, plan.Upload.Outputs().HLSPrefix()+"audio/"+g+"/"+s.URI, p); err != nil {
					return err
				}
				audioFiles[g] = append(audioFiles[g], p)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, ffmpeg.MP4Dir), 0o755); err != nil {
		return err
	}
	renditions := make([]contract.Rendition, 0, len(plan.Renditions))
	var mp4s []object
	for _, r := range plan.Renditions {
		vinit := filepath.Join(dir, r.Name+"-"+ffmpeg.InitName)
		if _, err := w.store.GetToFile(ctx, plan.Upload.Outputs().HLSPrefix()+r.Name+"/"+ffmpeg.InitName, vinit); err != nil {
			return err
		}
		vfiles := []string{vinit}
		for i := range plan.Spans {
			for _, s := range st.chunks[i].Rungs[r.Name] {
				p := filepath.Join(dir, r.Name+"-"+s.URI)
				if _, err := w.store.GetToFile(ctx, plan.Upload.Outputs().HLSPrefix()+r.Name+"/"+s.URI, p); err != nil {
					return err
				}
				vfiles = append(vfiles, p)
			}
		}
		var afiles []string
		if len(plan.AudioBitrates) > 0 {
			afiles = audioFiles[ffmpeg.AudioGroup(r.AudioBitrate)]
		}
		out := filepath.Join(dir, filepath.FromSlash(ffmpeg.MP4Path(r.Name)))
		runner := w.runner
		runner.Logger = w.log.With("video_id", id, "assemble", r.Name)
		// Segment lists in files: a long video's paths would not fit in
		// the command line.
		vlist, alist := filepath.Join(dir, r.Name+"-video.txt"), ""
		if err := ffmpeg.WriteConcatList(vlist, vfiles); err != nil {
			return err
		}
		if len(afiles) > 0 {
			alist = filepath.Join(dir, r.Name+"-audio.txt")
			if err := ffmpeg.WriteConcatList(alist, afiles); err != nil {
				return err
			}
		}
		args := ffmpeg.AssembleListArgs(vlist, alist, out)
		// The output file is the last argument: the sample entry's tag
		// goes just before it (hvc1 for HEVC, see ffmpeg.MP4TagArgs).
		args = slices.Insert(args, len(args)-1, ffmpeg.MP4TagArgs(r.Codec)...)
		if err := runner.Run(ctx, dir, args, plan.Declared); err != nil {
			return fmt.Errorf("assemble %s: %w", r.Name, err)
		}
		for _, f := range vfiles {
			os.Remove(f)
		}
		if err := w.checkMP4(ctx, out, plan, r); err != nil {
			return err
		}
		fi, err := os.Stat(out)
		if err != nil {
			return err
		}
		renditions = append(renditions, contract.Rendition{Name: r.Name, Width: r.Width, Height: r.Height,
			Bitrate: r.Bitrate(len(plan.AudioBitrates) > 0), Key: plan.Upload.Outputs().RenditionKey(r.Name), Size: fi.Size(),
			PlaylistKey: plan.Upload.Outputs().HLSPrefix() + r.Name + "/" + ffmpeg.PlaylistName, Codec: string(r.Codec.Or())})
		mp4s = append(mp4s, object{out, plan.Upload.Outputs().RenditionKey(r.Name), "video/mp4"})
	}
	if plan.Media.IsAudio() {
		top := topAudio(plan.AudioBitrates)
		r, o, err := w.assembleM4A(ctx, dir, plan.Upload.Outputs(), audioFiles[ffmpeg.AudioGroup(top)], top, plan.Declared, w.log.With("video_id", id))
		if err != nil {
			return err
		}
		renditions, mp4s = append(renditions, r), append(mp4s, o)
	}
	if err := w.putAll(ctx, mp4s); err != nil {
		return err
	}
	if err := w.writePlaylists(ctx, plan, st, len(plan.Spans), true); err != nil {
		return err
	}
	mpd, err := w.runMPD(plan, st)
	if err != nil {
		return err
	}
	if _, err := w.store.Put(ctx, plan.Upload.Outputs().DASHManifestKey(), strings.NewReader(string(mpd)), int64(len(mpd)), contentTypeMPD); err != nil {
		return fmt.Errorf("write DASH manifest: %w", err)
	}
	body, err := w.master(plan, st, len(plan.Spans))
	if err != nil {
		return err
	}
	if _, err := w.store.Put(ctx, plan.Upload.Outputs().HLSMasterKey(), strings.NewReader(string(body)), int64(len(body)), "application/vnd.apple.mpegurl"); err != nil {
		return fmt.Errorf("write master playlist: %w", err)
	}
	if err := w.removeStale(ctx, plan, st); err != nil {
		return err
	}
	if !st.playable {
		// A video whose first chunk and audio arrived together in this
		// record: it becomes playable and transcoded at once.
		st.prefix = len(plan.Spans)
		if err := w.publishPlayable(ctx, plan, st); err != nil {
			return err
		}
	}
	media := plan.Media
	if st.audioMarker != nil {
		media.Loudness = st.audioMarker.Loudness // measured by the audio item
	}
	out := plan.Upload.Transcoded(media, renditions, contract.HLS{MasterKey: plan.Upload.Outputs().HLSMasterKey()}, w.now())
	out.DASH = &contract.DASH{ManifestKey: plan.Upload.Outputs().DASHManifestKey()}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("transcode result: %w", err)
	}
	if err := stage.Publish(ctx, out, contract.OutputEventID(contract.StageTranscode, plan.Run)); err != nil {
		return err
	}
	// The run is complete: its work state goes (a late duplicate of one of
	// its records then finds no plan and is dropped), so every run of the
	// video leaves the same key set.
	// The plan first: work items check it before and after writing
	// their markers (Worker.runActive), so none is left behind.
	if err := w.store.Remove(ctx, planKey(id, plan.Run)); err != nil {
		return fmt.Errorf("remove work state: %w", err)
	}
	if err := w.store.RemovePrefix(ctx, contract.OutputPrefix(id)+"work/"); err != nil {
		return fmt.Errorf("remove work state: %w", err)
	}
	w.log.Info("assembled", "video_id", id, "renditions", len(renditions), "elapsed", w.now().Sub(start).Round(time.Millisecond))
	return nil
}

// checkMP4 probes an assembled MP4: the rung's codec at its size, audio
// when the plan has audio, and the whole declared duration.
func (w *Worker) checkMP4(ctx context.Context, file string, plan *Plan, r ladder.Rendition) error {
	name, width, height := r.Name, r.Width, r.Height
	res, err := w.prober.Probe(ctx, file)
	if err != nil {
		return fmt.Errorf("probe rendition %s: %w", name, err)
	}
	v := res.Video
	hasAudio := len(plan.AudioBitrates) > 0
	switch {
	case v == nil || v.Codec != string(r.Codec.Or()):
		return fmt.Errorf("rendition %s: no %s video stream", name, r.Codec.Or())
	case v.Width != width || v.Height != height || v.Rotation != 0:
		return fmt.Errorf("rendition %s: %dx%d rotation %d, want %dx%d unrotated", name, v.Width, v.Height, v.Rotation, width, height)
	case hasAudio != (res.Audio != nil):
		return fmt.Errorf("rendition %s: audio present %v, want %v", name, res.Audio != nil, hasAudio)
	}
	if Truncated(plan.Declared, res.Duration) {
		return truncatedError(plan.Declared, res.Duration)
	}
	return nil
}

// removeStale removes objects under the video's mp4/ and hls/ prefixes
// that this run did not write (a re-run with another ladder), so a run
// leaves exactly its own key set.
func (w *Worker) removeStale(ctx context.Context, plan *Plan, st *runState) error {
	keep := map[string]bool{plan.Upload.Outputs().HLSMasterKey(): true, plan.Upload.Outputs().DASHManifestKey(): true}
	if plan.Media.IsAudio() {
		keep[plan.Upload.Outputs().AudioDownloadKey()] = true
	}
	for _, r := range plan.Renditions {
		keep[plan.Upload.Outputs().RenditionKey(r.Name)] = true
		keep[plan.Upload.Outputs().HLSPrefix()+r.Name+"/"+ffmpeg.PlaylistName] = true
		keep[plan.Upload.Outputs().HLSPrefix()+r.Name+"/"+ffmpeg.InitName] = true
		for i := range plan.Spans {
			for _, s := range st.chunks[i].Rungs[r.Name] {
				keep[plan.Upload.Outputs().HLSPrefix()+r.Name+"/"+s.URI] = true
			}
		}
	}
	if st.audioMarker != nil {
		for _, b := range plan.AudioBitrates {
			g := ffmpeg.AudioGroup(b)
			keep[plan.Upload.Outputs().HLSPrefix()+"audio/"+g+"/"+ffmpeg.PlaylistName] = true
			keep[plan.Upload.Outputs().HLSPrefix()+"audio/"+g+"/"+ffmpeg.InitName] = true
			for _, s := range st.audioMarker.Groups[g] {
				keep[plan.Upload.Outputs().HLSPrefix()+"audio/"+g+"/"+s.URI] = true
			}
		}
	}
	return w.removeOutputsBut(ctx, plan.Upload.Outputs(), keep)
}

// checkInits refuses a run whose chunks wrote different init segments
// for a rung (every chunk overwrites the rung's init.mp4: they must be the
// same bytes). It cannot happen with one encoder build and the plan's
// settings; a mixed fleet (two ffmpeg versions) could.
func checkInits(plan *Plan, st *runState) error {
	for _, r := range plan.Renditions {
		want := st.chunks[0].Inits[r.Name]
		for i := range plan.Spans {
			if got := st.chunks[i].Inits[r.Name]; got != want {
				return stage.Permanentf("rung %s: chunk %d wrote another init segment than chunk 0 (sha256 %.12s, %.12s): the chunks were encoded differently",
					r.Name, i, got, want)
			}
		}
	}
	return nil
}

// runMPD is the DASH MPD of a finished run.
func (w *Worker) runMPD(plan *Plan, st *runState) ([]byte, error) {
	var p dash.Presentation
	p.Seconds = 0
	for _, r := range plan.Renditions {
		var segs []segInfo
		for i := range plan.Spans {
			segs = append(segs, st.chunks[i].Rungs[r.Name]...)
		}
		peak, _ := bandwidth(segs, float64(plan.Encoding.GOPSeconds))
		t := videoTrack(r, st.chunks[0].Codecs[r.Name], plan.FrameRate, st.chunks[0].Timescale[r.Name], segs, peak)
		p.Video = append(p.Video, t)
		p.Seconds = max(p.Seconds, trackSeconds(t))
	}
	if st.audioMarker != nil {
		for _, b := range plan.AudioBitrates {
			g := ffmpeg.AudioGroup(b)
			t := audioTrack(b, st.audioMarker.Timescale[g], st.audioMarker.Groups[g], plan.Encoding.AudioSampleRate)
			p.Audio = append(p.Audio, t)
			if len(p.Video) == 0 { // an audio asset: the audio's length
				p.Seconds = max(p.Seconds, trackSeconds(t))
			}
		}
	}
	return dash.MPD(p)
}

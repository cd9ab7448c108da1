package scenario

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/bench/kload"
	"github.com/vidpipe/vidpipe/dev/devstack"
)

// segStack is the segment pipeline as the scenarios run it: a fresh Stack
// (kfake, MinIO, PostgreSQL) with the real upload-api and n transcode
// processes (its consumers each: planner, video chunk encoder, audio encoder, fan-in),
// and an observer of every topic. Thumbnail and indexer are not started:
// what is measured ends at video.playable or video.transcoded.
type segStack struct {
	env  Env
	name string
	st   *Stack
	api  *Service
	// client calls the API as the dev user.
	client *apiClient
	// transcodeEnv is every transcode process's extra configuration.
	transcodeEnv []string
	// toolDir, when set, gets wrapper scripts around ffmpeg and ffprobe
	// for each transcode process, named after it (see toolWrappers), and
	// their log (toolLog).
	toolDir string
	// transcoders are the running transcode processes by slot.
	transcoders []*Service
	starts      int
	obs         *kload.Observer
}

// startSegStack starts the servers, upload-api and n transcode processes
// with the extra VIDPIPE_* settings transcodeEnv (and ffmpeg wrappers in
// toolDir unless it is ""), and waits until the transcode groups are
// stable with n members each.
func startSegStack(ctx context.Context, env Env, name string, n int, toolDir string, transcodeEnv ...string) (s *segStack, err error) {
	st, err := StartStack(ctx, env, name)
	if err != nil {
		return nil, err
	}
	s = &segStack{env: env, name: name, st: st, transcodeEnv: transcodeEnv, toolDir: toolDir}
	defer func() {
		if err != nil {
			s.stop(true)
			s = nil
		}
	}()
	if s.obs, err = kload.NewObserver(st.Brokers, contract.AllTopics()...); err != nil {
		return s, err
	}
	if s.api, err = st.StartService(ctx, env, devstack.UploadAPI, name+"-upload-api"); err != nil {
		return s, err
	}
	s.client = newAPIClient(s.api.URL(""))
	for range n {
		sv, err := s.startTranscoder(ctx)
		if err != nil {
			return s, err
		}
		s.transcoders = append(s.transcoders, sv)
	}
	return s, s.waitGroups(ctx, n)
}

// startTranscoder starts one more transcode process (not added to
// s.transcoders) and waits for its /readyz.
func (s *segStack) startTranscoder(ctx context.Context) (*Service, error) {
	s.starts++
	name := fmt.Sprintf("%s-transcode-%d", s.name, s.starts)
	env := slices.Clone(s.transcodeEnv)
	if s.toolDir != "" {
		w, err := toolWrappers(s.toolDir, name)
		if err != nil {
			return nil, err
		}
		env = append(env, "VIDPIPE_TRANSCODE_FFMPEG="+w[name]["ffmpeg"], "VIDPIPE_TRANSCODE_FFPROBE="+w[name]["ffprobe"])
	}
	return s.st.StartService(ctx, s.env, string(contract.StageTranscode), name, env...)
}

// toolLog is the log of the wrappers in toolDir.
func (s *segStack) toolLog() string { return filepath.Join(s.toolDir, "tools.log") }

// procName is the name of a transcode process (its wrappers' stage label).
func procName(sv *Service) string { return strings.TrimSuffix(filepath.Base(sv.LogPath()), ".log") }

// transcodeGroups are the consumer groups of a transcode process: the
// planner (the stage's own group), the video chunk encoders, the audio
// encoders and the fan-in.
var transcodeGroups = []string{contract.StageTranscode.Group(), contract.GroupTranscodeChunks, contract.GroupTranscodeAudio, contract.GroupTranscodeAssemble}

// waitGroups waits until the transcode groups are stable with n
// members each.
func (s *segStack) waitGroups(ctx context.Context, n int) error {
	for _, g := range transcodeGroups {
		if err := kload.WaitGroupStable(ctx, s.st.Brokers, g, n, 6, 90*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// stop stops the processes and the servers; kill: the transcode
// processes get SIGKILL at once (their work in flight does not matter).
func (s *segStack) stop(kill bool) {
	for _, sv := range s.transcoders {
		if kill {
			_ = sv.Kill()
		} else {
			_ = sv.Stop(syscall.SIGTERM, 15*time.Second)
		}
	}
	if s.api != nil {
		_ = s.api.Stop(syscall.SIGTERM, 15*time.Second)
	}
	if s.obs != nil {
		s.obs.Close()
	}
	_ = s.st.Stop()
}

// logTails returns the end of every transcode process's log, for an error
// that needs them.
func (s *segStack) logTails() string {
	var b strings.Builder
	for _, sv := range s.transcoders {
		fmt.Fprintf(&b, "\n--- end of %s ---\n%s", sv.LogPath(), sv.LogTail(3<<10))
	}
	return b.String()
}

func nan() float64 { return math.NaN() }

func isNaN(x float64) bool { return math.IsNaN(x) }

// upload posts the file at path and returns the video id and when the 202
// arrived.
func (s *segStack) upload(ctx context.Context, path, title string) (string, time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", time.Time{}, err
	}
	defer f.Close()
	id, err := s.client.postVideo(ctx, "source.mp4", title, f)
	return id, time.Now(), err
}

// waitTopic waits until the observer saw a record of video id on topic and
// returns it; a dead letter of the video ends the wait with an error that
// carries the transcode logs.
func (s *segStack) waitTopic(ctx context.Context, id, topic string, timeout time.Duration) (kload.Seen, error) {
	pipe := contract.DefaultPipeline()
	var got kload.Seen
	var dead *kload.Seen
	err := s.obs.WaitFor(ctx, timeout, topic+" of "+id, func(seen []kload.Seen) bool {
		for i := range seen {
			r := seen[i]
			if r.Key != id {
				continue
			}
			if r.Topic == topic {
				got = r
				return true
			}
			if _, ok := pipe.StageForDLQ(r.Topic); ok {
				dead = &r
				return true
			}
		}
		return false
	})
	if err != nil {
		return got, fmt.Errorf("%w%s", err, s.logTails())
	}
	if dead != nil {
		return got, fmt.Errorf("video %s was dead-lettered on %s%s", id, dead.Topic, s.logTails())
	}
	return got, nil
}

// chunkDone is a video.transcode.chunks-done record the observer saw.
type chunkDone struct {
	contract.TranscodeChunkDone
	At time.Time
}

// chunksDone returns the video's chunks-done records seen so far, in
// arrival order.
func (s *segStack) chunksDone(id string) []chunkDone {
	var out []chunkDone
	for _, r := range s.obs.Since(0) {
		if r.Topic != contract.TopicTranscodeChunksDone || r.Key != id {
			continue
		}
		d, err := contract.Decode[contract.TranscodeChunkDone](r.Value)
		if err != nil {
			continue
		}
		out = append(out, chunkDone{TranscodeChunkDone: d, At: r.At})
	}
	return out
}

// statusDoc is the part of GET /v1/videos/{id} the scenarios read.
type statusDoc struct {
	Status string `json:"status"`
	HLS    *struct {
		MasterURL string `json:"master_url"`
	} `json:"hls"`
	Failure *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Stage   string `json:"stage"`
	} `json:"failure"`
}

// status reads the video's status document.
func (c *apiClient) status(ctx context.Context, id string) (statusDoc, error) {
	var doc statusDoc
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/videos/"+id, nil)
	if err != nil {
		return doc, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return doc, fmt.Errorf("GET status: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		return doc, fmt.Errorf("GET status: %s: %s", resp.Status, b)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return doc, fmt.Errorf("GET status: %w", err)
	}
	return doc, nil
}

// statusRank is the rank of a status in the pipeline (uploaded 1,
// playable 2, …), 0 for an unknown one.
func statusRank(status string) int {
	return slices.Index(contract.DefaultPipeline().Statuses(), status) + 1
}

// waitStatus polls the status document every interval until the status
// ranks at least as far as want, and returns it with the time it was
// read. A failed video is an error.
func (c *apiClient) waitStatus(ctx context.Context, id, want string, interval, timeout time.Duration) (statusDoc, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	wantRank := statusRank(want)
	if wantRank == 0 {
		return statusDoc{}, time.Time{}, fmt.Errorf("status %q is not a step of the pipeline (%v)", want, contract.DefaultPipeline().Statuses())
	}
	last := ""
	for {
		doc, err := c.status(ctx, id)
		at := time.Now()
		switch {
		case err != nil && ctx.Err() != nil:
			return doc, at, fmt.Errorf("video %s not %s within %s (last status %q): %w", id, want, timeout, last, ctx.Err())
		case err != nil:
			return doc, at, err
		case doc.Status == contract.StatusFailed:
			return doc, at, fmt.Errorf("video %s failed: %+v", id, doc.Failure)
		case statusRank(doc.Status) >= wantRank:
			return doc, at, nil
		}
		last = doc.Status
		if err := sleepCtx(ctx, interval); err != nil {
			return doc, at, fmt.Errorf("video %s not %s within %s (last status %q): %w", id, want, timeout, last, err)
		}
	}
}

// fetch GETs u as a player would (no Authorization header: the URLs are
// signed) and returns the body.
func (c *apiClient) fetch(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redact(u), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redact(u), err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.300s", redact(u), resp.Status, b)
	}
	return b, nil
}

// redact drops a URL's query (signatures) for messages.
func redact(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}

// resolve resolves ref against the URL of the playlist that names it.
func resolve(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(r).String(), nil
}

// masterInfo is what a player reads from a master playlist first.
type masterInfo struct {
	// Variant is the first variant's media playlist URI; Audio the URI
	// of the first EXT-X-MEDIA TYPE=AUDIO rendition ("" if none).
	Variant, Audio string
}

var uriAttr = regexp.MustCompile(`URI="([^"]*)"`)

// parseMaster reads the first variant and the first audio rendition of a
// master playlist.
func parseMaster(b []byte) (masterInfo, error) {
	var m masterInfo
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	wantURI := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#EXT-X-MEDIA:") && strings.Contains(line, "TYPE=AUDIO") && m.Audio == "":
			if u := uriAttr.FindStringSubmatch(line); u != nil {
				m.Audio = u[1]
			}
		case strings.HasPrefix(line, "#EXT-X-STREAM-INF:"):
			wantURI = m.Variant == ""
		case line != "" && !strings.HasPrefix(line, "#") && wantURI:
			m.Variant, wantURI = line, false
		}
	}
	if m.Variant == "" {
		return m, fmt.Errorf("master playlist names no variant: %.500s", b)
	}
	return m, nil
}

// firstSegment returns the first segment URI of a media playlist.
func firstSegment(b []byte) (string, error) {
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			return line, nil
		}
	}
	return "", fmt.Errorf("media playlist names no segment: %.500s", b)
}

// playerStart fetches what a player needs to start, through the URLs the
// API returns: the master playlist, the first variant's media playlist
// and its first segment (video), then the first audio rendition's
// playlist and first segment. It returns when the video parts and the
// audio parts were all fetched; audio is zero when the master names no
// audio rendition.
func (c *apiClient) playerStart(ctx context.Context, masterURL string) (video, audio time.Time, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	master, err := c.fetch(ctx, masterURL)
	if err != nil {
		return video, audio, fmt.Errorf("master playlist: %w", err)
	}
	m, err := parseMaster(master)
	if err != nil {
		return video, audio, err
	}
	first := func(ref string) error {
		u, err := resolve(masterURL, ref)
		if err != nil {
			return err
		}
		pl, err := c.fetch(ctx, u)
		if err != nil {
			return fmt.Errorf("media playlist: %w", err)
		}
		seg, err := firstSegment(pl)
		if err != nil {
			return err
		}
		if seg, err = resolve(u, seg); err != nil {
			return err
		}
		b, err := c.fetch(ctx, seg)
		if err != nil {
			return fmt.Errorf("first segment: %w", err)
		}
		if len(b) == 0 {
			return errors.New("first segment is empty")
		}
		return nil
	}
	if err := first(m.Variant); err != nil {
		return video, audio, err
	}
	video = time.Now()
	if m.Audio == "" {
		return video, audio, nil
	}
	if err := first(m.Audio); err != nil {
		return video, audio, fmt.Errorf("audio: %w", err)
	}
	return video, time.Now(), nil
}

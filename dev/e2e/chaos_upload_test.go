package e2e_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/backoff"
	"github.com/vidpipe/vidpipe/platform/stage"
)

// Kinds of chaos-test inputs. Good inputs (kindGood, and kindAudioOnly: an
// audio asset) must end ready; every other kind must end failed,
// dead-lettered by the stage in chaosInput.wantStage.
const (
	kindGood        = "good"         // a 320x240 H.264/AAC MP4 of chaosClipSeconds, several chunks long
	kindTruncated   = "truncated"    // the good clip cut in half: its moov atom (at the end) is gone
	kindFtypGarbage = "ftyp-garbage" // a valid ftyp box, then random bytes: passes the API sniff, not ffprobe
	kindAudioOnly   = "audio-only"   // an MP4 (brand isom) with only an AAC stream: an audio asset, ends ready
	kindPlaylist    = "hls-playlist" // an HLS playlist naming local files; published directly (the API refuses it)
	kindNoRendition = "no-rendition" // a video.transcoded whose rendition object does not exist; published directly
)

// chaosInput is one video of the chaos test.
type chaosInput struct {
	kind  string
	title string
	// file is the path of the bytes uploaded through the API ("" for
	// inputs published straight to Kafka).
	file string
	// wantStage is the stage whose DLQ must hold a bad input.
	wantStage contract.Stage

	// via is how the bytes go to the API: viaMultipart (default) or
	// viaTus.
	via string

	// Filled in once accepted. Only the goroutine uploading the input
	// writes them; read them once it is done (or through accepted).
	mu sync.Mutex
	id string
	// tries counts upload attempts (the API answers 503 while Kafka or
	// storage is down; a client tries again).
	tries int
}

// How an input is uploaded.
const (
	viaMultipart = ""    // POST /v1/videos
	viaTus       = "tus" // tus 1.0 at /v1/uploads/
)

// good reports whether the input must end ready.
func (in *chaosInput) good() bool { return in.kind == kindGood || in.kind == kindAudioOnly }

func (in *chaosInput) setID(id string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.id = id
}

func (in *chaosInput) addTry() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.tries++
}

// accepted returns the video id once the API accepted the upload, else "".
func (in *chaosInput) accepted() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.id
}

// chaosMedia are the files the inputs upload, made once and reused.
type chaosMedia struct {
	good, truncated, ftypGarbage, audioOnly, playlist string
}

// makeChaosMedia generates the clips with ffmpeg into dir.
func makeChaosMedia(t *testing.T, dir string) chaosMedia {
	t.Helper()
	m := chaosMedia{good: clip(t, dir, "good.mp4", 320, 240, chaosClipSeconds, true)}
	whole, err := os.ReadFile(m.good)
	if err != nil {
		t.Fatal(err)
	}
	m.truncated = filepath.Join(dir, "truncated.mp4")
	mustWrite(t, m.truncated, whole[:len(whole)/2])

	// A 24-byte ftyp box (isom, minor 512, compatible isom+mp41), then
	// 8 KiB of random bytes.
	garbage := make([]byte, 24+8<<10)
	binary.BigEndian.PutUint32(garbage[0:4], 24)
	copy(garbage[4:], "ftypisom")
	binary.BigEndian.PutUint32(garbage[12:16], 512)
	copy(garbage[16:], "isommp41")
	r := rand.New(rand.NewPCG(1, 2))
	for i := 24; i < len(garbage); i++ {
		garbage[i] = byte(r.Uint32())
	}
	m.ftypGarbage = filepath.Join(dir, "ftyp-garbage.mp4")
	mustWrite(t, m.ftypGarbage, garbage)

	m.audioOnly = filepath.Join(dir, "audio-only.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac", m.audioOnly)

	m.playlist = filepath.Join(dir, "playlist.mp4")
	mustWrite(t, m.playlist, []byte("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXTINF:10,\n/etc/hostname\n#EXT-X-ENDLIST\n"))
	return m
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// chaosInputs returns the API uploads of the test in a random order:
// n good ones, one audio-only (an audio asset: ready) and one of each bad
// kind the API accepts.
func chaosInputs(n int, m chaosMedia, rng *rand.Rand) []*chaosInput {
	var ins []*chaosInput
	for i := range n {
		ins = append(ins, &chaosInput{kind: kindGood, title: fmt.Sprintf("Chaos clip %03d", i+1), file: m.good})
	}
	ins = append(ins,
		&chaosInput{kind: kindTruncated, title: "Chaos bad: truncated", file: m.truncated, wantStage: contract.StageTranscode},
		&chaosInput{kind: kindFtypGarbage, title: "Chaos bad: ftyp then garbage", file: m.ftypGarbage, wantStage: contract.StageTranscode},
		&chaosInput{kind: kindAudioOnly, title: "Chaos audio only", file: m.audioOnly},
	)
	rng.Shuffle(len(ins), func(i, j int) { ins[i], ins[j] = ins[j], ins[i] })
	return ins
}

// publishDirect stores and publishes the inputs the API would refuse: an
// HLS playlist as a video.uploaded source (transcode must dead-letter it)
// and a video.transcoded naming a missing rendition (thumbnail must
// dead-letter it). It returns them, accepted.
func (s *chaosStack) publishDirect(t *testing.T, m chaosMedia) []*chaosInput {
	t.Helper()
	ctx := context.Background()
	playlist := &chaosInput{kind: kindPlaylist, title: "Chaos bad: crafted HLS playlist", wantStage: contract.StageTranscode, id: contract.NewID()}
	info, err := s.mc.FPutObject(ctx, s.bucket, contract.SourceKey(playlist.id), m.playlist, minio.PutObjectOptions{ContentType: "video/mp4"})
	if err != nil {
		t.Fatalf("put playlist source: %v", err)
	}
	up := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: playlist.id, Owner: chaosOwner, Title: playlist.title,
		Source:     contract.SourceObject{Bucket: s.bucket, Key: contract.SourceKey(playlist.id), Size: info.Size, ContentType: "video/mp4", Filename: "playlist.mp4"},
		UploadedAt: time.Now().UTC(),
	}}

	missing := &chaosInput{kind: kindNoRendition, title: "Chaos bad: missing rendition", wantStage: contract.StageThumbnail, id: contract.NewID()}
	tr := contract.VideoUploaded{SchemaVersion: contract.SchemaVersion, Video: contract.Video{
		VideoID: missing.id, Owner: chaosOwner, Title: missing.title,
		Source:     contract.SourceObject{Bucket: s.bucket, Key: contract.SourceKey(missing.id), Size: 1000, ContentType: "video/mp4", Filename: "gone.mp4"},
		UploadedAt: time.Now().UTC(),
	}}.Transcoded(
		contract.Media{DurationSeconds: 2, Width: 320, Height: 240, Format: "mov,mp4,m4a,3gp,3g2,mj2", VideoCodec: "h264"},
		[]contract.Rendition{{Name: "240p", Width: 320, Height: 240, Bitrate: 364000, Key: contract.RenditionKey(missing.id, "240p"), Size: 1000}},
		contract.HLS{MasterKey: contract.HLSMasterKey(missing.id)}, time.Now())
	// Their ce_ids are derived as the API's and the stages' are
	// (contract/ids.go), so the chaos verification can check them alike.
	var msgs []kafka.Message
	for _, ev := range []struct {
		e  contract.Event
		id string
	}{
		{up, contract.UploadedEventID(playlist.id)},
		{tr, contract.OutputEventID(contract.StageTranscode, contract.UploadedEventID(missing.id))},
	} {
		msg, err := stage.NewMessage(ev.e, "chaos-test", "")
		if err != nil {
			t.Fatalf("message %s: %v", ev.e.Key(), err)
		}
		for i, h := range msg.Headers {
			if h.Key == contract.HeaderID {
				msg.Headers[i].Value = []byte(ev.id)
			}
		}
		msgs = append(msgs, msg)
	}
	s.k.Produce(t, msgs...)
	return []*chaosInput{playlist, missing}
}

// uploadResult is the outcome of the upload clients.
type uploadResult struct {
	mu      sync.Mutex
	refused map[int]int // HTTP status (0: transport error) → count of refused attempts that were retried
	errs    []error     // uploads that failed for good
}

func newUploadResult() *uploadResult { return &uploadResult{refused: map[int]int{}} }

// rejected counts a refused attempt that is tried again.
func (r *uploadResult) rejected(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refused[status]++
}

// fail records an upload that failed for good.
func (r *uploadResult) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

// merge adds o's counts and errors to r.
func (r *uploadResult) merge(o *uploadResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, n := range o.refused {
		r.refused[k] += n
	}
	r.errs = append(r.errs, o.errs...)
}

// chaosBurst is how many uploads go back to back: a burst queues work for
// both transcoders, so that faults meet attempts in flight.
const chaosBurst = 4

// uploadAll uploads ins through the API in bursts of chaosBurst, a burst
// every chaosBurst×interval, until every one is accepted or ctx is done
// (then every upload not accepted is an error: the time budget ran out).
func (s *chaosStack) uploadAll(ctx context.Context, ins []*chaosInput, interval time.Duration) *uploadResult {
	res := newUploadResult()
	client := &http.Client{Timeout: 2 * time.Minute}
	for i, in := range ins {
		if i > 0 && i%chaosBurst == 0 && !backoff.Sleep(ctx, chaosBurst*interval) {
			var pending []string
			for _, p := range ins[i:] {
				pending = append(pending, p.title)
			}
			res.fail(fmt.Errorf("time budget ran out: %d upload(s) never tried: %s", len(pending), strings.Join(pending, ", ")))
			break
		}
		if !s.uploadUntilAccepted(ctx, client, in, res, nil) && ctx.Err() != nil {
			var pending []string
			for _, p := range ins[i+1:] {
				pending = append(pending, p.title)
			}
			if len(pending) > 0 {
				res.fail(fmt.Errorf("time budget ran out: %d upload(s) never tried: %s", len(pending), strings.Join(pending, ", ")))
			}
			break
		}
	}
	return res
}

// uploadUntilAccepted posts in as a multipart upload until the API accepts
// it (202) or ctx is done. An upload answered 503 (Kafka or storage down)
// or cut by a transport error is tried again after a short pause, as a
// client would (onRetry, if set, is called then); any other answer is an
// error. It reports whether the upload was accepted.
func (s *chaosStack) uploadUntilAccepted(ctx context.Context, client *http.Client, in *chaosInput, res *uploadResult, onRetry func()) bool {
	for {
		in.addTry()
		id, status, err := s.upload(ctx, client, in)
		if err == nil {
			in.setID(id)
			return true
		}
		if ctx.Err() != nil {
			res.fail(fmt.Errorf("%s: time budget ran out before it was accepted (%d tries, last: %v)", in.title, in.tries, err))
			return false
		}
		if status != 0 && status != http.StatusServiceUnavailable {
			res.fail(fmt.Errorf("%s: %v", in.title, err))
			return false
		}
		res.rejected(status)
		if onRetry != nil {
			onRetry()
		}
		if !backoff.Sleep(ctx, 500*time.Millisecond) {
			res.fail(fmt.Errorf("%s: time budget ran out before it was accepted (%d tries, last: %v)", in.title, in.tries, err))
			return false
		}
	}
}

// upload posts in.file as a multipart upload; it returns the video id of
// a 202, else the status (0 for a transport error) and an error.
func (s *chaosStack) upload(ctx context.Context, client *http.Client, in *chaosInput) (string, int, error) {
	data, err := os.ReadFile(in.file)
	if err != nil {
		return "", -1, err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("title", in.title)
	_ = mw.WriteField("tags", "chaos,"+in.kind)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, filepath.Base(in.file)))
	h.Set("Content-Type", "video/mp4")
	fw, err := mw.CreatePart(h)
	if err != nil {
		return "", -1, err
	}
	_, _ = fw.Write(data)
	if err := mw.Close(); err != nil {
		return "", -1, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.apiURL+"/v1/videos", &body)
	if err != nil {
		return "", -1, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+chaosToken)
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("POST /v1/videos: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusAccepted {
		return "", resp.StatusCode, fmt.Errorf("POST /v1/videos: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var acc struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &acc); err != nil || !contract.IsUUID(acc.ID) {
		return "", resp.StatusCode, fmt.Errorf("POST /v1/videos: 202 with body %q", b)
	}
	return acc.ID, resp.StatusCode, nil
}

// videoStatus is the part of GET /v1/videos/{id} the test reads.
type videoStatus struct {
	Status  string `json:"status"`
	Failure *struct {
		Stage  string `json:"stage"`
		Reason string `json:"reason"`
		Class  string `json:"class"`
	} `json:"failure"`
}

// status asks the API for a video's status. A video the API does not know
// (yet) has status "" and no error.
func (s *chaosStack) status(ctx context.Context, id string) (videoStatus, error) {
	var st videoStatus
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.apiURL+"/v1/videos/"+id, nil)
	if err != nil {
		return st, err
	}
	req.Header.Set("Authorization", "Bearer "+chaosToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch resp.StatusCode {
	case http.StatusOK:
		if err := json.Unmarshal(b, &st); err != nil {
			return st, fmt.Errorf("GET /v1/videos/%s: %w", id, err)
		}
		return st, nil
	case http.StatusNotFound:
		return st, nil
	}
	return st, fmt.Errorf("GET /v1/videos/%s: %s: %s", id, resp.Status, bytes.TrimSpace(b))
}

package e2e_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/harness"
	"github.com/vidpipe/vidpipe/platform/watch"
)

// TestAudioAssetEndToEnd drives an MP3 upload through the dev stack (the
// real binaries on kfake, MinIO and PostgreSQL): accepted by the API, it
// goes uploaded → playable → transcoded → thumbnailed → ready as an audio
// asset (media.kind "audio"): the M4A download plays (AAC, the whole
// duration), ffprobe plays the signed HLS master (audio-only variants),
// the poster is the waveform; search finds it; a reprocess makes
// generation 1 of it; a delete removes everything.
func TestAudioAssetEndToEnd(t *testing.T) {
	dir, err := os.MkdirTemp("", "vidpipe-audio-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // PostgreSQL runs as postgres under root
		t.Fatal(err)
	}
	run := startDev(t, devOptions(t, dir))
	defer run.stop(t)
	ep := run.ep
	alice := api{base: ep.APIURL, token: "dev-alice"}

	watchCtx, stopWatch := context.WithCancel(context.Background())
	var watched lockedBuffer
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- watch.Follow(watchCtx, watch.Options{Brokers: []string{ep.Brokers}, FromBeginning: true}, &watched)
	}()
	defer func() { stopWatch(); <-watchDone }()

	const seconds = 6.0
	mp3 := harness.MustAudio(t, dir, "mp3", seconds)
	id := alice.upload(t, mp3, "Morning birdsong", "birds,dawn")
	doc := alice.waitStatus(t, id, "ready", 3*time.Minute)

	if str(doc, "media", "kind") != contract.MediaKindAudio || field(doc, "media", "width") != 0.0 || str(doc, "media", "audio_codec") != "mp3" {
		t.Errorf("media %v, want an audio asset (mp3, no dimensions)", doc["media"])
	}
	rends, _ := doc["renditions"].([]any)
	if len(rends) != 1 || str(rends[0].(map[string]any), "name") != "audio" || str(doc, "links", "download") != str(rends[0].(map[string]any), "url") {
		t.Fatalf("renditions %v links %v, want the M4A only, linked as download", doc["renditions"], doc["links"])
	}
	if field(doc, "thumbnails", "poster", "width") != 1280.0 || field(doc, "thumbnails", "sprite") != nil {
		t.Errorf("thumbnails %v, want a 1280 px waveform poster and no sprite", doc["thumbnails"])
	}

	// The M4A download: AAC only, the whole duration.
	m4a := filepath.Join(dir, "download.m4a")
	resp, err := http.Get(str(doc, "links", "download"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET download: %v %v", err, resp)
	}
	f, _ := os.Create(m4a)
	_, _ = f.ReadFrom(resp.Body)
	resp.Body.Close()
	f.Close()
	probe := func(input string, extra ...string) (codecs string, duration float64) {
		t.Helper()
		args := append(extra, "-v", "error", "-show_entries", "stream=codec_type,codec_name:format=duration", "-of", "default=nw=1", input)
		out, err := exec.Command(harness.MustTool(t, "ffprobe"), args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ffprobe %s: %v\n%s", input, err, out)
		}
		var types []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			k, v, _ := strings.Cut(l, "=")
			switch k {
			case "codec_name", "codec_type":
				types = append(types, v)
			case "duration":
				duration, _ = strconv.ParseFloat(v, 64)
			}
		}
		return strings.Join(types, ","), duration
	}
	if codecs, d := probe(m4a); codecs != "aac,audio" || d < seconds-0.2 || d > seconds+0.2 {
		t.Errorf("download: streams %q, %.3f s; want AAC audio only of %v s", codecs, d, seconds)
	}
	// The signed HLS master plays (the API signs every playlist and
	// segment it leads to).
	master := str(doc, "hls", "master_url")
	if !strings.HasPrefix(master, "http") {
		master = ep.APIURL + master
	}
	if codecs, d := probe(master, "-protocol_whitelist", "http,https,tcp,tls,crypto,hls"); !strings.Contains(codecs, "aac") || d < seconds-0.5 || d > seconds+0.5 {
		t.Errorf("HLS master plays as %q for %.3f s, want AAC for %v s", codecs, d, seconds)
	}

	// Every step of the pipeline, on Kafka.
	waitFor(t, 30*time.Second, "watch shows every step of the audio asset", func() bool {
		w := watched.String()
		for _, topic := range []string{contract.TopicUploaded, contract.TopicPlayable, contract.TopicTranscoded, contract.TopicThumbnailed, contract.TopicReady} {
			found := false
			for _, l := range strings.Split(w, "\n") {
				if strings.Contains(l, topic+" ") && strings.Contains(l, id) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	})
	waitSearch(t, alice, "birdsong", id, true)

	// Reprocess: generation 1, again an audio asset.
	code, body := alice.do(t, "POST", "/v1/videos/"+id+"/reprocess", nil, "")
	if code != http.StatusAccepted || !strings.Contains(string(body), `"generation":1`) {
		t.Fatalf("reprocess: %d %s, want 202 generation 1", code, body)
	}
	doc = alice.waitDoc(t, id, "generation 1 ready", 3*time.Minute, func(d map[string]any) bool {
		return str(d, "status") == "ready" && field(d, "generation") == 1.0 && field(d, "reprocessing") == nil
	})
	if str(doc, "media", "kind") != contract.MediaKindAudio || !strings.Contains(str(doc, "links", "download"), "/g1/mp4/audio.m4a") {
		t.Errorf("after the reprocess: media %v links %v, want the audio asset's generation 1", doc["media"], doc["links"])
	}

	// Delete: nothing of it is left.
	mustDelete(t, alice, id, http.StatusAccepted)
	waitQuiet(t, ep.Brokers)
	mc, err := minio.New(ep.S3Endpoint, &minio.Options{Creds: credentials.NewStaticV4(ep.AccessKey, ep.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{contract.OutputPrefix(id), "uploads/" + id + "/"} {
		if keys := listKeys(t, mc, ep.Bucket, p); len(keys) != 0 {
			t.Errorf("objects left under %s after the delete: %v", p, keys)
		}
	}
	if code, body := alice.do(t, "GET", "/v1/videos/"+id, nil, ""); code != http.StatusNotFound {
		t.Errorf("GET after delete: %d %s", code, body)
	}
	waitSearch(t, alice, "birdsong", id, false)
}

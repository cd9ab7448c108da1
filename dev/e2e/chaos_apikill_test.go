package e2e_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/backoff"
)

// The API-kill fault kills -9 the upload API while uploads have their bytes
// stored but their video.uploaded not yet acknowledged. The broker runs in
// the test process (kfake), so it cannot be SIGSTOPped; instead a control
// function freezes every produce request that carries video.uploaded
// records (the API's publishes stall, as with a frozen broker), the API is
// killed while they stall, and then each held request meets one of the
// two fates of a request to a broker that froze: it is appended after all
// (the broker got it, the acknowledgement died with the API) or it is
// dropped (the connection is closed, nothing appended). Then the API
// starts again and the clients behave like real clients: a tus client
// resumes (HEAD, then PATCH from the offset the API reports, or an empty
// PATCH at offset = size) and must end with its upload finished (204) and
// announced; a multipart client whose request died posts the file again.
const (
	// apiKillTus and apiKillMultipart are the uploads started by each
	// API-kill fault, all finishing while the broker is frozen.
	apiKillTus       = 2
	apiKillMultipart = 2
	// apiHoldWait bounds the wait for those uploads' publishes to stall at
	// the broker. It stays below the API's publish timeout (15s), past
	// which the API gives up on its own and answers 503.
	apiHoldWait = 8 * time.Second
	// apiMultipartGrace is how long the fault waits for the multipart
	// uploads' records once every tus upload's is held.
	apiMultipartGrace = 2 * time.Second
	// apiClientsWait bounds the wait for the fault's clients to finish
	// after the API came back.
	apiClientsWait = 90 * time.Second
	// apiReadyWait bounds the wait for the restarted API's /readyz (its
	// status projection back in its consumer group).
	apiReadyWait = 90 * time.Second
)

// apiKillStats is what the API-kill faults did, for the summary.
type apiKillStats struct {
	mu sync.Mutex
	// kills counts API kills; hits those that found at least one of the
	// fault's uploads stalled between storing and announcing.
	kills, hits int
	// held counts the video.uploaded records stalled at the broker when
	// the API died (the fault's uploads and others); delivered and
	// dropped the records of the held requests by fate.
	held, delivered, dropped int
	// tusResumed counts tus uploads finished (204) by resuming after the
	// kill; tusRestarted those the API no longer knew (404), uploaded
	// again from scratch; multipartRetried multipart uploads posted again.
	// tusProbed counts the resumed ones that resumed with an empty PATCH
	// at offset = size, without a HEAD.
	tusResumed, tusProbed, tusRestarted, multipartRetried int
	// readyAfter is how long each restarted API took to answer /readyz
	// 200; notReady the restarts that did not within apiReadyWait.
	readyAfter []time.Duration
	notReady   []string
	watchers   sync.WaitGroup
}

// watchAPIReady polls the restarted API's /readyz on the side until it
// answers 200 or apiReadyWait passes, and records which.
func (d *chaosDriver) watchAPIReady(round int) {
	st := &d.apiKill
	url := d.s.apiOpsURL + "/readyz"
	st.watchers.Add(1)
	go func() {
		defer st.watchers.Done()
		start := time.Now()
		client := &http.Client{Timeout: 5 * time.Second}
		last := "no answer"
		for time.Since(start) < apiReadyWait {
			resp, err := client.Get(url)
			if err == nil {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					st.mu.Lock()
					st.readyAfter = append(st.readyAfter, time.Since(start).Round(100*time.Millisecond))
					st.mu.Unlock()
					return
				}
				last = fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(b))
			} else {
				last = err.Error()
			}
			time.Sleep(250 * time.Millisecond)
		}
		st.mu.Lock()
		st.notReady = append(st.notReady, fmt.Sprintf("round %d: last /readyz: %s", round, last))
		st.mu.Unlock()
	}()
}

// checkAPIReady waits for the readiness watchers and fails the test for
// every restarted API that was not ready within apiReadyWait.
func (d *chaosDriver) checkAPIReady() {
	st := &d.apiKill
	st.watchers.Wait()
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, n := range st.notReady {
		d.t.Errorf("upload-api not ready within %v of its restart after kill -9 (%s)", apiReadyWait, n)
	}
}

// uploadedFreeze holds the broker's produce requests for video.uploaded
// until release.
type uploadedFreeze struct {
	release chan struct{}

	mu       sync.Mutex
	released bool
	keys     []string // video ids of the held records, in arrival order
	// deliver decides the fate of each held request once released:
	// true appends it, false drops it.
	deliver func() bool
	// delivered and dropped count the records by fate.
	delivered, dropped int
}

// freezeUploaded installs the freeze on the running broker. Every
// produce request that carries video.uploaded records sleeps (kfake's
// SleepControl lets other connections go on) until release is closed;
// other produce requests pass.
func (s *chaosStack) freezeUploaded(deliver func() bool) *uploadedFreeze {
	f := &uploadedFreeze{release: make(chan struct{}), deliver: deliver}
	c := s.k.Cluster
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		f.mu.Lock()
		released := f.released
		f.mu.Unlock()
		if released {
			c.DropControl()
			return nil, nil, false
		}
		req, ok := kreq.(*kmsg.ProduceRequest)
		if !ok {
			return nil, nil, false
		}
		keys := uploadedKeys(req)
		if len(keys) == 0 {
			return nil, nil, false
		}
		f.mu.Lock()
		f.keys = append(f.keys, keys...)
		f.mu.Unlock()
		c.SleepControl(func() { <-f.release })
		f.mu.Lock()
		deliver := f.deliver()
		if deliver {
			f.delivered += len(keys)
		} else {
			f.dropped += len(keys)
		}
		f.mu.Unlock()
		if deliver {
			return nil, nil, false // the broker handles it: appended
		}
		c.KeepControl()
		return nil, errors.New("chaos: produce request dropped by the frozen broker"), true
	})
	return f
}

// heldKeys returns the video ids of the records held so far.
func (f *uploadedFreeze) heldKeys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.keys)
}

// thaw releases the held requests (each meets its fate) and lets every
// later request through.
func (f *uploadedFreeze) thaw() {
	f.mu.Lock()
	if f.released {
		f.mu.Unlock()
		return
	}
	f.released = true
	f.mu.Unlock()
	close(f.release)
}

// uploadedKeys returns the record keys of req's video.uploaded batches.
func uploadedKeys(req *kmsg.ProduceRequest) []string {
	var keys []string
	for _, t := range req.Topics {
		if t.Topic != contract.TopicUploaded {
			continue
		}
		for _, p := range t.Partitions {
			keys = append(keys, recordBatchKeys(p.Records)...)
		}
	}
	return keys
}

// recordBatchKeys returns the keys of the records in b, a sequence of
// uncompressed v2 record batches (what the API's writer sends); a
// compressed batch counts as one record with an empty key.
func recordBatchKeys(b []byte) []string {
	var keys []string
	for len(b) >= 12 {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b); err != nil {
			return append(keys, "")
		}
		if rb.Attributes&0x07 != 0 {
			keys = append(keys, "")
		} else {
			recs := rb.Records
			for range rb.NumRecords {
				l, n := binary.Varint(recs)
				if n <= 0 || int(l) < 0 || n+int(l) > len(recs) {
					break
				}
				var r kmsg.Record
				if err := r.ReadFrom(recs[:n+int(l)]); err == nil {
					keys = append(keys, string(r.Key))
				}
				recs = recs[n+int(l):]
			}
		}
		end := 12 + int(rb.Length)
		if end <= 12 || end > len(b) {
			break
		}
		b = b[end:]
	}
	return keys
}

// killAPI is the API-kill fault: it starts apiKillTus tus uploads and
// apiKillMultipart multipart uploads, freezes the broker for video.uploaded
// while they finish, kills -9 the API once their publishes stall (at most
// apiHoldWait), thaws the broker, starts the API again and waits until
// every one of the fault's clients is done (accepted, or out of time).
func (d *chaosDriver) killAPI(ctx context.Context, round int) {
	s := d.s
	st := &d.apiKill
	var ins []*chaosInput
	for i := range apiKillTus {
		ins = append(ins, &chaosInput{kind: kindGood, via: viaTus, file: d.media.good,
			title: fmt.Sprintf("Chaos API kill r%d tus %d", round, i+1)})
	}
	for i := range apiKillMultipart {
		ins = append(ins, &chaosInput{kind: kindGood, via: viaMultipart, file: d.media.good,
			title: fmt.Sprintf("Chaos API kill r%d multipart %d", round, i+1)})
	}
	d.inputs = append(d.inputs, ins...)

	// tus uploads are created (empty) before the freeze: the fault's
	// window is their final PATCH.
	tc := &tusClient{base: s.apiURL, http: &http.Client{Timeout: 2 * time.Minute}}
	tusUps := map[*chaosInput]*tusUpload{}
	for _, in := range ins {
		if in.via != viaTus {
			continue
		}
		up, err := tc.createRetrying(ctx, in)
		if err != nil {
			d.t.Errorf("API kill: %s: create tus upload: %v", in.title, err)
			continue
		}
		tusUps[in] = up
	}

	// The fates are drawn from a generator of their own: they are drawn on
	// the broker's goroutines (under the freeze's lock).
	fates := rand.New(rand.NewPCG(d.rng.Uint64(), d.rng.Uint64()))
	freeze := s.freezeUploaded(func() bool { return fates.IntN(2) == 0 })
	defer freeze.thaw()
	res := d.up
	var clients sync.WaitGroup
	tusN := 0
	for _, in := range ins {
		probe := false
		if in.via == viaTus {
			tusN++
			probe = tusN%2 == 0 // every other tus client resumes without a HEAD
		}
		clients.Add(1)
		go func() {
			defer clients.Done()
			if in.via == viaTus {
				if up := tusUps[in]; up != nil {
					d.tusUntilFinished(ctx, tc, in, up, probe, res)
				}
				return
			}
			s.uploadUntilAccepted(ctx, &http.Client{Timeout: 2 * time.Minute}, in, res, func() {
				st.mu.Lock()
				st.multipartRetried++
				st.mu.Unlock()
			})
		}()
	}

	// Wait until every tus upload's publish stalls at the broker, and as
	// many records as the fault has uploads, or apiMultipartGrace more
	// (the API's writer sends one request per partition at a time, so a
	// multipart upload's record may wait in the API behind a stalled one:
	// stored, not announced all the same).
	deadline := time.Now().Add(apiHoldWait)
	var held []string
	var tusAllHeld time.Time
	for {
		held = freeze.heldKeys()
		allTus := true
		for _, up := range tusUps {
			allTus = allTus && slices.Contains(held, up.id)
		}
		if allTus && tusAllHeld.IsZero() {
			tusAllHeld = time.Now()
		}
		if allTus && (len(held) >= len(ins) || time.Since(tusAllHeld) > apiMultipartGrace) ||
			time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	tusHeld := 0
	for _, up := range tusUps {
		if slices.Contains(held, up.id) {
			tusHeld++
		}
	}
	s.api.signal(d.t, syscall.SIGKILL)
	_ = s.api.wait(d.t, 10*time.Second)
	freeze.thaw()
	// Let the held requests meet their fate before the API comes back.
	var delivered, dropped int
	for wait := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		freeze.mu.Lock()
		delivered, dropped = freeze.delivered, freeze.dropped
		freeze.mu.Unlock()
		if delivered+dropped >= len(held) || time.Now().After(wait) {
			break
		}
	}
	st.mu.Lock()
	st.kills++
	if len(held) > 0 {
		st.hits++
	}
	st.held += len(held)
	st.delivered += delivered
	st.dropped += dropped
	st.mu.Unlock()
	d.note("kill -9 upload-api with %d video.uploaded record(s) stalled at the frozen broker (%d of %d tus uploads' last PATCH among them); thawed: %d appended after the kill, %d dropped",
		len(held), tusHeld, len(tusUps), delivered, dropped)
	if len(held) == 0 {
		d.t.Errorf("API kill (round %d): no upload was between storing and announcing within %v: the fault tested nothing", round, apiHoldWait)
	}

	// Clients reach the API as soon as it serves (/healthz); its
	// readiness waits for the status projection to rejoin its group,
	// which takes the dead member's session timeout: watched on the side
	// (checkAPIReady).
	s.api.restartAfterExit(d.t)
	d.watchAPIReady(round)

	done := make(chan struct{})
	go func() { clients.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(apiClientsWait):
		var pending []string
		for _, in := range ins {
			if in.accepted() == "" {
				pending = append(pending, in.title)
			}
		}
		d.t.Errorf("API kill (round %d): uploads not accepted within %v of the API's restart: %s",
			round, apiClientsWait, strings.Join(pending, ", "))
		<-done // the clients stop at ctx's end
	}
}

// tusUntilFinished sends the upload's bytes and, whenever the request
// dies or the API answers 503, resumes as a tus client does: HEAD for the
// offset (404: the API dropped the upload, start over), then PATCH the
// rest (an empty PATCH at offset = size to learn that it is finished).
// With probe, it first assumes every byte arrived and sends the empty
// PATCH at offset = size without a HEAD (409: it did not, so HEAD), as a
// client that saw its whole body sent does. The upload counts as accepted
// when a PATCH answers 204 at offset = size.
func (d *chaosDriver) tusUntilFinished(ctx context.Context, tc *tusClient, in *chaosInput, up *tusUpload, probe bool, res *uploadResult) {
	st := &d.apiKill
	data, err := os.ReadFile(in.file)
	if err != nil {
		res.fail(fmt.Errorf("%s: %v", in.title, err))
		return
	}
	offset, resumed := int64(0), false
	for {
		in.addTry()
		newOffset, status, err := tc.patch(ctx, up, offset, data[offset:])
		if err == nil && newOffset == int64(len(data)) {
			in.setID(up.id)
			if resumed {
				st.mu.Lock()
				st.tusResumed++
				if probe {
					st.tusProbed++
				}
				st.mu.Unlock()
			}
			return
		}
		if err == nil {
			offset = newOffset
			continue
		}
		if status != 0 && status != http.StatusServiceUnavailable && status != http.StatusConflict && status != http.StatusNotFound {
			res.fail(fmt.Errorf("%s: tus upload %s: %v", in.title, up.id, err))
			return
		}
		res.rejected(status)
		resumed = true
		if probe && status != http.StatusConflict && status != http.StatusNotFound {
			if !backoff.Sleep(ctx, 500*time.Millisecond) {
				res.fail(fmt.Errorf("%s: tus upload %s not finished before the deadline (%d tries, last: %v)", in.title, up.id, in.tries, err))
				return
			}
			offset = int64(len(data))
			continue
		}
		// Resume: ask for the offset until the API answers.
		for {
			if !backoff.Sleep(ctx, 500*time.Millisecond) {
				res.fail(fmt.Errorf("%s: tus upload %s not finished before the deadline (%d tries, last: %v)", in.title, up.id, in.tries, err))
				return
			}
			var hs int
			offset, hs, err = tc.head(ctx, up)
			if err == nil {
				break
			}
			if hs == http.StatusNotFound || hs == http.StatusGone {
				// The API dropped the upload: start over.
				nu, cerr := tc.createRetrying(ctx, in)
				if cerr != nil {
					res.fail(fmt.Errorf("%s: tus upload %s gone (%v), create again: %v", in.title, up.id, err, cerr))
					return
				}
				d.note("tus upload %s (%s) unknown to the API after the kill: started over as %s", up.id, in.title, nu.id)
				st.mu.Lock()
				st.tusRestarted++
				st.mu.Unlock()
				up, offset, err = nu, 0, nil
				break
			}
			if hs != 0 && hs != http.StatusServiceUnavailable && hs != http.StatusConflict {
				res.fail(fmt.Errorf("%s: tus upload %s: %v", in.title, up.id, err))
				return
			}
			res.rejected(hs)
		}
	}
}

// tusClient speaks tus 1.0 (core and creation) to the API.
type tusClient struct {
	base string
	http *http.Client
}

// tusUpload is one tus upload: its URL and id (the video id).
type tusUpload struct {
	url, id string
	size    int64
}

func tusMetadata(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

func (c *tusClient) do(ctx context.Context, method, u string, body []byte, hdr map[string]string) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+chaosToken)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp, b, nil
}

// create creates an upload of in.file's size; status is 0 on a transport
// error.
func (c *tusClient) create(ctx context.Context, in *chaosInput) (*tusUpload, int, error) {
	fi, err := os.Stat(in.file)
	if err != nil {
		return nil, -1, err
	}
	resp, b, err := c.do(ctx, http.MethodPost, c.base+"/v1/uploads/", nil, map[string]string{
		"Upload-Length":   strconv.FormatInt(fi.Size(), 10),
		"Upload-Metadata": tusMetadata("filename", path.Base(in.file), "title", in.title, "tags", "chaos,"+in.kind+",tus"),
	})
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, resp.StatusCode, fmt.Errorf("POST /v1/uploads/: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	base, _ := url.Parse(c.base + "/v1/uploads/")
	loc, err := base.Parse(resp.Header.Get("Location"))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("POST /v1/uploads/: Location %q: %v", resp.Header.Get("Location"), err)
	}
	id := path.Base(loc.Path)
	if !contract.IsUUID(id) {
		return nil, resp.StatusCode, fmt.Errorf("POST /v1/uploads/: Location %q does not end with a video id", loc)
	}
	return &tusUpload{url: loc.String(), id: id, size: fi.Size()}, resp.StatusCode, nil
}

// createRetrying creates an upload, retrying transport errors and 503s
// until ctx is done.
func (c *tusClient) createRetrying(ctx context.Context, in *chaosInput) (*tusUpload, error) {
	for {
		up, status, err := c.create(ctx, in)
		if err == nil {
			return up, nil
		}
		if status != 0 && status != http.StatusServiceUnavailable {
			return nil, err
		}
		if !backoff.Sleep(ctx, 500*time.Millisecond) {
			return nil, fmt.Errorf("not created before the deadline: %w", err)
		}
	}
}

// patch sends data at offset; it returns the new offset of a 204, else the
// status (0: transport error) and an error.
func (c *tusClient) patch(ctx context.Context, up *tusUpload, offset int64, data []byte) (int64, int, error) {
	resp, b, err := c.do(ctx, http.MethodPatch, up.url, data, map[string]string{
		"Content-Type":  "application/offset+octet-stream",
		"Upload-Offset": strconv.FormatInt(offset, 10),
	})
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusNoContent {
		return 0, resp.StatusCode, fmt.Errorf("PATCH %s at %d: %s: %s", up.url, offset, resp.Status, bytes.TrimSpace(b))
	}
	n, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		return 0, resp.StatusCode, fmt.Errorf("PATCH %s: 204 with Upload-Offset %q", up.url, resp.Header.Get("Upload-Offset"))
	}
	return n, resp.StatusCode, nil
}

// head returns the upload's offset, else the status (0: transport error)
// and an error.
func (c *tusClient) head(ctx context.Context, up *tusUpload) (int64, int, error) {
	resp, b, err := c.do(ctx, http.MethodHead, up.url, nil, nil)
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return 0, resp.StatusCode, fmt.Errorf("HEAD %s: %s: %s", up.url, resp.Status, bytes.TrimSpace(b))
	}
	n, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || n < 0 || n > up.size {
		return 0, resp.StatusCode, fmt.Errorf("HEAD %s: Upload-Offset %q for %d bytes", up.url, resp.Header.Get("Upload-Offset"), up.size)
	}
	return n, resp.StatusCode, nil
}

func TestChaosRecordBatchKeys(t *testing.T) {
	record := func(key string) []byte {
		r := kmsg.Record{Key: []byte(key), Value: []byte(`{"video_id":"` + key + `"}`),
			Headers: []kmsg.Header{{Key: contract.HeaderID, Value: []byte("id")}}}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // everything after the 1-byte varint 0
		return r.AppendTo(nil)
	}
	batch := func(keys ...string) []byte {
		var recs []byte
		for _, k := range keys {
			recs = append(recs, record(k)...)
		}
		b := kmsg.RecordBatch{Magic: 2, NumRecords: int32(len(keys)), Records: recs}
		b.Length = int32(len(b.AppendTo(nil)) - 12) // after FirstOffset and Length
		return b.AppendTo(nil)
	}
	tests := map[string]struct {
		b    []byte
		want []string
	}{
		"one batch":     {b: batch("a", "b"), want: []string{"a", "b"}},
		"two batches":   {b: append(batch("a"), batch("b", "c")...), want: []string{"a", "b", "c"}},
		"empty":         {},
		"truncated end": {b: batch("a")[:20], want: []string{""}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := recordBatchKeys(tc.b); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	long := make([]byte, 0, 200)
	for range 150 {
		long = append(long, 'k')
	}
	if got := recordBatchKeys(batch(string(long))); len(got) != 1 || got[0] != string(long) {
		t.Errorf("a key longer than one varint byte: got %q", got)
	}
}

package scenario

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/dev/bench/report"
	"github.com/vidpipe/vidpipe/dev/bench/stats"
	"github.com/vidpipe/vidpipe/dev/devstack"
	"github.com/vidpipe/vidpipe/platform/storage"
)

// uploadTarget is each API method's throughput target, a fraction of the
// direct PUT: the upload issue asks 0.9× of POST /v1/videos; tus keeps
// 0.8×.
var uploadTarget = map[string]float64{"multipart": 0.9, "tus": 0.8}

// UploadOptions configure the upload scenario.
type UploadOptions struct {
	// Bytes per upload. Default: 1 GiB.
	Bytes int64
	// Runs per method. Default: 3.
	Runs int
}

// generated yields n bytes made on the fly: head (the start of a real MP4,
// so the API's sniffer accepts it), then a 1 MiB random block repeated
// with a varying first byte. Only the block is held in memory.
type generated struct {
	head  []byte
	block []byte
	n     int64
	off   int64
}

func newGenerated(head []byte, n int64) *generated {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return &generated{head: head, block: b, n: n}
}

func (g *generated) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	if rest := g.n - g.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	var n int
	if g.off < int64(len(g.head)) {
		n = copy(p, g.head[g.off:])
	} else {
		i := int(g.off % int64(len(g.block)))
		n = copy(p, g.block[i:])
		p[0] ^= byte(g.off >> 20)
	}
	g.off += int64(n)
	return n, nil
}

// apiClient calls the upload API as the dev user alice.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func newAPIClient(base string) *apiClient {
	return &apiClient{base: base, token: devstack.DevToken, http: &http.Client{Transport: &http.Transport{DisableCompression: true}}}
}

// postVideo streams body as the file part of POST /v1/videos and returns
// the video id from the 202 answer.
func (c *apiClient) postVideo(ctx context.Context, filename, title string, body io.Reader) (string, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := mw.WriteField("title", title)
		if err == nil {
			var fw io.Writer
			if fw, err = mw.CreateFormFile("file", filename); err == nil {
				_, err = io.Copy(fw, body)
			}
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/videos", pr)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("POST /v1/videos: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("POST /v1/videos: %s: %s", resp.Status, b)
	}
	var acc struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &acc); err != nil || acc.ID == "" {
		return "", fmt.Errorf("POST /v1/videos: answer %s: %v", b, err)
	}
	return acc.ID, nil
}

// tusUpload creates a tus upload of size bytes and sends body in one
// PATCH; it returns the video id once the final PATCH is answered.
func (c *apiClient) tusUpload(ctx context.Context, filename, title string, size int64, body io.Reader) (string, error) {
	meta := []string{
		"filename " + base64.StdEncoding.EncodeToString([]byte(filename)),
		"title " + base64.StdEncoding.EncodeToString([]byte(title)),
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/uploads/", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	req.Header.Set("Upload-Metadata", strings.Join(meta, ","))
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("tus create: %w", err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || loc == "" {
		return "", fmt.Errorf("tus create: %s (Location %q): %s", resp.Status, loc, b)
	}
	if !strings.HasPrefix(loc, "http") {
		loc = c.base + loc
	}
	id := loc[strings.LastIndex(loc, "/")+1:]

	req, err = http.NewRequestWithContext(ctx, http.MethodPatch, loc, body)
	if err != nil {
		return "", err
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err = c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("tus PATCH: %w", err)
	}
	b, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return "", fmt.Errorf("tus PATCH: %s: %s", resp.Status, b)
	}
	if off := resp.Header.Get("Upload-Offset"); off != strconv.FormatInt(size, 10) {
		return "", fmt.Errorf("tus PATCH: Upload-Offset %q after the whole body, want %d", off, size)
	}
	return id, nil
}

// Upload compares POST /v1/videos and a tus upload through the real
// upload-api process with a direct PutObject to MinIO, for the same
// generated bytes, and records the API's peak RSS.
func Upload(ctx context.Context, env Env, o UploadOptions) *report.Section {
	if o.Bytes <= 0 {
		o.Bytes = 1 << 30
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
	s := &report.Section{
		Title: "2. Upload",
		Intro: fmt.Sprintf("%s generated on the fly (the first 4 KiB of a real MP4, then a 1 MiB random block repeated; never held in memory) and streamed "+
			"four ways, interleaved, %d runs each, from the driver process over loopback to a real MinIO: **direct** = minio-go `PutObject`, once with the size known "+
			"(minio-go's defaults) and once with size -1 and 16 MiB parts (minio-go reads a part, then sends it); the faster of the two is the baseline "+
			"(what a client does alone); **direct PutStream** = the API's own S3 path (`storage.PutStream` with its defaults: a part sent while the next is read, "+
			"CRC32C instead of a payload SHA-256) driven from the driver, not a baseline: it shows what the API's hop costs beside its S3 path; **multipart** = `POST /v1/videos` (multipart/form-data) to the real upload-api binary "+
			"with its default configuration; "+
			"**tus** = tus 1.0 creation then one `PATCH` with the whole body. An API upload's time ends when the API has answered, i.e. after the object is "+
			"stored and `video.uploaded` is acknowledged by Kafka. Each API method has its own upload-api process, so its peak RSS (VmHWM from /proc/PID/status) "+
			"is that method's alone. Objects are deleted after each run.", mib(o.Bytes), o.Runs),
	}
	return run(s, func() error {
		st, err := StartStack(ctx, env, "upload-stack")
		if err != nil {
			return err
		}
		defer st.Stop()

		clip := filepath.Join(env.Dir, "clips", "head.mp4")
		if err := os.MkdirAll(filepath.Dir(clip), 0o755); err != nil {
			return err
		}
		if err := makeClip(ctx, clip, 640, 360, 1); err != nil {
			return err
		}
		head, err := os.ReadFile(clip)
		if err != nil {
			return err
		}
		head = head[:min(len(head), 4096)]

		apis := map[string]*Service{}
		idle := map[string]int64{}
		for _, m := range []string{"multipart", "tus"} {
			tusDir := filepath.Join(env.Dir, "upload-stack", "tus-"+m)
			if err := os.MkdirAll(tusDir, 0o755); err != nil {
				return err
			}
			sv, err := st.StartService(ctx, env, devstack.UploadAPI, "upload-api-"+m, "VIDPIPE_API_TUS_TEMP_DIR="+tusDir)
			if err != nil {
				return err
			}
			defer sv.Stop(syscall.SIGTERM, 15*time.Second)
			apis[m] = sv
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return err
		}
		for m, sv := range apis {
			idle[m], _ = sv.PeakRSS()
		}

		// The API's own S3 path, driven from the driver: what the API adds
		// besides it is the hop.
		store, err := storage.New(st.Infra.S3Config())
		if err != nil {
			return err
		}
		methods := []string{"direct", "direct-nolen", "direct-stream", "multipart", "tus"}
		secs := map[string][]float64{}
		apiCPU := map[string][]float64{} // upload-api CPU seconds per GiB
		for r := range o.Runs {
			for i := range methods {
				m := methods[(i+r)%len(methods)]
				env.Log.Info("upload", "method", m, "run", r+1, "bytes", o.Bytes)
				var cpu0 float64
				if sv := apis[m]; sv != nil {
					if cpu0, err = sv.CPUSeconds(); err != nil {
						return err
					}
				}
				d, key, err := uploadOnce(ctx, st, store, apis, m, head, o.Bytes)
				if err != nil {
					return fmt.Errorf("%s run %d: %w", m, r+1, err)
				}
				if sv := apis[m]; sv != nil {
					cpu1, err := sv.CPUSeconds()
					if err != nil {
						return err
					}
					apiCPU[m] = append(apiCPU[m], (cpu1-cpu0)/(float64(o.Bytes)/(1<<30)))
				}
				secs[m] = append(secs[m], d.Seconds())
				if err := st.S3.RemoveObject(ctx, st.Bucket, key, minio.RemoveObjectOptions{}); err != nil {
					return fmt.Errorf("remove %s: %w", key, err)
				}
			}
		}

		mibps := func(sec float64) float64 { return float64(o.Bytes) / (1 << 20) / sec }
		rates := map[string][]float64{}
		for m, xs := range secs {
			for _, x := range xs {
				rates[m] = append(rates[m], mibps(x))
			}
		}
		// The baseline is the direct variant with the higher median: the
		// floor the API is held to is the best a client can do alone. The
		// checks use the median of the per-run ratios (the methods of one run
		// are close in time).
		known, unknown := stats.Median(rates["direct"]), stats.Median(rates["direct-nolen"])
		base, baseName := "direct", "direct PUT, size known"
		if unknown > known {
			base, baseName = "direct-nolen", "direct PUT, size -1"
		}
		direct := stats.Median(rates[base])
		paired := func(m, b string) []float64 {
			var out []float64
			for i := range rates[b] {
				out = append(out, stats.Ratio(rates[m][i], rates[b][i]))
			}
			return out
		}
		tbl := report.Table{
			Caption: "Throughput (MiB/s = 2^20 bytes/s) and the API's cost; ratios are medians of per-run ratios",
			Header: []string{"method", "MiB/s (median)", "runs (MiB/s)", "÷ baseline (" + baseName + ")", "÷ direct size -1",
				"÷ direct storage.PutStream (the API's S3 path without the hop)", "upload-api CPU s per GiB", "upload-api VmHWM idle", "upload-api VmHWM after the runs"},
		}
		tbl.AddRow("direct PutObject, size known", f1(known), list(rates["direct"], f1), f2(stats.Median(paired("direct", base))), f2(stats.Median(paired("direct", "direct-nolen"))),
			f2(stats.Median(paired("direct", "direct-stream"))), "—", "—", "—")
		tbl.AddRow("direct PutObject, size -1, 16 MiB parts", f1(unknown), list(rates["direct-nolen"], f1), f2(stats.Median(paired("direct-nolen", base))), "1.00",
			f2(stats.Median(paired("direct-nolen", "direct-stream"))), "—", "—", "—")
		tbl.AddRow("direct storage.PutStream, 16 MiB parts (not a baseline)", f1(stats.Median(rates["direct-stream"])), list(rates["direct-stream"], f1),
			f2(stats.Median(paired("direct-stream", base))), f2(stats.Median(paired("direct-stream", "direct-nolen"))), "1.00", "—", "—", "—")
		for _, m := range []string{"multipart", "tus"} {
			peak, err := apis[m].PeakRSS()
			if err != nil {
				return err
			}
			med := stats.Median(rates[m])
			rs := paired(m, base)
			name := map[string]string{"multipart": "POST /v1/videos (multipart)", "tus": "tus (create + one PATCH)"}[m]
			tbl.AddRow(name, f1(med), list(rates[m], f1), f2(stats.Median(rs)), f2(stats.Median(paired(m, "direct-nolen"))),
				f2(stats.Median(paired(m, "direct-stream"))), f2(stats.Median(apiCPU[m])), mib(idle[m]), mib(peak))
			s.Checks = append(s.Checks,
				report.Check{
					Name: m + " throughput ÷ " + baseName, Value: stats.Median(rs),
					Detail: fmt.Sprintf("median of %d per-run ratios; medians %.0f vs %.0f MiB/s", len(rs), med, direct),
					Target: stats.Target{Dir: stats.AtLeast, Value: uploadTarget[m], Unit: "×"},
				},
				report.Check{
					Name: "upload-api peak RSS, " + m, Value: float64(peak) / (1 << 20), Format: "%.1f MiB",
					Detail: fmt.Sprintf("VmHWM over %d × %s", o.Runs, mib(o.Bytes)),
					Target: stats.Target{Dir: stats.AtMost, Value: 100, Unit: " MiB"},
				})
		}
		s.Tables = append(s.Tables, tbl)
		s.Notes = append(s.Notes, "The driver, MinIO and upload-api share the same 2 cores, so an API upload pays for one more process hop "+
			"(client → API → MinIO) on the same CPUs; the direct PUT is the floor. POST /v1/videos reads the body in 256 KiB reads and streams the file "+
			"through storage.PutStream: 16 MiB parts, each sent while the next is read (api.upload_parallel_parts 1, spare buffers from api.upload_buffer_bytes), "+
			"each with a CRC32C that MinIO verifies instead of the SHA-256 of every 64 KiB chunk that minio-go's streaming signature computes on http:// "+
			"(and MinIO checks) for the direct PUTs. tus buffers each part in a temporary file before sending it to S3 "+
			"(tusd's S3 store), which costs disk writes the other two methods do not make.")
		return nil
	})
}

// uploadOnce uploads size generated bytes with method and returns the
// time taken and the object key.
func uploadOnce(ctx context.Context, st *Stack, store *storage.Store, apis map[string]*Service, method string, head []byte, size int64) (time.Duration, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	body := newGenerated(head, size)
	start := time.Now()
	switch method {
	case "direct":
		key := "bench/direct/" + contract.NewID()
		info, err := st.S3.PutObject(ctx, st.Bucket, key, body, size, minio.PutObjectOptions{ContentType: "video/mp4"})
		if err != nil {
			return 0, "", fmt.Errorf("PutObject: %w", err)
		}
		if info.Size != size {
			return 0, "", fmt.Errorf("PutObject stored %d bytes, want %d", info.Size, size)
		}
		return time.Since(start), key, nil
	case "direct-nolen":
		key := "bench/direct/" + contract.NewID()
		info, err := st.S3.PutObject(ctx, st.Bucket, key, body, -1, minio.PutObjectOptions{ContentType: "video/mp4", PartSize: 16 << 20})
		if err != nil {
			return 0, "", fmt.Errorf("PutObject: %w", err)
		}
		if info.Size != size {
			return 0, "", fmt.Errorf("PutObject stored %d bytes, want %d", info.Size, size)
		}
		return time.Since(start), key, nil
	case "direct-stream":
		key := "bench/direct/" + contract.NewID()
		info, err := store.PutStream(ctx, key, body, storage.StreamOptions{ContentType: "video/mp4"})
		if err != nil {
			return 0, "", err
		}
		if info.Size != size {
			return 0, "", fmt.Errorf("PutStream stored %d bytes, want %d", info.Size, size)
		}
		return time.Since(start), key, nil
	case "multipart", "tus":
		c := newAPIClient(apis[method].URL(""))
		var id string
		var err error
		if method == "multipart" {
			id, err = c.postVideo(ctx, "large.mp4", "Bench upload", body)
		} else {
			id, err = c.tusUpload(ctx, "large.mp4", "Bench upload", size, body)
		}
		if err != nil {
			return 0, "", err
		}
		d := time.Since(start)
		key := contract.SourceKey(id)
		info, err := st.S3.StatObject(ctx, st.Bucket, key, minio.StatObjectOptions{})
		if err != nil {
			return 0, "", fmt.Errorf("stat %s: %w", key, err)
		}
		if info.Size != size {
			return 0, "", fmt.Errorf("%s has %d bytes, want %d", key, info.Size, size)
		}
		return d, key, nil
	}
	return 0, "", errors.New("unknown method " + method)
}

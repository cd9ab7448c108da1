package server

import (
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"testing"
	"time"
)

// BenchmarkUploadMultipart posts a 256 MiB file generated on the fly as
// multipart/form-data to a real API on real MinIO, Kafka and PostgreSQL:
// the handler's own costs (parsing, copies, the S3 part uploads). Profile
// it with -cpuprofile; bench scenario 2 measures the whole process.
func BenchmarkUploadMultipart(b *testing.B) {
	const size = 256 << 20
	e := mustEnv(b)
	head := mustClip(b)[:4096]
	b.SetBytes(size)
	for b.Loop() {
		src := newPatternReader(head, size)
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			err := mw.WriteField("title", "Bench")
			if err == nil {
				var fw io.Writer
				if fw, err = mw.CreateFormFile("file", "bench.mp4"); err == nil {
					_, err = io.Copy(fw, src)
				}
			}
			if err == nil {
				err = mw.Close()
			}
			pw.CloseWithError(err)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.URL+"/v1/videos", pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		mustAccepted(b, resp, body)
	}
}

package tusupload

import (
	"time"

	"github.com/vidpipe/vidpipe/platform/workdir"
)

// TempPrefix is the name prefix of the part buffer files tusd's S3
// store (v2.9.1) creates in its temporary directory (api.tus_temp_dir): one
// per part being received, queued or sent to S3, and one while an
// unfinished part is read back from S3.
const TempPrefix = "tusd-s3-tmp-"

// TempGrace is how long, beyond api.body_idle_timeout, a part buffer
// file may go unmodified before SweepTemp treats it as abandoned.
const TempGrace = time.Hour

// TempMaxAge is the age (time since the last modification) past which
// a tusd part buffer file is abandoned: bodyIdleTimeout + TempGrace,
// so with the default api.body_idle_timeout (1m) it is 1h1m.
//
// A live file is modified with every byte a PATCH body delivers, and a
// body that pauses longer than bodyIdleTimeout is dropped; once written,
// the file waits for one of the store's concurrent part uploads and is
// removed when its UploadPart ends, which takes seconds to minutes, far
// less than TempGrace. Deleting a live file would fail its PATCH (the
// client resumes from the last stored part), never corrupt the upload.
func TempMaxAge(bodyIdleTimeout time.Duration) time.Duration {
	return bodyIdleTimeout + TempGrace
}

// SweepTemp removes the tusd part buffer files in dir (the OS temp dir
// when empty) older than TempMaxAge(bodyIdleTimeout), and returns how
// many it removed. tusd v2.9.1 leaves such files behind when the process
// is killed, when a request ends while its part queue is full, and when
// reading back an unfinished part fails. The sweep is by age only, so
// replicas may share dir; run it at start.
func SweepTemp(dir string, bodyIdleTimeout time.Duration) (int, error) {
	return workdir.SweepFiles(dir, TempPrefix, TempMaxAge(bodyIdleTimeout))
}

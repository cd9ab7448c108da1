package tusupload

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/services/upload-api/apierror"
)

// keys lists the objects under prefix.
func (t *Handler) keys(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(t.store.s3, &s3.ListObjectsV2Input{Bucket: aws.String(t.store.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

// Sweep announces every finished tus upload that was never announced
// (video.uploaded not acknowledged, the process killed mid-publish) and
// returns how many it announced. It removes nothing, except uploads that
// fail the sniff, which were never announced. The server's recovery runs
// it at start and every api.recovery_interval.
func (t *Handler) Sweep(ctx context.Context) (int, error) {
	keys, err := t.keys(ctx, tusMetaPrefix+"uploads/")
	if err != nil {
		return 0, fmt.Errorf("tus sweep: %w", err)
	}
	type state struct{ info, submitted bool }
	byID := map[string]*state{}
	for _, key := range keys {
		rest, ok := strings.CutPrefix(key, tusMetaPrefix)
		if !ok {
			continue
		}
		// rest is uploads/{id}/source.info or uploads/{id}/source.submitted.
		id, _, _ := strings.Cut(strings.TrimPrefix(rest, "uploads/"), "/")
		suffix := strings.TrimPrefix(rest, contract.SourceKey(id))
		if !contract.IsUUID(id) || (suffix != ".info" && suffix != ".submitted") {
			continue
		}
		st := byID[id]
		if st == nil {
			st = &state{}
			byID[id] = st
		}
		switch suffix {
		case ".info":
			st.info = true
		case ".submitted":
			st.submitted = true
		}
	}
	var errs []error
	n := 0
	for id, st := range byID {
		if !st.info || st.submitted {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if finished, err := t.store.sourceExists(ctx, id); err != nil || !finished {
			if err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := t.recover(ctx, id); err != nil {
			var ae *apierror.Error
			if errors.As(err, &ae) && ae.Status < 500 {
				t.log.InfoContext(ctx, "tus sweep: finished upload rejected", "video_id", id, "code", ae.Code)
				continue
			}
			errs = append(errs, fmt.Errorf("video %s: %w", id, err))
			continue
		}
		t.log.InfoContext(ctx, "tus sweep: finished upload announced", "video_id", id)
		n++
	}
	return n, errors.Join(errs...)
}

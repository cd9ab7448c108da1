package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/dlq"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// Redriver is what POST /v1/videos/{id}/retry needs of platform/dlq
// (a *dlq.Admin with the API's Kafka and S3 settings).
type Redriver interface {
	Redrive(ctx context.Context, stage contract.Stage, opts dlq.RedriveOptions) ([]dlq.Record, error)
}

var _ Redriver = (*dlq.Admin)(nil)

// actionResponse is the body of a 202 from retry and reprocess.
type actionResponse struct {
	ID string `json:"id"`
	// Status is the video's status when the request was accepted (the
	// projection moves on as the work progresses).
	Status string `json:"status"`
	// Generation is the output generation the work is for.
	Generation int `json:"generation"`
	// Redriven is the number of dead letters redriven (retry only).
	Redriven int               `json:"redriven,omitempty"`
	Links    map[string]string `json:"links"`
}

// retryTarget is what a retry of st redrives: the dead letters of stage
// for output generation gen. ok is false when st is not failed (neither
// the video nor the generation being reprocessed).
func retryTarget(st projection.State) (stage contract.Stage, gen int, ok bool) {
	switch {
	case st.Status == projection.StatusFailed:
		return st.FailedStage, st.Generation, true
	case st.Reprocessing != nil && st.Reprocessing.Status == projection.StatusFailed:
		return st.Reprocessing.FailedStage, st.Reprocessing.Generation, true
	}
	return "", 0, false
}

// retrySelect selects the dead letters a retry of generation gen redrives
// from stage's DLQ: records of the stage's input or one of its work topics
// (not, e.g., a dead letter of its generation GC consumer on video.ready)
// whose value is of generation gen (a value moved out of Kafka names
// none: it is taken).
func retrySelect(p contract.Pipeline, stage contract.Stage, gen int) func(dlq.Record) bool {
	spec, _ := p.Stage(stage)
	return func(r dlq.Record) bool {
		topic := r.DeadLetter.Topic
		if topic != "" && topic != spec.Input && !slices.ContainsFunc(spec.Work, func(w contract.Step) bool { return w.Topic == topic }) {
			return false
		}
		if len(r.Value) == 0 && r.DeadLetter.ValueRef != "" {
			return true
		}
		env, err := contract.PeekEnvelope(r.Value)
		return err == nil && env.Generation == gen
	}
}

// handleRetry serves POST /v1/videos/{id}/retry: the owner redrives the
// dead letters of their failed video (or of its failed reprocess), as
// `vidpipectl dlq redrive <stage> --id` does: each is published again to
// the topic it failed on (the stage's input, or its work topic for a
// transcode work item, key "<id>/v00003" or "<id>/audio") with the same
// key and the redrive headers (vidpipe.redrive_count, ce_id
// contract.RedriveEventID). Redrives of every API replica run one at a
// time (projection.Store.WithRedriveLock) and a redriven dead letter is
// marked so, so a second retry while the first is in flight redrives
// nothing and answers 409. 404 for a video that is not the caller's; 409
// when it is not failed or no dead letter of it is left; 202 otherwise.
// The status stays failed until the redriven work progresses (as after a
// redrive with vidpipectl).
func handleRetry(log *slog.Logger, o Options, status *projection.Store, redriver Redriver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id := r.PathValue("id")
		if !contract.IsUUID(id) {
			writeError(w, r, log, errNotFound)
			return
		}
		if redriver == nil {
			writeError(w, r, log, errorf(http.StatusServiceUnavailable, codeBrokerUnavailable, "retry is not available on this server"))
			return
		}
		// The state is read before the lock is taken: the lock holds a
		// database connection, and waiting for a second one under it
		// could exhaust the pool when many retries wait for the lock.
		st, err := status.Get(ctx, ownerFrom(ctx), id)
		if err == nil {
			if _, _, ok := retryTarget(st); !ok {
				err = errorf(http.StatusConflict, codeConflict, "the video is %s, not failed: there is nothing to retry", st.Status)
			}
		}
		stage, gen, _ := retryTarget(st)
		var redriven []dlq.Record
		if err == nil {
			err = status.WithRedriveLock(ctx, func(ctx context.Context) error {
				var err error
				redriven, err = redriver.Redrive(ctx, stage, dlq.RedriveOptions{VideoID: id, Select: retrySelect(status.Pipeline(), stage, gen)})
				if err != nil && len(redriven) == 0 {
					return unavailable(codeBrokerUnavailable, "the dead letters could not be redriven; try again later", err)
				}
				if err != nil {
					// Some were redriven: the rest are redriven by the next retry.
					log.WarnContext(ctx, "retry: redrive incomplete", "video_id", id, "redriven", len(redriven), "err", err)
				}
				if len(redriven) == 0 {
					return errorf(http.StatusConflict, codeConflict,
						"no dead letter of this video is left to redrive (a retry is already under way, or its failure was redriven)")
				}
				return nil
			})
		}
		switch {
		case errors.Is(err, projection.ErrNotFound):
			writeError(w, r, log, errNotFound)
			return
		case err != nil:
			var ae *apiError
			if !errors.As(err, &ae) {
				err = unavailable(codeDatabaseUnavailable, "the status store is unavailable; try again later", err)
			}
			writeError(w, r, log, err)
			return
		}
		log.InfoContext(ctx, "retry: dead letters redriven", "video_id", id, "generation", gen, "records", len(redriven))
		w.Header().Set("Location", o.link("/v1/videos/"+id))
		writeJSON(w, http.StatusAccepted, actionResponse{ID: id, Status: string(st.Status), Generation: gen,
			Redriven: len(redriven), Links: acceptedBody(o, id, false).Links})
	})
}

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/dlq"
	"github.com/vidpipe/vidpipe/platform/topics"
	"github.com/vidpipe/vidpipe/services/upload-api/projection"
)

// The admin endpoints (/v1/admin/..., users of api.admins only): the lag
// of every stage's consumer groups, the dead letters of every stage and
// their redrive, as `vidpipectl watch` and `vidpipectl dlq` show and do.

// DeadLetterAdmin is what the admin endpoints need of platform/dlq (a
// *dlq.Admin with the API's Kafka and S3 settings).
type DeadLetterAdmin interface {
	Redriver
	List(ctx context.Context, stage contract.Stage, all bool) ([]dlq.Record, error)
}

var _ DeadLetterAdmin = (*dlq.Admin)(nil)

// Dead-letter listing limits.
const (
	defaultDeadLetterLimit = 50
	maxDeadLetterLimit     = 500
	// maxRedriveIDs bounds the ids of one redrive request.
	maxRedriveIDs = 500
)

// workGroups names the consumer groups of a stage's work topics (the
// planner of a stage consumes its input with the stage's own group).
// A work topic not listed here is taken to be read by the stage's group.
var workGroups = map[string][]string{
	contract.TopicTranscodeChunks:     {contract.GroupTranscodeChunks, contract.GroupTranscodeAudio},
	contract.TopicTranscodeChunksDone: {contract.GroupTranscodeAssemble},
}

// topicLagView is the lag of one consumer group on one topic.
type topicLagView struct {
	Topic string `json:"topic"`
	Group string `json:"group"`
	Lag   int64  `json:"lag"`
}

// dlqDepthView is a stage's dead-letter topic and how many of its dead
// letters are not redriven yet.
type dlqDepthView struct {
	Topic string `json:"topic"`
	Depth int    `json:"depth"`
}

// stageView is one stage of GET /v1/admin/stages.
type stageView struct {
	Stage string `json:"stage"`
	// Group is the stage's own consumer group (its input's).
	Group string `json:"group"`
	// Lag is the sum of Topics' lags: records not yet processed, over
	// every partition of the stage's input and work topics.
	Lag    int64          `json:"lag"`
	Topics []topicLagView `json:"topics"`
	DLQ    dlqDepthView   `json:"dlq"`
}

type stagesResponse struct {
	Stages []stageView `json:"stages"`
}

// handleAdminStages serves GET /v1/admin/stages: per stage of the
// pipeline, in pipeline order, the lag of its consumer groups (high
// watermark minus committed offset, summed over the partitions of its
// input topic, read by the stage's group, and of its work topics, read by
// their groups: topics.GroupLag) and the depth of its dead-letter topic
// (the dead letters not redriven yet: dlq.Admin.List). 503 when Kafka
// does not answer.
func handleAdminStages(log *slog.Logger, p contract.Pipeline, client *kafka.Client, dl DeadLetterAdmin) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if client == nil || dl == nil {
			writeError(w, r, log, errorf(http.StatusServiceUnavailable, codeBrokerUnavailable, "the admin endpoints are not available on this server"))
			return
		}
		resp := stagesResponse{Stages: []stageView{}}
		for _, spec := range p.Stages {
			sv := stageView{Stage: string(spec.Name), Group: string(spec.Name), Topics: []topicLagView{}, DLQ: dlqDepthView{Topic: spec.DLQ}}
			reads := []topicLagView{{Topic: spec.Input, Group: string(spec.Name)}}
			for _, wk := range spec.Work {
				groups := workGroups[wk.Topic]
				if len(groups) == 0 {
					groups = []string{string(spec.Name)}
				}
				for _, g := range groups {
					reads = append(reads, topicLagView{Topic: wk.Topic, Group: g})
				}
			}
			for _, tl := range reads {
				byPart, err := topics.GroupLag(ctx, client, tl.Group, tl.Topic)
				if err != nil {
					writeError(w, r, log, unavailable(codeBrokerUnavailable, "Kafka is unavailable; try again later",
						fmt.Errorf("lag of %s on %s: %w", tl.Group, tl.Topic, err)))
					return
				}
				for _, n := range byPart {
					tl.Lag += n
				}
				sv.Lag += tl.Lag
				sv.Topics = append(sv.Topics, tl)
			}
			pending, err := dl.List(ctx, spec.Name, false)
			if err != nil {
				writeError(w, r, log, unavailable(codeBrokerUnavailable, "Kafka is unavailable; try again later",
					fmt.Errorf("dead letters of %s: %w", spec.Name, err)))
				return
			}
			sv.DLQ.Depth = len(pending)
			resp.Stages = append(resp.Stages, sv)
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, resp)
	})
}

// deadLetterView is one dead letter of GET /v1/admin/dead-letters.
type deadLetterView struct {
	// ID is "<dlq topic>/<partition>/<offset>": what a redrive names.
	ID      string `json:"id"`
	Stage   string `json:"stage"`
	VideoID string `json:"video_id,omitempty"`
	Key     string `json:"key"`
	// Topic is the topic the record failed on (dlq.topic): the stage's
	// input or one of its work topics.
	Topic string `json:"topic"`
	// Reason is the raw error (dlq.error), for operators only.
	Reason     string `json:"reason"`
	ErrorClass string `json:"error_class"`
	ErrorCode  string `json:"error_code,omitempty"`
	Attempts   int    `json:"attempts"`
	FailedAt   string `json:"failed_at"`
	// Redriven is true once a redrive re-published the record.
	Redriven bool `json:"redriven"`
}

type deadLettersResponse struct {
	Items []deadLetterView `json:"items"`
}

// deadLetterID is the id of a dead letter: its DLQ coordinates.
func deadLetterID(r dlq.Record) string {
	return r.Topic + "/" + strconv.Itoa(r.Partition) + "/" + strconv.FormatInt(r.Offset, 10)
}

// parseDeadLetterID splits "<topic>/<partition>/<offset>".
func parseDeadLetterID(s string) (topic string, partition int, offset int64, ok bool) {
	i := strings.LastIndexByte(s, '/')
	if i <= 0 {
		return "", 0, 0, false
	}
	j := strings.LastIndexByte(s[:i], '/')
	if j <= 0 {
		return "", 0, 0, false
	}
	p, err1 := strconv.Atoi(s[j+1 : i])
	o, err2 := strconv.ParseInt(s[i+1:], 10, 64)
	if err1 != nil || err2 != nil || p < 0 || o < 0 || strconv.Itoa(p) != s[j+1:i] || strconv.FormatInt(o, 10) != s[i+1:] {
		return "", 0, 0, false // also refuses "+1", "01": one spelling per dead letter
	}
	return s[:j], p, o, true
}

func deadLetterOf(stage contract.Stage, r dlq.Record) deadLetterView {
	d := r.DeadLetter
	v := deadLetterView{ID: deadLetterID(r), Stage: string(stage), Key: r.Key, Topic: d.Topic, Reason: d.Err,
		ErrorClass: d.Class, ErrorCode: d.Code, Attempts: d.Attempts, Redriven: r.Redriven}
	if id, _, _ := strings.Cut(r.Key, "/"); contract.IsUUID(id) {
		v.VideoID = id
	} else if env, err := contract.PeekEnvelope(r.Value); err == nil && contract.IsUUID(env.VideoID) {
		v.VideoID = env.VideoID
	}
	at := d.FailedAt
	if at.IsZero() {
		at = r.Time
	}
	v.FailedAt = at.UTC().Format(time.RFC3339)
	return v
}

// adminStages returns the stages a request names: stage ("" for every
// stage of p), or a 400.
func adminStages(p contract.Pipeline, stage string) ([]contract.Stage, error) {
	if stage == "" {
		return p.StageNames(), nil
	}
	if _, ok := p.Stage(contract.Stage(stage)); !ok {
		names := make([]string, 0, len(p.Stages))
		for _, s := range p.StageNames() {
			names = append(names, string(s))
		}
		return nil, errorf(http.StatusBadRequest, codeInvalidQuery, "unknown stage %q (stages: %s)", stage, strings.Join(names, ", "))
	}
	return []contract.Stage{contract.Stage(stage)}, nil
}

// handleAdminDeadLetters serves GET /v1/admin/dead-letters?stage=&limit=:
// the dead letters of one stage (or of every stage), newest first (by
// dlq.failed_at), redriven ones included and marked; limit is 1 to 500
// (default 50).
func handleAdminDeadLetters(log *slog.Logger, p contract.Pipeline, dl DeadLetterAdmin) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		qs := r.URL.Query()
		stages, err := adminStages(p, qs.Get("stage"))
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		limit := defaultDeadLetterLimit
		if s := qs.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > maxDeadLetterLimit {
				writeError(w, r, log, errorf(http.StatusBadRequest, codeInvalidQuery, "limit must be between 1 and %d", maxDeadLetterLimit))
				return
			}
			limit = n
		}
		if dl == nil {
			writeError(w, r, log, errorf(http.StatusServiceUnavailable, codeBrokerUnavailable, "the admin endpoints are not available on this server"))
			return
		}
		items := []deadLetterView{}
		for _, stage := range stages {
			recs, err := dl.List(ctx, stage, true)
			if err != nil {
				writeError(w, r, log, unavailable(codeBrokerUnavailable, "Kafka is unavailable; try again later",
					fmt.Errorf("dead letters of %s: %w", stage, err)))
				return
			}
			for _, rec := range recs {
				items = append(items, deadLetterOf(stage, rec))
			}
		}
		slices.SortStableFunc(items, func(a, b deadLetterView) int {
			if c := strings.Compare(b.FailedAt, a.FailedAt); c != 0 { // RFC 3339 UTC sorts as text
				return c
			}
			return strings.Compare(b.ID, a.ID)
		})
		if len(items) > limit {
			items = items[:limit]
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, deadLettersResponse{Items: items})
	})
}

// redriveRequest is the body of POST /v1/admin/dead-letters/redrive.
type redriveRequest struct {
	Stage string   `json:"stage"`
	IDs   []string `json:"ids"`
	All   bool     `json:"all"`
}

// redriveResponse is its 202 body.
type redriveResponse struct {
	// Redriven is the number of dead letters re-published.
	Redriven int `json:"redriven"`
	// NotPending lists the ids asked for that were not redriven: already
	// redriven, or no such dead letter.
	NotPending []string `json:"not_pending,omitempty"`
}

// handleAdminRedrive serves POST /v1/admin/dead-letters/redrive with
// {"stage": "transcode", "ids": ["<dlq topic>/<partition>/<offset>", …]}
// (those dead letters of the stage, each at most once) or {"stage":
// "transcode", "all": true} (every pending one of the stage; without stage:
// of every stage): each is published again to the topic it failed on, as
// `vidpipectl dlq redrive` and POST /v1/videos/{id}/retry do, under the
// same redrive lock as retry (projection.Store.WithRedriveLock). 202
// {"redriven": N, "not_pending": [ids not redriven]}; 400 for a malformed
// body, an unknown stage or an id of another topic; 503 when Kafka fails
// before anything was redriven.
func handleAdminRedrive(log *slog.Logger, p contract.Pipeline, status *projection.Store, dl DeadLetterAdmin) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeError(w, r, log, errorf(http.StatusBadRequest, codeBadRequest, "could not read the body"))
			return
		}
		var req redriveRequest
		d := json.NewDecoder(bytes.NewReader(body))
		d.DisallowUnknownFields()
		if err := d.Decode(&req); err != nil || d.More() {
			writeError(w, r, log, errorf(http.StatusBadRequest, codeBadRequest,
				`the body must be one JSON object: {"stage": "...", "ids": ["<topic>/<partition>/<offset>", ...]} or {"stage": "...", "all": true}`))
			return
		}
		switch {
		case req.All && len(req.IDs) > 0:
			writeError(w, r, log, errorf(http.StatusBadRequest, codeInvalidField, "give ids or all, not both"))
			return
		case !req.All && len(req.IDs) == 0:
			writeError(w, r, log, errorf(http.StatusBadRequest, codeInvalidField, "give the ids of the dead letters to redrive, or all: true"))
			return
		case !req.All && req.Stage == "":
			writeError(w, r, log, errorf(http.StatusBadRequest, codeInvalidField, "stage is required with ids"))
			return
		case len(req.IDs) > maxRedriveIDs:
			writeError(w, r, log, errorf(http.StatusBadRequest, codeInvalidField, "at most %d ids per request", maxRedriveIDs))
			return
		}
		stages, err := adminStages(p, req.Stage)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		type coord struct {
			partition int
			offset    int64
		}
		want := map[coord]string{}
		if !req.All {
			dlqTopic := dlq.DLQTopic(stages[0])
			if spec, ok := p.Stage(stages[0]); ok {
				dlqTopic = spec.DLQ
			}
			for _, id := range req.IDs {
				topic, part, off, ok := parseDeadLetterID(id)
				if !ok || topic != dlqTopic {
					writeError(w, r, log, errorf(http.StatusBadRequest, codeInvalidField,
						"id %q is not a dead letter of %s (want %s/<partition>/<offset>)", id, stages[0], dlqTopic))
					return
				}
				want[coord{part, off}] = id
			}
		}
		if dl == nil || status == nil {
			writeError(w, r, log, errorf(http.StatusServiceUnavailable, codeBrokerUnavailable, "the admin endpoints are not available on this server"))
			return
		}
		redriven := 0
		done := map[string]bool{}
		err = status.WithRedriveLock(ctx, func(ctx context.Context) error {
			for _, stage := range stages {
				opts := dlq.RedriveOptions{}
				if !req.All {
					opts.Select = func(rec dlq.Record) bool { _, ok := want[coord{rec.Partition, rec.Offset}]; return ok }
				}
				recs, err := dl.Redrive(ctx, stage, opts)
				redriven += len(recs)
				for _, rec := range recs {
					done[deadLetterID(rec)] = true
				}
				if err != nil {
					return fmt.Errorf("redrive %s: %w", stage, err)
				}
			}
			return nil
		})
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				writeError(w, r, log, err)
				return
			}
			if redriven == 0 {
				writeError(w, r, log, unavailable(codeBrokerUnavailable, "the dead letters could not be redriven; try again later", err))
				return
			}
			// Some were: the rest are redriven by the next request.
			log.WarnContext(ctx, "admin redrive incomplete", "redriven", redriven, "err", err)
		}
		resp := redriveResponse{Redriven: redriven}
		for _, id := range req.IDs {
			if !done[id] {
				resp.NotPending = append(resp.NotPending, id)
			}
		}
		log.InfoContext(ctx, "admin: dead letters redriven", "user", ownerFrom(ctx), "stage", req.Stage, "all", req.All, "records", redriven)
		writeJSON(w, http.StatusAccepted, resp)
	})
}

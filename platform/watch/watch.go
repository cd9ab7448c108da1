// Package watch follows vidpipe topics and prints one line per event.
package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vidpipe/vidpipe/contract"
	"github.com/vidpipe/vidpipe/platform/topics"
)

// Options of Follow.
type Options struct {
	Brokers []string
	// Topics to follow. Default: every topic of Pipeline (its steps',
	// work and lifecycle topics and dead-letter topics).
	Topics []string
	// Pipeline names the default topics. Default: contract.DefaultPipeline().
	Pipeline contract.Pipeline
	// FromBeginning starts at the oldest record instead of new ones.
	FromBeginning bool
	// Key, if set, shows only records of this video: key Key, or
	// "Key/<item>" (a transcode work item, e.g. "<id>/v00003").
	Key string
	// Transport and Dialer carry the TLS and SASL settings (see package
	// kafkaconn). Default: nil, plaintext without authentication.
	Transport *kafka.Transport
	Dialer    *kafka.Dialer
}

// defaultTopicWidth is the width Line pads topics to: the longest topic of
// contract.DefaultPipeline, so that the columns after it line up.
var defaultTopicWidth = topicWidth(contract.AllTopics())

// topicWidth is the length of the longest of topics.
func topicWidth(topics []string) int {
	w := 0
	for _, t := range topics {
		w = max(w, len(t))
	}
	return w
}

// Line formats one record: time, topic, key, type, what the record says
// when it is one of the segment pipeline (see Summary), and for DLQ
// records the stage, class, attempts and error, and where the value is
// when it was moved out of Kafka (dlq.value_ref, with its size); for a
// webhook dead letter (webhooks.dlq) or its redrive (webhooks.redrive),
// the endpoint and the event (webhook-id). The topic
// is padded to the longest topic of contract.DefaultPipeline. A key
// "<video id>/<item>" (a transcode work item) shows the video id in the
// key column; the item is in the summary (or, when the value says
// nothing, shown as item=<item>). A record of a reprocess's output
// generation N > 0 (contract.Video.Generation) ends with generation=N.
func Line(m kafka.Message) string { return line(m, defaultTopicWidth) }

// Summary describes, in a few words, a value of the segment pipeline's
// topics (contract/chunks.go), or returns "" for another topic or a value
// it cannot read:
//
//	video.playable               playable (30 chunks, 60 segments), or playable (audio, 60 segments) for an audio asset
//	video.transcode.chunks       chunk 3/30 (chunk index 3 of 30 chunks, from 0), or audio
//	video.transcode.chunks-done  chunk 3 done (2 segments), audio 12 segments, audio done (150 segments)
//
// and of the lifecycle topics (contract/lifecycle.go):
//
//	video.deleted                deleted by alice
//	video.updated                updated by alice: title "New title", 2 tags
//	video.captions               captions en-US "English" by alice: 412 cues, or captions fr deleted by alice
//
// and, for a video.transcoded, its package, its measured loudness and,
// when not every rendition is H.264, its renditions' codecs (see
// PackageSummary, LoudnessSummary, CodecSummary), separated by "; ".
func Summary(topic string, value []byte) string {
	switch topic {
	case contract.TopicTranscoded:
		var parts []string
		for _, p := range []string{PackageSummary(value), LoudnessSummary(value), CodecSummary(value)} {
			if p != "" {
				parts = append(parts, p)
			}
		}
		return strings.Join(parts, "; ")
	case contract.TopicPlayable:
		var e contract.VideoPlayable
		if json.Unmarshal(value, &e) != nil {
			return ""
		}
		if e.Media.IsAudio() { // an audio asset: no video chunks
			return fmt.Sprintf("playable (audio, %d segments)", e.Segments)
		}
		return fmt.Sprintf("playable (%d chunks, %d segments)", e.Chunks, e.Segments)
	case contract.TopicTranscodeChunks:
		var e contract.TranscodeChunk
		if json.Unmarshal(value, &e) != nil {
			return ""
		}
		switch e.Kind {
		case contract.ChunkVideo:
			return fmt.Sprintf("chunk %d/%d", e.Index, e.Chunks)
		case contract.ChunkAudio:
			return "audio"
		}
	case contract.TopicTranscodeChunksDone:
		var e contract.TranscodeChunkDone
		if json.Unmarshal(value, &e) != nil {
			return ""
		}
		switch {
		case e.Kind == contract.ChunkVideo:
			return fmt.Sprintf("chunk %d done (%d segments)", e.Index, e.Segments)
		case e.Kind == contract.ChunkAudio && e.Complete:
			return fmt.Sprintf("audio done (%d segments)", e.Segments)
		case e.Kind == contract.ChunkAudio:
			return fmt.Sprintf("audio %d segments", e.Segments)
		}
	case contract.TopicDeleted:
		var e contract.VideoDeleted
		if json.Unmarshal(value, &e) != nil || e.Owner == "" {
			return ""
		}
		return "deleted by " + printable(e.Owner)
	case contract.TopicUpdated:
		var e contract.VideoUpdated
		if json.Unmarshal(value, &e) != nil || e.Owner == "" {
			return ""
		}
		return fmt.Sprintf("updated by %s: title %q, %d tags", printable(e.Owner), printable(truncateRunes(e.Title, 60)), len(e.Tags))
	case contract.TopicCaptions:
		var e contract.VideoCaptions
		if json.Unmarshal(value, &e) != nil || e.Owner == "" || e.Language == "" {
			return ""
		}
		if e.Deleted {
			return fmt.Sprintf("captions %s deleted by %s", printable(e.Language), printable(e.Owner))
		}
		return fmt.Sprintf("captions %s %q by %s: %d cues", printable(e.Language), printable(truncateRunes(e.Label, 40)), printable(e.Owner), len(e.Cues))
	}
	return ""
}

// truncateRunes cuts s to n runes, marking a cut with "…".
func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// line is Line with the topic padded to width.
func line(m kafka.Message, width int) string {
	hs := make([]contract.Header, len(m.Headers))
	for i, h := range m.Headers {
		hs[i] = contract.Header{Key: h.Key, Value: h.Value}
	}
	typ := contract.HeaderValue(hs, contract.HeaderType)
	if typ == "" {
		typ = "-"
	}
	key, item := string(m.Key), ""
	if id, it, ok := strings.Cut(key, "/"); ok && contract.IsUUID(id) {
		key, item = id, it
	}
	dl, isDL := contract.ParseDeadLetter(hs)
	sum := Summary(m.Topic, m.Value)
	if isDL {
		sum = Summary(dl.Topic, m.Value) // the original record's value
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-*s  %-36s  %s", m.Time.UTC().Format("2006-01-02T15:04:05.000Z"), width, m.Topic, printable(key), typ)
	switch {
	case sum != "":
		b.WriteString("  " + sum)
	case item != "":
		b.WriteString("  item=" + printable(item))
	}
	if isDL {
		fmt.Fprintf(&b, "  stage=%s class=%s code=%s attempts=%d error=%q", dl.Stage, dl.Class, printable(dl.Code), dl.Attempts, dl.Err)
		if dl.ValueRef != "" {
			fmt.Fprintf(&b, "  value=%s (%d bytes)", printable(dl.ValueRef), dl.ValueBytes)
		}
	}
	// A webhook delivery's dead letter, or its redrive: which endpoint and event.
	if ep := contract.HeaderValue(hs, contract.HeaderWebhookEndpoint); ep != "" {
		fmt.Fprintf(&b, "  endpoint=%s event=%s", printable(ep), printable(contract.HeaderValue(hs, contract.HeaderWebhookEventID)))
	}
	if n := contract.HeaderValue(hs, contract.HeaderRedriveCount); n != "" {
		fmt.Fprintf(&b, "  redrive=%s", n)
	}
	if env, err := contract.PeekEnvelope(m.Value); err == nil && env.Generation > 0 {
		fmt.Fprintf(&b, "  generation=%d", env.Generation) // a reprocess's output generation
	}
	return b.String()
}

func printable(s string) string {
	if s == "" {
		return "(no key)"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// Follow prints a line per record to w until ctx is cancelled. It reads
// every partition of each topic directly (no consumer group, so watching
// leaves nothing behind in the cluster).
func Follow(ctx context.Context, opts Options, w io.Writer) error {
	if len(opts.Topics) == 0 {
		p := opts.Pipeline
		if len(p.Stages) == 0 && p.Entry.Topic == "" {
			p = contract.DefaultPipeline()
		}
		opts.Topics = p.AllTopics()
	}
	width := max(defaultTopicWidth, topicWidth(opts.Topics))
	client := &kafka.Client{Addr: kafka.TCP(opts.Brokers...), Timeout: 10 * time.Second}
	if opts.Transport != nil { // a nil *Transport in the interface would panic
		client.Transport = opts.Transport
	}
	type tp struct {
		topic string
		part  int
	}
	var tps []tp
	for _, t := range opts.Topics {
		ps, err := topics.Partitions(ctx, client, t)
		if err != nil {
			return err
		}
		sort.Ints(ps)
		for _, p := range ps {
			tps = append(tps, tp{t, p})
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(tps))
	for _, x := range tps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: opts.Brokers, Dialer: opts.Dialer, Topic: x.topic, Partition: x.part, MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 2 * time.Second})
			defer r.Close()
			start := kafka.LastOffset
			if opts.FromBeginning {
				start = kafka.FirstOffset
			}
			if err := r.SetOffset(start); err != nil {
				errs <- err
				return
			}
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					if ctx.Err() == nil && !errors.Is(err, io.EOF) {
						errs <- fmt.Errorf("%s/%d: %w", x.topic, x.part, err)
					}
					return
				}
				if opts.Key != "" && string(m.Key) != opts.Key && !strings.HasPrefix(string(m.Key), opts.Key+"/") {
					continue
				}
				mu.Lock()
				fmt.Fprintln(w, line(m, width))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

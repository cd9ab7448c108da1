package projection

import (
	"bytes"
	"strings"

	"github.com/vidpipe/vidpipe/contract"
)

// progressDoc is a video's stored progress (column progress, JSON): the
// completions (contract.TranscodeChunkDone) of the latest run seen. Done
// records which video chunks were counted, so that a completion delivered
// twice (a redelivery, or an item encoded twice) counts once.
type progressDoc struct {
	// Run is the run the counts are of; a completion of another run
	// starts the counts over (the latest record read wins: a video's
	// completions share one partition, so they arrive in publish order).
	Run           string `json:"run"`
	ChunksTotal   int    `json:"chunks_total"`
	SegmentsTotal int    `json:"segments_total"`
	ChunksDone    int    `json:"chunks_done"`
	SegmentsDone  int    `json:"segments_done"`
	AudioComplete bool   `json:"audio_complete,omitempty"`
	// Done has bit i%8 of byte i/8 set for each video chunk i counted.
	Done []byte `json:"done,omitempty"`
}

// has reports whether video chunk i was counted.
func (p *progressDoc) has(i int) bool {
	return p != nil && i >= 0 && i/8 < len(p.Done) && p.Done[i/8]&(1<<(i%8)) != 0
}

// with returns a copy of p that counts d (p may be nil). A video chunk
// counts once, when its completion is Complete; the audio item's segments
// are not counted, only its completion, except in an audio asset's run
// (no video chunks), whose progress is its audio segments.
func (p *progressDoc) with(d contract.TranscodeChunkDone) *progressDoc {
	var q progressDoc
	if p != nil && p.Run == d.Run {
		q = *p
		q.Done = bytes.Clone(p.Done)
	} else {
		q = progressDoc{Run: d.Run}
	}
	q.ChunksTotal = max(q.ChunksTotal, d.Chunks)
	if d.SegmentsTotal > 0 {
		q.SegmentsTotal = d.SegmentsTotal
	}
	switch d.Kind {
	case contract.ChunkVideo:
		if d.Complete && d.Index >= 0 && d.Index < contract.MaxChunks && !q.has(d.Index) {
			if n := d.Index/8 + 1; len(q.Done) < n {
				q.Done = append(q.Done, make([]byte, n-len(q.Done))...)
			}
			q.Done[d.Index/8] |= 1 << (d.Index % 8)
			q.ChunksDone++
			q.SegmentsDone += max(d.Segments, 0)
		}
	case contract.ChunkAudio:
		q.AudioComplete = q.AudioComplete || d.Complete
		if d.Chunks == 0 { // an audio asset: its audio segments are the progress
			q.SegmentsDone = max(q.SegmentsDone, d.Segments)
		}
	}
	return &q
}

// equal reports whether p and q hold the same progress (both may be nil).
func (p *progressDoc) equal(q *progressDoc) bool {
	if p == nil || q == nil {
		return p == q
	}
	return p.Run == q.Run && p.ChunksTotal == q.ChunksTotal && p.SegmentsTotal == q.SegmentsTotal &&
		p.ChunksDone == q.ChunksDone && p.SegmentsDone == q.SegmentsDone && p.AudioComplete == q.AudioComplete &&
		bytes.Equal(bytes.TrimRight(p.Done, "\x00"), bytes.TrimRight(q.Done, "\x00"))
}

// public is p as State shows it (nil for nil).
func (p *progressDoc) public() *Progress {
	if p == nil {
		return nil
	}
	return &Progress{SegmentsDone: p.SegmentsDone, SegmentsTotal: p.SegmentsTotal,
		ChunksDone: p.ChunksDone, ChunksTotal: p.ChunksTotal, AudioComplete: p.AudioComplete}
}

// workItem is the item a work record's key names after the video id
// ("v00003", "audio"): contract.ChunkKey without "<video id>/".
func workItem(c contract.TranscodeChunk) string {
	return strings.TrimPrefix(contract.ChunkKey(c.VideoID, c.Kind, c.Index), c.VideoID+"/")
}

// resolves reports whether completion d proves that the work item item
// succeeded after all: the video chunk's completion, or the audio's final
// one.
func resolves(d contract.TranscodeChunkDone, item string) bool {
	if d.Kind == contract.ChunkAudio && !d.Complete {
		return false
	}
	return item != "" && workItem(contract.TranscodeChunk{Video: d.Video, Kind: d.Kind, Index: d.Index}) == item
}

// settled reports whether the work item of dead letter c is already done
// in progress p of the same run: the dead letter is stale (the item
// succeeded, and a later attempt of it failed).
func settled(p *progressDoc, c *contract.TranscodeChunk) bool {
	if p == nil || c == nil || p.Run != c.Run {
		return false
	}
	if c.Kind == contract.ChunkAudio {
		return p.AudioComplete
	}
	return p.has(c.Index)
}

package ffmpeg

import (
	"slices"
	"strings"
	"testing"

	"github.com/vidpipe/vidpipe/services/transcode/ladder"
)

// The tone mapping is in the graph and the tags on every encode for an
// HDR source, in the single pass and in a chunk; an SDR source's graph
// and options carry neither.
func TestToneMapArgs(t *testing.T) {
	rends := ladder.MustParse(ladder.DefaultSpec).Select(1920, 1080)[:2]
	tags := []string{"-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv"}
	tests := map[string]struct {
		transfer, primaries, matrix, rng string
		wantChain                        string // "" for SDR
	}{
		"PQ": {transfer: "smpte2084", primaries: "bt2020", matrix: "bt2020nc", rng: "tv",
			wantChain: "zscale=w=854:h=480:f=bicubic:tin=smpte2084:pin=bt2020:min=bt2020nc:rin=tv:t=linear:npl=100,format=gbrpf32le,zscale=p=bt709," +
				"tonemap=tonemap=mobius:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p,"},
		"HLG full range": {transfer: "arib-std-b67", primaries: "bt2020", matrix: "bt2020c", rng: "pc",
			wantChain: "zscale=w=854:h=480:f=bicubic:tin=arib-std-b67:pin=bt2020:min=bt2020c:rin=pc:t=linear:npl=100,"},
		"PQ without primaries or matrix tags defaults to BT.2020": {transfer: "smpte2084",
			wantChain: "zscale=w=854:h=480:f=bicubic:tin=smpte2084:pin=bt2020:min=bt2020nc:rin=tv:"},
		"PQ with a color name zscale does not know": {transfer: "smpte2084", primaries: "film;x", matrix: "x:y",
			wantChain: "zscale=w=854:h=480:f=bicubic:tin=smpte2084:pin=bt2020:min=bt2020nc:rin=tv:"},
		"BT.709 SDR":   {transfer: "bt709", primaries: "bt709", matrix: "bt709"},
		"untagged SDR": {},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			src := source(true, "30/1", 30)
			v := src.Video
			v.ColorTransfer, v.ColorPrimaries, v.ColorSpace, v.ColorRange = tc.transfer, tc.primaries, tc.matrix, tc.rng
			job := Job{Input: "source", Source: src, Renditions: rends}
			args, err := job.Args()
			if err != nil {
				t.Fatal(err)
			}
			chunk, err := ChunkJob{Input: "source", Source: src, Renditions: rends,
				Span: Span{Index: 1, Start: 2, StartFrame: 60, Frames: 60, FirstSegment: 1, Segments: 1, Duration: 2}}.Args()
			if err != nil {
				t.Fatal(err)
			}
			sdrGraph := "[0:0]fps=30/1,scale=w=854:h=480,setsar=1,format=yuv420p,split=2[v1][c1];[c1]scale=w=640:h=360,setsar=1,format=yuv420p[v0]"
			graph, chunkGraph := after(args, "-filter_complex"), after(chunk, "-filter_complex")
			if tc.wantChain == "" {
				if graph != sdrGraph {
					t.Errorf("SDR graph %s, want it unchanged: %s", graph, sdrGraph)
				}
				for _, a := range []string{"-color_primaries", "-color_trc", "-colorspace", "-color_range"} {
					if slices.Contains(args, a) || slices.Contains(chunk, a) {
						t.Errorf("SDR encode tagged %s", a)
					}
				}
				return
			}
			if !strings.HasPrefix(graph, "[0:0]fps=30/1,"+tc.wantChain) {
				t.Errorf("graph %s, want the tone mapping %s after fps", graph, tc.wantChain)
			}
			if !strings.HasPrefix(chunkGraph, "[0:0]fps=30/1:start_time=2.000000,"+tc.wantChain) {
				t.Errorf("chunk graph %s, want the tone mapping %s after fps", chunkGraph, tc.wantChain)
			}
			if !strings.HasSuffix(graph, sdrGraph[len("[0:0]fps=30/1,"):]) {
				t.Errorf("graph %s does not end with the scale cascade", graph)
			}
			// Once on the single pass's one output; once per rung's output in a chunk.
			if i := slices.Index(args, "-color_primaries"); i < 0 || !slices.Equal(args[i:i+len(tags)], tags) || count(args, "-color_trc") != 1 {
				t.Errorf("single pass not tagged %q: %q", tags, args)
			}
			for k, out := range outputs(t, chunk) {
				if i := slices.Index(out, "-color_primaries"); i < 0 || !slices.Equal(out[i:i+len(tags)], tags) {
					t.Errorf("chunk output %d not tagged %q: %q", k, tags, out)
				}
			}
		})
	}
}

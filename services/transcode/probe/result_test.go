package probe

import (
	"strings"
	"testing"
)

// ffprobeJSON builds a minimal ffprobe document with the given streams and format fields.
func ffprobeJSON(format string, streams ...string) []byte {
	return []byte(`{"streams":[` + strings.Join(streams, ",") + `],"format":{` + format + `}}`)
}

const mp4Format = `"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"3.000000","size":"123456","bit_rate":"329216"`

func TestParse(t *testing.T) {
	tests := map[string]struct {
		doc   []byte
		check func(t *testing.T, r *Result)
	}{
		"landscape with audio": {
			doc: ffprobeJSON(mp4Format,
				`{"index":0,"codec_type":"video","codec_name":"h264","profile":"High","level":40,"width":1920,"height":1080,"sample_aspect_ratio":"1:1","avg_frame_rate":"30000/1001","r_frame_rate":"30000/1001","duration":"3.003","field_order":"progressive","pix_fmt":"yuv420p","bit_rate":"300000"}`,
				`{"index":1,"codec_type":"audio","codec_name":"aac","profile":"LC","channels":2,"sample_rate":"48000","duration":"3.01"}`),
			check: func(t *testing.T, r *Result) {
				want(t, "format", r.FormatName, "mov,mp4,m4a,3gp,3g2,mj2")
				want(t, "duration", r.Duration, 3.0)
				want(t, "size", r.Size, int64(123456))
				want(t, "bitrate", r.BitRate, int64(329216))
				want(t, "display", [2]int{r.Video.DisplayWidth, r.Video.DisplayHeight}, [2]int{1920, 1080})
				want(t, "frame rate", r.Video.FrameRate, "30000/1001")
				want(t, "level", r.Video.Level, 40)
				want(t, "interlaced", r.Video.Interlaced, false)
				want(t, "audio index", r.Audio.Index, 1)
				want(t, "audio rate", r.Audio.SampleRate, 48000)
			},
		},
		"display matrix rotation swaps the display size": {
			doc: ffprobeJSON(mp4Format,
				`{"index":0,"codec_type":"video","codec_name":"h264","width":1280,"height":720,"avg_frame_rate":"30/1","side_data_list":[{"side_data_type":"Display Matrix","displaymatrix":"...","rotation":-90}]}`),
			check: func(t *testing.T, r *Result) {
				want(t, "rotation", r.Video.Rotation, 270)
				want(t, "display", [2]int{r.Video.DisplayWidth, r.Video.DisplayHeight}, [2]int{720, 1280})
				want(t, "audio", r.Audio == nil, true)
			},
		},
		"legacy rotate tag": {
			doc: ffprobeJSON(mp4Format,
				`{"index":0,"codec_type":"video","codec_name":"h264","width":1280,"height":720,"tags":{"rotate":"90"}}`),
			check: func(t *testing.T, r *Result) {
				want(t, "rotation", r.Video.Rotation, 90)
				want(t, "display", [2]int{r.Video.DisplayWidth, r.Video.DisplayHeight}, [2]int{720, 1280})
			},
		},
		"upside down keeps the size": {
			doc: ffprobeJSON(mp4Format,
				`{"index":0,"codec_type":"video","codec_name":"h264","width":1280,"height":720,"side_data_list":[{"side_data_type":"Display Matrix","rotation":180}]}`),
			check: func(t *testing.T, r *Result) {
				want(t, "rotation", r.Video.Rotation, 180)
				want(t, "display", [2]int{r.Video.DisplayWidth, r.Video.DisplayHeight}, [2]int{1280, 720})
			},
		},
		"odd angle is ignored like ffmpeg does": {
			doc: ffprobeJSON(mp4Format,
				`{"index":0,"codec_type":"video","codec_name":"h264","width":1280,"height":720,"side_data_list":[{"side_data_type":"Display Matrix","rotation":45}]}`),
			check: func(t *testing.T, r *Result) { want(t, "rotation", r.Video.Rotation, 0) },
		},
		"anamorphic pixels widen the display": {
			doc: ffprobeJSON(mp4Format,
				`{"index":0,"codec_type":"video","codec_name":"mpeg2video","width":720,"height":576,"sample_aspect_ratio":"64:45","field_order":"tt"}`),
			check: func(t *testing.T, r *Result) {
				want(t, "display", [2]int{r.Video.DisplayWidth, r.Video.DisplayHeight}, [2]int{1024, 576})
				want(t, "interlaced", r.Video.Interlaced, true)
			},
		},
		"PQ is HDR": {
			doc: ffprobeJSON(mp4Format,
				`{"index":0,"codec_type":"video","codec_name":"hevc","width":3840,"height":2160,"pix_fmt":"yuv420p10le","color_range":"tv","color_space":"bt2020nc","color_transfer":"smpte2084","color_primaries":"bt2020"}`),
			check: func(t *testing.T, r *Result) {
				want(t, "hdr", r.Video.HDR(), true)
				want(t, "color", [4]string{r.Video.ColorTransfer, r.Video.ColorPrimaries, r.Video.ColorSpace, r.Video.ColorRange},
					[4]string{"smpte2084", "bt2020", "bt2020nc", "tv"})
			},
		},
		"HLG is HDR": {
			doc: ffprobeJSON(mp4Format,
				`{"index":0,"codec_type":"video","codec_name":"hevc","width":1920,"height":1080,"pix_fmt":"yuv420p10le","color_transfer":"arib-std-b67","color_primaries":"bt2020"}`),
			check: func(t *testing.T, r *Result) { want(t, "hdr", r.Video.HDR(), true) },
		},
		"BT.709 and untagged are SDR": {
			doc: ffprobeJSON(mp4Format,
				`{"index":0,"codec_type":"video","codec_name":"h264","width":640,"height":360,"color_transfer":"bt709","color_primaries":"unknown","color_space":"unspecified"}`),
			check: func(t *testing.T, r *Result) {
				want(t, "hdr", r.Video.HDR(), false)
				want(t, "color", [3]string{r.Video.ColorTransfer, r.Video.ColorPrimaries, r.Video.ColorSpace}, [3]string{"bt709", "", ""})
			},
		},
		"unknown aspect ratio is square": {
			doc: ffprobeJSON(mp4Format,
				`{"index":0,"codec_type":"video","codec_name":"h264","width":640,"height":360,"sample_aspect_ratio":"0:1"}`),
			check: func(t *testing.T, r *Result) {
				want(t, "sar", [2]int{r.Video.SARNum, r.Video.SARDen}, [2]int{1, 1})
				want(t, "display", [2]int{r.Video.DisplayWidth, r.Video.DisplayHeight}, [2]int{640, 360})
			},
		},
		"cover art is not the video stream": {
			doc: ffprobeJSON(mp4Format,
				`{"index":0,"codec_type":"audio","codec_name":"aac"}`,
				`{"index":1,"codec_type":"video","codec_name":"png","width":64,"height":64,"disposition":{"attached_pic":1}}`),
			check: func(t *testing.T, r *Result) {
				want(t, "video", r.Video == nil, true)
				want(t, "audio", r.Audio != nil, true)
				want(t, "streams", r.Streams, 2)
			},
		},
		"streams of unknown codecs are skipped": {
			doc: ffprobeJSON(mp4Format,
				`{"index":0,"codec_type":"video","width":640,"height":360}`,
				`{"index":1,"codec_type":"audio"}`,
				`{"index":2,"codec_type":"video","codec_name":"h264","width":320,"height":180}`,
				`{"index":3,"codec_type":"audio","codec_name":"aac"}`),
			check: func(t *testing.T, r *Result) {
				want(t, "video index", r.Video.Index, 2)
				want(t, "audio index", r.Audio.Index, 3)
			},
		},
		"second video stream is ignored": {
			doc: ffprobeJSON(mp4Format,
				`{"index":0,"codec_type":"data"}`,
				`{"index":1,"codec_type":"video","codec_name":"h264","width":640,"height":360}`,
				`{"index":2,"codec_type":"video","codec_name":"h264","width":1920,"height":1080}`),
			check: func(t *testing.T, r *Result) { want(t, "index", r.Video.Index, 1) },
		},
		"missing container duration uses the longest stream": {
			doc: ffprobeJSON(`"format_name":"matroska,webm"`,
				`{"index":0,"codec_type":"video","codec_name":"vp9","width":640,"height":360,"duration":"2.5"}`,
				`{"index":1,"codec_type":"audio","codec_name":"opus","duration":"2.7"}`),
			check: func(t *testing.T, r *Result) { want(t, "duration", r.Duration, 2.7) },
		},
		"garbage numbers are zero": {
			doc: ffprobeJSON(`"format_name":"avi","duration":"N/A","size":"-1"`,
				`{"index":0,"codec_type":"video","codec_name":"mjpeg","width":0,"height":0,"avg_frame_rate":"0/0","r_frame_rate":"25/0"}`),
			check: func(t *testing.T, r *Result) {
				want(t, "duration", r.Duration, 0.0)
				want(t, "size", r.Size, int64(0))
				want(t, "fps", r.Video.FPS, 0.0)
				want(t, "frame rate", r.Video.FrameRate, "")
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := Parse(tc.doc)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tc.check(t, r)
		})
	}
}

func TestParseErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":  "Invalid data found when processing input",
		"empty":     "",
		"no format": `{"streams":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(doc)); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func want[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

module github.com/vidpipe/vidpipe/transcode

go 1.26.0

require github.com/vidpipe/vidpipe/events v0.0.0

require github.com/prometheus/client_golang v1.25.0 // indirect

replace github.com/vidpipe/vidpipe/events => ../events

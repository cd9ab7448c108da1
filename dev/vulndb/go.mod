module github.com/vidpipe/vidpipe/dev/vulndb

go 1.26.0

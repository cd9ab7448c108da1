module github.com/vidpipe/vidpipe/scripts/vulndb

go 1.26.0

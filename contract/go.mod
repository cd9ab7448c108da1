module github.com/vidpipe/vidpipe/contract

go 1.26.0

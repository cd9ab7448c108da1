# vidpipe — see README.md. Every target installs what it needs (make deps).
SHELL := /bin/bash
GOBIN := $(shell go env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)
export GOFLAGS ?= -buildvcs=false

MODULES := events upload-api transcode thumbnail indexer
TEST_TIMEOUT ?= 20m
ARGS ?=

.PHONY: all deps build vet test test-short run bench fuzz tidy clean

all: build

## deps: install ffmpeg, kcat, PostgreSQL, Node.js (apt) and MinIO (go install); idempotent
deps:
	@bash scripts/deps.sh

## build: compile every module of the workspace
build:
	go build work

## vet: go vet every module
vet:
	go vet work

## test: install what is missing, vet, then run every module's tests with -race
test: deps vet
	go test -race -count=1 -timeout $(TEST_TIMEOUT) work

## run: the whole pipeline on this machine (broker, MinIO, PostgreSQL, API, workers)
run: deps
	@mkdir -p .vidpipe/bin
	go build -o .vidpipe/bin/vidpipectl ./events/cmd/vidpipectl
	@exec .vidpipe/bin/vidpipectl dev $(ARGS)

## bench: benchmarks, written to docs/benchmarks.md
bench: deps
	go test -run '^$$' -bench . -benchmem -count=1 -timeout 30m work

## fuzz: run each fuzz target for a bounded time (FUZZTIME, default 30s)
FUZZTIME ?= 30s
fuzz:
	cd events && go test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) .

## tidy: go mod tidy in every module
tidy:
	@for m in $(MODULES); do (cd $$m && go mod tidy) || exit 1; done

clean:
	rm -rf bin .vidpipe

# vidpipe — see README.md. Every target installs what it needs (make deps).
SHELL := /bin/bash
GOBIN := $(shell go env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)
export GOFLAGS ?= -buildvcs=false
# Build and test with the newest Go 1.26 patch release: go1.26.8 (what these
# machines start with) has standard-library vulnerabilities that govulncheck
# reports (net/http, mime/multipart, crypto/tls, crypto/x509). The go command
# fetches this toolchain once through the module proxy (about 10 s).
# Override with make GOTOOLCHAIN=local.
export GOTOOLCHAIN := go1.26.11

# The workspace's modules, from go.work's use block (go list -m lists every
# module of the workspace; its Dir is absolute): a module added to go.work
# is tidied with no edit here.
MODULES = $(shell go list -m -f '{{.Dir}}')
TEST_TIMEOUT ?= 20m
ARGS ?=

.PHONY: all deps build vet test test-short run bench fuzz tidy clean

all: build

## deps: install ffmpeg, kcat, PostgreSQL, Node.js, Chromium and fonts (apt), axe-core (npm ci in dev/browser) and MinIO (go install); idempotent
deps:
	@bash dev/scripts/deps.sh

## build: compile every module of the workspace
build:
	go build work

## vet: go vet every module
vet:
	go vet work

## test: install what is missing, vet, then run every module's tests with -race
test: deps vet vulncheck
	go test -race -count=1 -timeout $(TEST_TIMEOUT) work

## run: the whole pipeline on this machine (broker, MinIO, PostgreSQL, API, workers)
run: deps
	@mkdir -p .vidpipe/bin
	go build -o .vidpipe/bin/vidpipe-dev ./dev/cmd/vidpipe-dev
	@exec .vidpipe/bin/vidpipe-dev $(ARGS)

## bench: Go micro-benchmarks, then the benchmark driver (stage runtime, upload, transcode, end to end,
## scaling, memory, the segment pipeline: time to playable, chunk scaling, a crash mid-video;
## where short videos stop being cut; H.264, HEVC and AV1 at the same quality; dev/bench/cmd/vidpipe-bench), written to
## docs/benchmarks.md; about 30 minutes.
## BENCH_ARGS are passed to the driver, e.g. BENCH_ARGS='-only 1,5 -runs 1'.
BENCH_ARGS ?=
bench: deps
	@mkdir -p .vidpipe/bench
	go test -run '^$$' -bench . -benchmem -benchtime 200ms -count 1 ./contract/ ./platform/stage/ | tee .vidpipe/bench/micro.txt
	go run ./dev/bench/cmd/vidpipe-bench -micro .vidpipe/bench/micro.txt -command "make bench$(if $(BENCH_ARGS), BENCH_ARGS='$(BENCH_ARGS)')" $(BENCH_ARGS)

## fuzz: run each fuzz target for FUZZTIME (default 20s), minimising a new input for at most
## FUZZMINIMIZETIME (default 5s); seed corpora are in each package's testdata/fuzz/<Target>/
FUZZTIME ?= 20s
FUZZMINIMIZETIME ?= 5s
FUZZ_TARGETS := ./contract:FuzzDecode ./services/upload-api/sniff:FuzzDetect \
	./services/upload-api/server:FuzzUploadFields ./services/upload-api/server:FuzzTusMetadata \
	./services/upload-api/server:FuzzCleanHLSPath ./services/upload-api/server:FuzzRewritePlaylist
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz: $${t##*:} in $${t%%:*} for $(FUZZTIME)"; \
		go test -run '^$$' -fuzz "^$${t##*:}\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) "$${t%%:*}" || exit 1; \
	done

## vulncheck: govulncheck on every module against the Go vulnerability database, fetched as the
## golang.org/x/vulndb module through the module proxy (VULNDB_VERSION, default latest); see dev/scripts/vulncheck.sh
.PHONY: vulncheck
vulncheck: deps
	@bash dev/scripts/vulncheck.sh

## chaos: the chaos test in its long form (make test runs a short one): the whole stack as processes,
## CHAOS_VIDEOS good videos (default 60) and bad ones uploaded while CHAOS_ROUNDS rounds (default 3) of
## faults hit it (kill -9 and SIGTERM of workers mid-attempt, broker, MinIO and PostgreSQL restarts, kill -9 of the
## API between storing and announcing uploads); fails when its time budget runs out; prints a summary table.
## CHAOS_ARGS are passed to go test, e.g. CHAOS_ARGS='-count=3'; VIDPIPE_CHAOS_SEED replays the choices.
CHAOS_VIDEOS ?= 60
CHAOS_ROUNDS ?= 3
CHAOS_ARGS ?=
.PHONY: chaos
chaos: deps
	cd dev/e2e && VIDPIPE_CHAOS_VIDEOS=$(CHAOS_VIDEOS) VIDPIPE_CHAOS_ROUNDS=$(CHAOS_ROUNDS) \
		go test -race -count=1 -v -timeout 30m -run '^TestChaos$$' $(CHAOS_ARGS) .

## docs: regenerate docs/configuration.md from the services' Config types, and the status and
## stage enums of services/upload-api/server/openapi.yaml from the pipeline table (contract.DefaultPipeline)
.PHONY: docs
docs:
	go run ./deploy/cmd/configref
	go run ./deploy/cmd/apienums

## tidy: go mod tidy in every module
tidy:
	@for m in $(MODULES); do (cd $$m && go mod tidy) || exit 1; done

clean:
	rm -rf bin .vidpipe

## screenshots: start the dev stack, upload a few generated clips, and write PNGs of each page of the
## web app (signin, library, video, webhooks, ops, the library at 360 px, the video page in dark) to
## docs/screenshots/ with headless Chromium (dev/browser/cmd/vidpipe-screenshots); about 3 minutes
.PHONY: screenshots
screenshots: deps
	go run ./dev/browser/cmd/vidpipe-screenshots -out docs/screenshots

// Package deploy holds no production code: the module github.com/vidpipe/vidpipe/deploy
// is where vidpipe's deployment files are checked. It contains
//
//	Dockerfile            one multi-stage build: upload-api, vidpipectl, and two
//	                      generic worker targets (SERVICE=stage) for the stages
//	k8s/base              the Kustomize base (Deployments, KEDA ScaledObjects, ...)
//	cmd/healthcheck       the HTTP probe the shell-less images use for HEALTHCHECK
//	cmd/configref, cmd/apienums
//	                      make docs: the configuration reference, and openapi.yaml's
//	                      status and stage enums from the pipeline table (apienums)
//	dockerfile, manifest, keda, configkeys
//	                      the small readers the checks need
//
// and, in this package's tests, the checks themselves: docker-compose.yml
// (at the repository root) loads with compose-go, the library behind
// `docker compose`; every build context, Dockerfile and target exists;
// every Kubernetes manifest decodes strictly into its Go type; every
// VIDPIPE_* variable set anywhere is a key of the binary that receives it
// and the whole environment loads with that service's own loader; probes,
// ports, grace periods and the KEDA replica bounds agree with the
// configuration and the topics' partitions; every stage of the pipeline
// table (contract.DefaultPipeline) has each piece it needs in these files,
// a failure naming the stage, the piece and the file to edit; and the
// binaries the images ship, built and read with `go version -m`, link no
// dev or test tooling and no other service's module.
package deploy

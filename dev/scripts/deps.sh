#!/usr/bin/env bash
# Installs what vidpipe's tests and `make run` need on a fresh Debian machine
# with Go: ffmpeg/ffprobe and kcat (apt), PostgreSQL server binaries (apt),
# Node.js (apt, for the tus-js-client test), and a MinIO server and
# govulncheck built with `go install` at pinned versions. Idempotent and
# quiet when all is present.
set -euo pipefail

MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
GOBIN="$(go env GOPATH)/bin"

apt_pkgs=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || apt_pkgs+=(ffmpeg)
command -v kcat >/dev/null 2>&1 || apt_pkgs+=(kcat)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_pkgs+=(postgresql)
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_pkgs+=(nodejs npm)

if [ ${#apt_pkgs[@]} -gt 0 ]; then
	echo "deps: installing ${apt_pkgs[*]} with apt-get" >&2
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || { echo "deps: need root (or sudo) to apt-get install ${apt_pkgs[*]}" >&2; exit 1; }
		SUDO="sudo"
	fi
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
fi

have_minio() {
	local bin="$GOBIN/minio"
	[ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -q "github.com/minio/minio[[:space:]]*${MINIO_VERSION}"
}
if ! have_minio; then
	echo "deps: building MinIO ${MINIO_VERSION} with go install (about 2-3 minutes once)" >&2
	GOFLAGS=-buildvcs=false go install "github.com/minio/minio@${MINIO_VERSION}"
fi

# govulncheck (make vulncheck), pinned; dev/scripts/vulncheck.sh fetches its
# database through the module proxy.
GOVULNCHECK_VERSION="${GOVULNCHECK_VERSION:-v1.9.0}"
have_govulncheck() {
	local bin="$GOBIN/govulncheck"
	[ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -q "golang.org/x/vuln[[:space:]]*${GOVULNCHECK_VERSION}[[:space:]]"
}
if ! have_govulncheck; then
	echo "deps: installing govulncheck ${GOVULNCHECK_VERSION} with go install" >&2
	GOFLAGS=-buildvcs=false go install "golang.org/x/vuln/cmd/govulncheck@${GOVULNCHECK_VERSION}"
fi

for tool in ffmpeg ffprobe kcat node npm; do
	command -v "$tool" >/dev/null 2>&1 || { echo "deps: $tool still missing after install" >&2; exit 1; }
done
[ -x "$GOBIN/minio" ] || { echo "deps: minio missing at $GOBIN/minio" >&2; exit 1; }
have_govulncheck || { echo "deps: govulncheck ${GOVULNCHECK_VERSION} missing at $GOBIN/govulncheck" >&2; exit 1; }

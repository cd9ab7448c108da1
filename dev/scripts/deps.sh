#!/usr/bin/env bash
# Installs what vidpipe's tests and `make run` need on a fresh Debian machine
# with Go: ffmpeg/ffprobe and kcat (apt), PostgreSQL server binaries (apt),
# Node.js (apt, for the tus-js-client test), Chromium and fonts (apt, for
# the browser tests in dev/browser and make screenshots), axe-core (npm ci
# of dev/browser/package-lock.json), and a MinIO server and govulncheck
# built with `go install` at pinned versions. Idempotent and quiet when all
# is present.
set -euo pipefail

MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
GOBIN="$(go env GOPATH)/bin"

apt_pkgs=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || apt_pkgs+=(ffmpeg)
command -v kcat >/dev/null 2>&1 || apt_pkgs+=(kcat)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_pkgs+=(postgresql)
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_pkgs+=(nodejs npm)
[ -x /usr/bin/chromium ] || apt_pkgs+=(chromium)
[ -d /usr/share/fonts/truetype/dejavu ] || apt_pkgs+=(fonts-dejavu-core)

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

# axe-core for the browser tests, at the version of the committed lockfile.
BROWSER_DIR="$(cd "$(dirname "$0")/../browser" && pwd)"
have_axe() {
	local want got
	want="$(node -p "require('$BROWSER_DIR/package-lock.json').packages['node_modules/axe-core'].version")"
	got="$(node -p "require('$BROWSER_DIR/node_modules/axe-core/package.json').version" 2>/dev/null || true)"
	[ -n "$want" ] && [ "$want" = "$got" ]
}
if ! have_axe; then
	echo "deps: npm ci in dev/browser (axe-core)" >&2
	(cd "$BROWSER_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi

for tool in ffmpeg ffprobe kcat node npm chromium; do
	command -v "$tool" >/dev/null 2>&1 || { echo "deps: $tool still missing after install" >&2; exit 1; }
done
# The ffmpeg on PATH must have what transcode and thumbnail use (Debian's
# ffmpeg package does): a missing encoder or filter would otherwise show
# as failing tests or dead-lettered videos far from the cause.
encoders=$(ffmpeg -hide_banner -encoders 2>/dev/null)
filters=$(ffmpeg -hide_banner -filters 2>/dev/null)
for enc in libx264 libx265 libsvtav1 aac; do
	grep -qw "$enc" <<<"$encoders" || { echo "deps: $(command -v ffmpeg) has no $enc encoder (Debian's ffmpeg package has it)" >&2; exit 1; }
done
for f in zscale tonemap loudnorm ebur128 showwavespic ssim psnr; do
	grep -qw "$f" <<<"$filters" || { echo "deps: $(command -v ffmpeg) has no $f filter (Debian's ffmpeg package has it)" >&2; exit 1; }
done
[ -x "$GOBIN/minio" ] || { echo "deps: minio missing at $GOBIN/minio" >&2; exit 1; }
have_axe || { echo "deps: axe-core missing in $BROWSER_DIR/node_modules" >&2; exit 1; }
have_govulncheck || { echo "deps: govulncheck ${GOVULNCHECK_VERSION} missing at $GOBIN/govulncheck" >&2; exit 1; }

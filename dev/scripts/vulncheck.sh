#!/usr/bin/env bash
# Runs govulncheck on every module of the workspace (go.work) against a
# local copy of the Go vulnerability database, built by dev/vulndb from
# the golang.org/x/vulndb module that the Go module proxy serves (so
# vuln.go.dev need not be reachable; the module is checked against the
# checksum database like any other).
#
# - The database is golang.org/x/vulndb@$VULNDB_VERSION (default: latest),
#   cached in $VULNDB_DIR/<version> (default: .cache/vulndb); its date is
#   printed (it is the commit time of that vulndb version).
# - The converter's own tests run first. Then a canary module that calls
#   a function with a known vulnerability (GO-2022-1059 in
#   golang.org/x/text v0.3.7) must be reported: an empty or broken
#   database cannot pass as "no vulnerabilities".
# - Each module is scanned on its own (GOWORK=off, its own go.mod and
#   go.sum, as release builds use them) with the go toolchain the build
#   uses, so vulnerabilities of the standard library count: a fixed Go
#   release is the fix for those.
# Exit status: 0 when every module is clean, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"

GOVULNCHECK="$(go env GOPATH)/bin/govulncheck"
[ -x "$GOVULNCHECK" ] || { echo "vulncheck: $GOVULNCHECK missing (make deps installs it)" >&2; exit 1; }

# The converter is not a workspace module: its tests run here.
(cd dev/vulndb && GOWORK=off go test -count=1 . >/dev/null) || { echo "vulncheck: dev/vulndb tests failed" >&2; exit 1; }
db="$(cd dev/vulndb && GOWORK=off go run . -version "${VULNDB_VERSION:-latest}" -out "${VULNDB_DIR:-$root/.cache/vulndb}")"
"$GOVULNCHECK" -db "file://$db" -version | sed -n 's/^\(..*\)$/vulncheck: \1/p'

set +e
canary="$(cd dev/vulndb/testdata/canary && GOWORK=off "$GOVULNCHECK" -db "file://$db" ./... 2>&1)"
rc=$?
set -e
if [ "$rc" -ne 3 ] || ! grep -q 'GO-2022-1059' <<<"$canary"; then
	echo "vulncheck: the database did not report GO-2022-1059 in the canary module (exit $rc); not trusting it:" >&2
	echo "$canary" >&2
	exit 1
fi

failed=()
for dir in $(go list -m -f '{{.Dir}}'); do
	mod="${dir#"$root"/}"
	echo "vulncheck: $mod"
	if ! (cd "$dir" && GOWORK=off "$GOVULNCHECK" -db "file://$db" ./...); then
		failed+=("$mod")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "vulncheck: vulnerable code is reachable in: ${failed[*]}" >&2
	exit 1
fi
echo "vulncheck: no reachable vulnerabilities in any module"
